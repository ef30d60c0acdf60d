"""The sandbox console: one page, two panes (a family's phone, a staff member's Slack), live.

``GET /`` is the page; ``GET /console/panes`` the panes as server-rendered HTML;
``GET /console/events`` a server-sent event stream that says when anything changed;
``POST /console/action`` what a person does (it becomes the request the platform would send).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.sandbox.actors import ActionFailed
from bot.sandbox.console_slack import modal_html, slack_html
from bot.sandbox.console_views import (
    FamilyView,
    StaffView,
    activity_html,
    clock_html,
    intro_html,
    page_html,
    phone_html,
)
from bot.sandbox.emulators import COORDINATORS
from storage.messages import ActivityRow
from storage.models import Practice
from storage.record import Record

if TYPE_CHECKING:
    from bot.sandbox.runtime import Sandbox

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
NOTES_SHOWN = 4
#: Messages in and out the activity pane lists, newest first.
ACTIVITY_SHOWN = 25


class Console:
    """What the console reads from the record and the emulators, and the actions it takes."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    # -- reading ------------------------------------------------------------------------------

    async def families(self) -> list[FamilyView]:
        async with self.sandbox.db.read() as conn:
            record = Record(conn)
            found = []
            for guardian_id in sorted(await record.people.guardian_ids()):
                guardian = await record.people.guardian(guardian_id)
                if guardian is None:
                    continue
                children = await record.people.children(guardian_id)
                identities = await record.identities.for_guardian(guardian_id)
                found.append(
                    FamilyView(
                        id=guardian.id,
                        first_name=guardian.first_name,
                        last_name=guardian.last_name,
                        language=guardian.language,
                        phone=guardian.phone,
                        sms_consent=guardian.sms_consent,
                        children=tuple((c.first_name, c.date_of_birth) for c in children),
                        telegram_linked=any(
                            i.channel == "telegram" and i.verified_at and not i.opted_out_at
                            for i in identities
                        ),
                        sms_opted_out=any(
                            i.channel == "sms" and i.opted_out_at for i in identities
                        ),
                    )
                )
        return sorted(found, key=lambda f: (f.first_name, f.last_name))

    async def staff(self) -> list[StaffView]:
        async with self.sandbox.db.read() as conn:
            everyone = await Record(conn).staff.everyone()
        return [
            StaffView(s.slack_user_id, s.name, s.role, s.discipline, s.language)
            for s in everyone
            if s.slack_user_id
        ]

    async def practice(self) -> tuple[str, str]:
        practice = await self.the_practice()
        return practice.name, practice.timezone

    async def the_practice(self) -> Practice:
        async with self.sandbox.db.read() as conn:
            practice = await Record(conn).practice.get()
        assert practice is not None, "the sandbox always has the demo practice"
        return practice

    async def activity(self) -> list[ActivityRow]:
        async with self.sandbox.db.read() as conn:
            return await Record(conn).messages.latest(ACTIVITY_SHOWN)

    async def choose(
        self, params: dict[str, str]
    ) -> tuple[list[FamilyView], FamilyView, str, list[StaffView], StaffView]:
        families, staff = await self.families(), await self.staff()
        family = next((f for f in families if f.id == params.get("family")), families[0])
        channel = params.get("channel") if params.get("channel") in ("telegram", "sms") else None
        if channel is None:
            channel = "sms" if family.sms_consent and family.phone else "telegram"
        person = next(
            (s for s in staff if s.slack_id == params.get("staff")),
            next((s for s in staff if s.sees_coordination), staff[0]),
        )
        return families, family, channel, staff, person

    async def panes(self, params: dict[str, str]) -> dict[str, Any]:
        families, family, channel, staff, person = await self.choose(params)
        practice = await self.the_practice()
        timezone = practice.timezone
        sandbox = self.sandbox
        slack = sandbox.fakes.slack
        names = {s.slack_id: s.name for s in staff}
        coordination = [(m, slack.thread(m.channel, m.ts)) for m in slack.messages(COORDINATORS)]
        notes = [
            e for e in [*slack.ephemerals, *slack.responses]
            if (e.get("user") or e.get("_user")) == person.slack_id
        ][-NOTES_SHOWN:]  # fmt: skip
        view = sandbox.staff.open_view(person.slack_id)
        return {
            "version": sandbox.changes.version,
            "family": family.id,
            "channel": channel,
            "staff": person.slack_id,
            "clock": clock_html(sandbox.clock.now(), timezone, sandbox.last_clock_note),
            "phone": phone_html(
                family,
                channel,
                sandbox.phones.telegram_chat(family.id),
                sandbox.phones.sms_thread(family.phone or ""),
                sandbox.fakes.telegram.bot_id,
                {m.sid for m in sandbox.fakes.twilio.sent if m.status == "delivered"},
                timezone,
            ),
            "slack": slack_html(
                person,
                names,
                coordination,
                slack.messages(person.slack_id),
                notes,
                slack.home.get(person.slack_id),
                COORDINATORS,
                timezone,
            ),
            "modal": modal_html(view, names),
            "intro": intro_html(sandbox.clock.now(), practice),
            "activity": activity_html(await self.activity(), timezone, names),
            "modal_id": view["id"] if view else "",
        }

    # -- acting -------------------------------------------------------------------------------

    async def act(self, action: dict[str, Any]) -> dict[str, Any]:
        """Do what a person did; returns ``{"ok": true}`` or field errors for a form."""
        kind = str(action.get("action", ""))
        params = {k: str(v) for k, v in action.items() if isinstance(v, str | int)}
        _, family, channel, _, person = await self.choose(params)
        sandbox = self.sandbox
        if kind == "clock":
            step = params.get("step", "")
            if step == "next":
                await sandbox.next_reminders()
            elif step in STEPS:
                await sandbox.move_clock(STEPS[step])
            else:
                raise ActionFailed(f"unknown clock step {step!r}")
            return {"ok": True, "note": sandbox.last_clock_note}
        if kind == "phone-send":
            text = params.get("text", "").strip()
            if not text:
                raise ActionFailed("type a message first")
            if channel == "telegram":
                sandbox.phones.telegram_send(family.id, family.first_name, family.language, text)
            else:
                if not family.phone:
                    raise ActionFailed(f"{family.first_name} has no phone number in the record")
                await sandbox.phones.sms_send(family.phone, text)
            return {"ok": True}
        if kind == "phone-press":
            try:
                message_id = int(params.get("message", ""))
            except ValueError:
                raise ActionFailed("that button is not on a message") from None
            sandbox.phones.telegram_press(
                family.id, family.first_name, family.language, message_id, params.get("data", "")
            )
            return {"ok": True}
        if kind == "phone-link":
            link = await sandbox.carebot.create_invite(family.id)
            token = link.partition("?start=")[2]
            # Opening the invite link in Telegram sends the bot "/start <token>".
            sandbox.phones.telegram_send(
                family.id, family.first_name, family.language, f"/start {token}"
            )
            return {"ok": True, "note": link}
        if kind == "slack-command":
            text = params.get("text", "").strip()
            await sandbox.staff.command(person.slack_id, text or "help")
            return {"ok": True}
        if kind == "slack-press":
            await sandbox.staff.press(
                person.slack_id,
                params.get("action_id", ""),
                params.get("value", ""),
                params.get("conversation") or None,
                params.get("ts") or None,
            )
            return {"ok": True}
        if kind == "slack-reply":
            await sandbox.staff.reply(
                person.slack_id, params.get("conversation", ""), params.get("ts", ""),
                params.get("text", ""),
            )  # fmt: skip
            return {"ok": True}
        if kind == "slack-home":
            await sandbox.staff.open_home(person.slack_id)
            return {"ok": True}
        if kind == "slack-close":
            sandbox.staff.close_view(person.slack_id, params.get("view", ""))
            sandbox.changes.bump()
            return {"ok": True}
        if kind == "slack-submit":
            values = action.get("values")
            if not isinstance(values, dict):
                raise ActionFailed("the form sent no values")
            clean = {
                str(k): [str(x) for x in v] if isinstance(v, list) else str(v)
                for k, v in values.items()
                if v not in ("", [])
            }
            errors = await sandbox.staff.submit(person.slack_id, params.get("view", ""), clean)
            sandbox.changes.bump()
            return {"ok": not errors, "errors": errors}
        raise ActionFailed(f"unknown action {kind!r}")


def console_routes(sandbox: Sandbox) -> list[Route | Mount]:
    console = Console(sandbox)

    async def page(request: Request) -> Response:
        families, family, channel, staff, person = await console.choose(dict(request.query_params))
        name, _ = await console.practice()
        return HTMLResponse(page_html(name, families, staff, family, channel, person))

    async def panes(request: Request) -> Response:
        return JSONResponse(await console.panes(dict(request.query_params)))

    async def events(request: Request) -> Response:
        async def stream() -> Any:
            seen = -1
            yield "retry: 1000\n\n"
            while True:
                version = await sandbox.changes.after(seen, timeout=15)
                if version is None:  # the sandbox is closing
                    return
                if version != seen:
                    seen = version
                    yield f"data: {version}\n\n"
                else:
                    yield ": still here\n\n"

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    async def action(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError:
            return JSONResponse({"ok": False, "error": "the console sent bad JSON"}, 400)
        try:
            return JSONResponse(await console.act(body))
        except (ActionFailed, LookupError, ValueError) as problem:
            return JSONResponse({"ok": False, "error": str(problem)}, 422)
        except Exception:  # noqa: BLE001 - the console says so instead of hanging
            log.exception("sandbox console action %s failed", body.get("action"))
            return JSONResponse({"ok": False, "error": "that failed; see the terminal"}, 500)

    return [
        Route("/", page, methods=["GET"]),
        Route("/console/panes", panes, methods=["GET"]),
        Route("/console/events", events, methods=["GET"]),
        Route("/console/action", action, methods=["POST"]),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
    ]
