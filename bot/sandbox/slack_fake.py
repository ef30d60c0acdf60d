"""A local fake of the Slack Web API, for tests and the sandbox (port 0, every call recorded).

slack_sdk's clients talk to it over real HTTP (``AsyncWebClient(base_url=f"{root}/api/")``).
It keeps what a staff workspace shows: channel messages and their threads, direct messages,
ephemeral notes, opened modals, each user's Home tab, and replies sent to ``response_url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.clock import Clock, SystemClock

TEAM_ID = "T0CAREBOT"
BOT_USER = "U0CAREBOT"
JSON_FIELDS = ("blocks", "view", "attachments", "metadata", "users")


@dataclass
class SlackCall:
    """One recorded Web API call (or response_url post)."""

    method: str
    params: dict[str, Any]
    token: str | None


@dataclass
class Posted:
    """A message as the workspace shows it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    user: str | None = None
    #: When it was posted, by the fake's clock (the sandbox's own).
    at: datetime | None = None

    def buttons(self) -> dict[str, dict[str, Any]]:
        """The message's buttons by label: {"Claim": {"action_id": ..., "value": ...}}."""
        found = {}
        for block in self.blocks:
            for element in block.get("elements", []) if block.get("type") == "actions" else []:
                found[element["text"]["text"]] = element
        return found


@dataclass
class _Failure:
    status: int
    error: str
    retry_after: int | None


class FakeSlack:
    """The Web API methods carebot uses, with failure injection."""

    def __init__(
        self, token: str | None = None, team_id: str = TEAM_ID, clock: Clock | None = None
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self.token = token or "xoxb-fake-" + secrets.token_hex(8)
        self.app_token = "xapp-fake-" + secrets.token_hex(8)
        self.team_id = team_id
        self.users: dict[str, dict[str, Any]] = {}
        self.calls_made: list[SlackCall] = []
        self.posted: list[Posted] = []
        #: Every chat.update asked for, oldest first (the post itself shows the last one).
        self.updates: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.views_opened: list[dict[str, Any]] = []
        self.home: dict[str, dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._counts: Counter[str] = Counter()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._activity = asyncio.Condition()
        #: Called after anything a person would see changes (the sandbox console listens).
        self.listeners: list[Callable[[], None]] = []
        #: The trigger id each opened modal came from (the sandbox maps it to its user).
        self.view_triggers: dict[str, str] = {}
        self.root = ""  # set by whoever serves the app, for response_url links
        self.socket_url = ""  # set when a FakeSocketMode stands in for Slack's Socket Mode
        self.app = Starlette(
            routes=[
                Route("/api/{method}", self._endpoint, methods=["POST", "GET"]),
                Route("/respond/{key}", self._respond, methods=["POST"]),
            ]
        )

    # -- the workspace ---------------------------------------------------------------------

    def add_user(self, user_id: str, name: str, tz: str = "America/New_York") -> None:
        self.users[user_id] = {"id": user_id, "name": name, "real_name": name, "tz": tz}

    def response_url(self, key: str = "") -> str:
        return f"{self.root}/respond/{key or secrets.token_hex(6)}"

    def calls(self, method: str) -> list[SlackCall]:
        return [c for c in self.calls_made if c.method == method]

    def messages(self, channel: str) -> list[Posted]:
        """Top-level messages of a channel (or a user's DM, by user id), oldest first."""
        return [m for m in self.posted if m.channel == channel and m.thread_ts is None]

    def thread(self, channel: str, ts: str) -> list[Posted]:
        return [m for m in self.posted if m.channel == channel and m.thread_ts == ts]

    def notes_for(self, user: str) -> list[str]:
        """What one user was shown privately: ephemeral notes and response_url replies."""
        shown = [e["text"] for e in self.ephemerals if e.get("user") == user]
        return shown + [r.get("text", "") for r in self.responses if r.get("_user") == user]

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is the point of the helper
    ) -> list[SlackCall]:
        """Wait (without polling) until ``count`` calls of ``method`` were answered."""
        await self._wait(lambda: self._counts[method] >= count, timeout, f"{count} {method}")
        return self.calls(method)

    async def _wait(self, predicate: Callable[[], bool], seconds: float, what: str) -> None:
        try:
            async with asyncio.timeout(seconds), self._activity:
                await self._activity.wait_for(predicate)
        except TimeoutError:
            seen = [c.method for c in self.calls_made]
            raise TimeoutError(f"no {what} within {seconds}s; recorded: {seen}") from None

    def fail_next(
        self, method: str, *, status: int = 200, error: str = "", retry_after: int | None = None
    ) -> None:
        """The next call of ``method`` fails: ``status=429, retry_after=3`` is Slack's rate
        limit; ``error="channel_not_found"`` an API error; ``status=503`` a server error."""
        if status == 429 and not error:
            error = "ratelimited"
        self._failures.setdefault(method, []).append(_Failure(status, error, retry_after))

    # -- HTTP ------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        params = await _params(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() or params.pop("token", None)
        self.calls_made.append(SlackCall(method, params, token))
        try:
            failure = self._failures.get(method, [])
            if failure:
                failed = failure.pop(0)
                headers = {"Retry-After": str(failed.retry_after)} if failed.retry_after else {}
                return JSONResponse(
                    {"ok": False, "error": failed.error or "internal_error"},
                    status_code=failed.status,
                    headers=headers,
                )
            expected = self.app_token if method == "apps.connections.open" else self.token
            if token != expected:
                return JSONResponse({"ok": False, "error": "invalid_auth"})
            handler = _HANDLERS.get(method)
            if handler is None:
                return JSONResponse({"ok": False, "error": "unknown_method"})
            return JSONResponse(handler(self, params))
        finally:
            async with self._activity:
                self._counts[method] += 1
                self._activity.notify_all()
            self._changed()

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    def post_as_user(
        self, channel: str, user: str, text: str, thread_ts: str | None = None
    ) -> Posted:
        """A person's own message, as the workspace shows it (the event still has to be sent
        to the bot; see :func:`bot.sandbox.slack_signing.message_event`)."""
        message = Posted(channel, self._next_ts(), text, [], thread_ts, user, self._clock.now())
        self.posted.append(message)
        self._changed()
        return message

    async def _respond(self, request: Request) -> Response:
        body = json.loads(await request.body() or b"{}")
        body["_key"] = request.path_params["key"]
        body["_user"] = request.path_params["key"].split("-", 1)[0]
        self.responses.append(body)
        self.calls_made.append(SlackCall("response_url", body, None))
        async with self._activity:
            self._counts["response_url"] += 1
            self._activity.notify_all()
        self._changed()
        return Response("ok")

    def _next_ts(self) -> str:
        return f"1763900000.{next(self._ts):06d}"

    # -- methods ---------------------------------------------------------------------------

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://carebot-fake.slack.com/",
            "team": "Carebot Fake",
            "user": "carebot",
            "team_id": self.team_id,
            "user_id": BOT_USER,
            "bot_id": "B0CAREBOT",
        }

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        thread = params.get("thread_ts") or None
        if thread and not any(m.ts == thread and m.channel == channel for m in self.posted):
            return {"ok": False, "error": "thread_not_found"}
        message = Posted(
            channel, self._next_ts(), str(params.get("text") or ""), params.get("blocks") or [],
            thread, BOT_USER, self._clock.now(),
        )  # fmt: skip
        self.posted.append(message)
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "message": {"text": message.text, "ts": message.ts, "thread_ts": thread},
        }

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self.ephemerals.append(dict(params))
        return {"ok": True, "message_ts": self._next_ts()}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        self.updates.append(dict(params))
        for message in self.posted:
            if message.channel == params.get("channel") and message.ts == params.get("ts"):
                message.text = str(params.get("text") or message.text)
                message.blocks = params.get("blocks") or message.blocks
                return {"ok": True, "channel": message.channel, "ts": message.ts}
        return {"ok": False, "error": "message_not_found"}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = dict(params.get("view") or {})
        view["id"] = f"V{next(self._views):08d}"
        self.view_triggers[view["id"]] = str(params["trigger_id"])
        self.views_opened.append(view)
        return {"ok": True, "view": view}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        view = dict(params.get("view") or {})
        self.home[str(params.get("user_id"))] = view
        return {"ok": True, "view": view}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not self.socket_url:
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": self.socket_url}


_HANDLERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "chat.postMessage": FakeSlack._post_message,
    "chat.postEphemeral": FakeSlack._post_ephemeral,
    "chat.update": FakeSlack._update,
    "views.open": FakeSlack._views_open,
    "views.publish": FakeSlack._views_publish,
    "users.info": FakeSlack._users_info,
    "apps.connections.open": FakeSlack._connections_open,
}


async def _params(request: Request) -> dict[str, Any]:
    """Form or JSON bodies (slack_sdk sends both), with JSON-valued form fields decoded."""
    body = await request.body()
    params: dict[str, Any]
    if request.headers.get("content-type", "").startswith("application/json"):
        params = json.loads(body or b"{}")
    else:
        params = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        params.update({k: v[-1] for k, v in parse_qs(request.url.query).items()})
    for key in JSON_FIELDS:
        if isinstance(params.get(key), str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(params[key])
    return params
