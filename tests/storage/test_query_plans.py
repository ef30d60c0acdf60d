"""Every hot query uses an index: the statements of the per-message, per-reminder and
per-request flows, each through SQLite's planner, none reading a growing table end to end.

The flows run through the whole bot (tests/channels/stacks.all_channels: Telegram, Slack and
SMS over real HTTP into the real pipeline, outbox, reminder dispatcher and staff watch), and
:func:`storage.query_plans.capture` records every statement both of the record's connections
run (sqlite3's trace callback hands it each statement with the values it ran with). Each
distinct statement (by shape: the same query with other values counts once) is then explained
on the test's own database, which has every migration, and a line that scans a table growing
with the practice fails the test, naming the flow, the statement and its plan. Allowed: scans of
the tables that stay small (storage.query_plans.TINY_TABLES: the practice, its settings, the
staff list, the migrations) and scans of a partial index, which read only the rows its WHERE
admits (queued messages, pending reminders, open escalations).

Statistics, decided: the plans are checked with no ``sqlite_stat1``, which is what a practice's
record has (carebot never runs ANALYZE). Without statistics SQLite's planner does not look at
how many rows a table holds at all: it assumes about a million rows per table and ten per index
key, so the plan of a statement is the same on this test's few rows as on a practice of 10,000
patients, and it is the plan production runs. Generating a few hundred rows and running ANALYZE
would instead make the planner cost tables of a few hundred rows, which is neither the test's
record nor the practice's. The test makes sure no statistics crept in (an ANALYZE or ``PRAGMA
optimize`` added to the bot would change what is being checked, and should come with its own
look at the plans: ``bench/read_paths.py --analyze`` prints them at a practice's size).

Not among the flows: a coordinator opening the handoff form, which lists every patient of the
practice (storage/staff.py ``all_patients``, read whole by design; Slack shows the first 100 of
them). It needs a type-ahead select rather than an index.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox import slack_signing as slack
from bot.sandbox.fake_twilio import signed_form
from bot.sandbox.slack_fake import Posted
from bot.sandbox.twilio_forms import inbound_form, status_form
from storage.clock import FakeClock
from storage.models import Guardian
from storage.query_plans import Captured, Schema, capture, explain, full_scans
from storage.record import Record
from tests.channels.conftest import SECRET
from tests.channels.stacks import COORDINATORS, PUBLIC, SLACK_SIGNING, SMS_FROM, AllChannels
from tests.channels.stacks import all_channels as live_bot

TEAM = "T0CAREBOT"
DANA, LEE, ROSA = "U1", "U2", "U9"
ANA_TG, CARMEN_TG = 1001, 1002
BEA_PHONE = "+15551230077"
TODAY_AM = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 11:00 in New York
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)  # Thursday 3:30 PM


class Flows:
    """The bot driven as families and staff use it, every request over HTTP."""

    def __init__(self, live: AllChannels, captured: Captured | None = None) -> None:
        self.live = live
        self.captured = captured
        self.clock = live.harness.clock
        self._sids = iter(range(1, 10_000))
        #: Invite tokens by Telegram user, made before the flows (``carebot invite``).
        self.invites: dict[int, str] = {}

    def flow(self, label: str) -> None:
        if self.captured is not None:
            self.captured.flow = label

    async def settle(self, before: int, count: int = 1) -> None:
        """Wait for ``count`` more events through the pipeline, then run outbox rounds."""
        pipeline = self.live.carebot.pipeline
        async with asyncio.timeout(5):
            await pipeline.wait_handled(before + count)
        await self.deliver()

    async def deliver(self) -> None:
        for _round in range(10):
            await self.live.carebot.outbox.deliver_due()
            if not self.queued_now():
                return
            self.clock.advance(timedelta(seconds=1))

    def queued_now(self) -> int:
        """Messages due in the outbox, read on a connection of the test's own (so that this
        question is not among the bot's statements)."""
        with contextlib.closing(sqlite3.connect(self.live.carebot.db.path)) as conn:
            return conn.execute(
                "SELECT COUNT(*) FROM message WHERE status = 'queued' AND not_before <= ?",
                (self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),),
            ).fetchone()[0]

    async def telegram(self, update: dict[str, Any]) -> None:
        before = self.live.carebot.pipeline.handled
        response = await self.live.client.post(
            "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        assert response.status_code == 200, response.text
        await self.settle(before)

    async def says(self, user: int, text: str) -> None:
        await self.telegram(self.live.telegram.message_update(user, text))

    async def presses(self, user: int, label: str) -> None:
        [message] = [m for m in self.live.telegram.sent_messages(user) if "reply_markup" in m][-1:]
        rows = message["reply_markup"]["inline_keyboard"]
        data = next(b["callback_data"] for row in rows for b in row if b["text"].startswith(label))
        await self.telegram(self.live.telegram.callback_update(user, data))

    def texts_to(self, user: int) -> list[str]:
        return [m["text"] for m in self.live.telegram.sent_messages(user)]

    async def twilio(self, path: str, params: dict[str, str]) -> None:
        body, headers = signed_form(self.live.twilio.auth_token, PUBLIC + path, params)
        response = await self.live.client.post(path, content=body, headers=headers)
        assert response.status_code == 200, response.text

    async def texts(self, body: str) -> None:
        before = self.live.carebot.pipeline.handled
        params = inbound_form(
            account_sid=self.live.twilio.account_sid,
            from_=BEA_PHONE,
            to=SMS_FROM,
            body=body,
            message_sid=f"SMin{next(self._sids):06d}",
        )
        await self.twilio("/sms/twilio", params)
        await self.settle(before)

    async def status(self, sid: str, state: str) -> None:
        params = status_form(
            account_sid=self.live.twilio.account_sid,
            message_sid=sid,
            from_=SMS_FROM,
            to=BEA_PHONE,
            status=state,
        )
        await self.twilio("/sms/twilio/status", params)

    async def slack(self, request: tuple[bytes, dict[str, str]]) -> None:
        before = self.live.carebot.pipeline.handled
        body, headers = request
        response = await self.live.client.post("/slack/events", content=body, headers=headers)
        assert response.status_code == 200, response.text
        await self.settle(before)

    async def command(self, user: str, text: str) -> None:
        url = self.live.slack.response_url(f"{user}-{time.monotonic_ns()}")
        await self.slack(
            slack.slash_command(
                SLACK_SIGNING, team_id=TEAM, user_id=user, text=text, response_url=url
            )
        )

    async def staff_presses(self, user: str, message: Posted, label: str) -> None:
        button = message.buttons()[label]
        await self.slack(
            slack.block_action(
                SLACK_SIGNING,
                team_id=TEAM,
                user_id=user,
                action_id=button["action_id"],
                value=button["value"],
                channel_id=message.channel,
                message_ts=message.ts,
                response_url=self.live.slack.response_url(f"{user}-{time.monotonic_ns()}"),
            )
        )

    async def thread_reply(self, user: str, root: Posted, text: str) -> None:
        await self.slack(
            slack.message_event(
                SLACK_SIGNING,
                team_id=TEAM,
                user_id=user,
                channel=root.channel,
                text=text,
                thread_ts=root.ts,
            )
        )

    async def form(self, user: str, command: str) -> dict[str, Any]:
        """Open a form with a command; the view Slack was asked to open."""
        opened = len(self.live.slack.views_opened)
        await self.command(user, command)
        await self.live.slack.wait_for_calls("views.open", opened + 1)
        return self.live.slack.views_opened[opened]

    async def submit(self, user: str, view: dict[str, Any], values: dict[str, Any]) -> None:
        await self.slack(
            slack.view_submission(
                SLACK_SIGNING, team_id=TEAM, user_id=user, view=view, values=values
            )
        )

    async def home(self, user: str) -> None:
        await self.slack(slack.app_home_opened(SLACK_SIGNING, team_id=TEAM, user_id=user))


async def seed(live: AllChannels) -> None:
    """Two Telegram families (one with two children), a family on SMS, two clinicians and a
    coordinator, visits today and later this week (planned reminders)."""
    h = live.harness
    await h.family("g-ana", "Ana", [("p-maya", "Maya", "2019-03-14")])
    await h.family(
        "g-carmen",
        "Carmen",
        [("p-leo", "Leo", "2017-05-02"), ("p-sofia", "Sofía", "2020-11-09")],
        language="es",
    )
    await h.family("g-bea", "Bea", [("p-nico", "Nico", "2018-01-20")])
    async with h.db.transaction() as conn:
        await Record(conn).people.save_guardian(
            Guardian(
                id="g-bea",
                first_name="Bea",
                last_name="Rivera",
                phone=BEA_PHONE,
                language="en",
                sms_consent=True,
                timezone=None,
            ),
            h.clock.now(),
        )
    await h.add_staff("s-1", "Dana Brooks", "clinician", DANA, ("p-maya", "p-nico"))
    await h.add_staff("s-2", "Lee Park", "clinician", LEE, ("p-leo", "p-sofia"))
    await h.add_staff("s-9", "Rosa Díaz", "coordinator", ROSA)
    await h.appointment("a-maya-today", "p-maya", TODAY_AM)
    await h.appointment("a-leo-today", "p-leo", TODAY_AM + timedelta(hours=1), "s-2")
    await h.appointment("a-maya", "p-maya", VISIT)
    await h.appointment("a-leo", "p-leo", VISIT + timedelta(hours=1), "s-2")
    await h.appointment("a-sofia", "p-sofia", VISIT + timedelta(hours=2), "s-2")
    await h.appointment("a-nico", "p-nico", VISIT - timedelta(hours=1))
    await h.appointment("a-maya-next", "p-maya", VISIT + timedelta(days=7))


async def run_flows(f: Flows) -> None:
    """Each flow the issue names, in the order a practice's day has them."""
    live = f.live
    f.flow("a family links Telegram (an invite, then the date of birth)")
    for user, birth in ((ANA_TG, "03/14/2019"), (CARMEN_TG, "02/05/2017")):
        await f.says(user, f"/start {f.invites[user]}")
        await f.says(user, birth)
        assert "all set" in f.texts_to(user)[-1] or "listo" in f.texts_to(user)[-1]

    f.flow("reminders dispatched (planning, what is due, queueing)")
    f.clock.set(VISIT - timedelta(hours=70))
    await live.carebot.reminders.run_due()
    f.flow("an outbox round")
    await f.deliver()
    assert any("Maya" in t for t in f.texts_to(ANA_TG))
    assert any("Nico" in body for body in live.twilio.to(BEA_PHONE))

    f.flow("a Twilio status callback")
    sent = [m for m in live.twilio.sent if m.to == BEA_PHONE]
    await f.status(sent[-1].sid, "sent")
    await f.status(sent[-1].sid, "delivered")

    f.flow("a button press (Telegram Confirm)")
    await f.presses(ANA_TG, "Confirm")
    f.flow("a button press (a household's two children, one row each)")
    await f.presses(CARMEN_TG, "Confirmar")
    f.flow("a button press: cancel, then the reason")
    await f.presses(CARMEN_TG, "Cancelar")
    await f.presses(CARMEN_TG, "Enfermedad")
    assert (await live.harness.appointment_row("a-leo")).status == "cancelled"
    f.flow("a numbered answer by text (1)")
    await f.texts("1")

    f.flow("/next (a family's upcoming visits)")
    await f.says(ANA_TG, "/next")
    await f.says(CARMEN_TG, "/next")
    await f.texts("NEXT")
    assert "upcoming" in f.texts_to(ANA_TG)[-1]

    f.flow("a family's text, escalated to a person")
    await f.says(ANA_TG, "Can Maya bring her own snack?")
    [root] = live.slack.messages(COORDINATORS)[-1:]
    assert "escalation #" in root.text
    f.flow("an escalation claimed")
    await f.staff_presses(ROSA, root, "Claim")
    f.flow("an escalation answered in its thread")
    await f.thread_reply(ROSA, root, "Yes, of course.")
    assert f.texts_to(ANA_TG)[-1].endswith("Yes, of course.")
    f.flow("the family writes again in the escalation")
    await f.says(ANA_TG, "Thanks!")
    f.flow("a family's text by SMS, escalated")
    await f.texts("Is the parking lot open?")

    f.flow("a clinician's update through its form")
    view = await f.form(DANA, "update")
    await f.submit(DANA, view, {"patient": "p-maya", "text": "Maya read!", "audience": "family"})
    assert f.texts_to(ANA_TG)[-1].endswith("Maya read!")
    f.flow("a handoff through its form")
    view = await f.form(DANA, "handoff")
    await f.submit(
        DANA,
        view,
        {
            "patient": "p-nico",
            "to": "s-2",
            "summary": "Working on /s/",
            "open_items": "",
            "effective": "2026-11-30",
            "tell_family": ["yes"],
        },
    )

    f.flow("/carebot today as a clinician")
    await f.command(DANA, "today")
    f.flow("/carebot today as a coordinator")
    await f.command(ROSA, "today")
    f.flow("/carebot patient Maya")
    await f.command(DANA, "patient Maya")
    await f.command(ROSA, "patient maya rivera")
    f.flow("/carebot patient by id")
    await f.command(ROSA, "patient p-maya")
    f.flow("/carebot patient, the beginning of a name")
    await f.command(DANA, "patient ma")
    await f.command(ROSA, "patient Riv")
    f.flow("the Home tab")
    await f.home(ROSA)
    await f.home(DANA)
    await f.home(LEE)
    f.flow("a handoff acknowledged")
    [dm] = [m for m in live.slack.messages(LEE) if "Handoff" in m.text]
    await f.staff_presses(LEE, dm, "Acknowledge")
    f.flow("the staff watch (raising what waited too long)")
    f.clock.advance(timedelta(hours=2))
    await live.carebot.watch.run_due()
    f.flow("an escalation resolved")
    await f.staff_presses(ROSA, root, "Resolve")
    f.flow("STOP and START by text")
    await f.texts("STOP")
    await f.texts("START")


async def test_every_hot_query_uses_an_index(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "carebot.db"
    async with live_bot(path, clock) as live:
        await seed(live)
        flows = Flows(live)
        flows.invites = {
            ANA_TG: await live.harness.invite("g-ana"),
            CARMEN_TG: await live.harness.invite("g-carmen"),
        }
        async with capture(live.carebot.db) as captured:
            flows.captured = captured
            await run_flows(flows)
    statements = captured.distinct()
    assert len(statements) > 80, "the flows ran fewer statements than they should"

    conn = sqlite3.connect(path)
    try:
        stats = conn.execute(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).fetchone()[0]
        assert stats == 0, "the record has statistics now: see this test's docstring"
        schema = Schema.of(conn)
        problems = []
        for flow, sql in statements.values():
            plan = explain(conn, sql)
            scans = full_scans(sql, plan, schema)
            if scans:
                problems.append(
                    f"[{flow}]\n  {sql}\n  plan:\n" + "\n".join(f"    {p}" for p in plan)
                )
    finally:
        conn.close()
    if problems:
        pytest.fail(
            f"{len(problems)} statements scan a table that grows with the practice:\n\n"
            + "\n\n".join(problems),
            pytrace=False,
        )


def test_the_check_sees_a_scan_and_allows_what_is_bounded() -> None:
    """The checker itself: a scan of a growing table is caught (also by its alias, and as an
    automatic index); a tiny table's scan and a partial index's are not."""
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        "CREATE TABLE patient (id TEXT PRIMARY KEY, first_name TEXT);"
        "CREATE TABLE staff (id TEXT PRIMARY KEY, name TEXT);"
        "CREATE TABLE message (id INTEGER PRIMARY KEY, status TEXT, address TEXT);"
        "CREATE INDEX message_queued ON message (address) WHERE status = 'queued';"
    )
    schema = Schema.of(conn)

    def scans(sql: str) -> list[str]:
        return full_scans(sql, explain(conn, sql), schema)

    assert scans("SELECT * FROM patient WHERE first_name = 'Maya'") == ["SCAN patient"]
    assert scans("SELECT * FROM patient p WHERE lower(p.id) = 'x'") == ["SCAN p"]
    assert (
        scans("SELECT * FROM staff s JOIN message m ON m.address = s.id WHERE s.name = 'x'") != []
    )
    assert scans("SELECT * FROM patient WHERE id = 'p-1'") == []
    assert scans("SELECT * FROM staff ORDER BY name") == []
    assert scans("SELECT address FROM message WHERE status = 'queued'") == []
    conn.close()
