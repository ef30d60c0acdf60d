"""The local sandbox: the whole bot, with the demo practice, against the three emulators.

:func:`open_sandbox` binds the console's address first (so its first words can say where it
is), then loads the demo practice into its own SQLite file, starts the emulators, and runs the
real :class:`~bot.app.CareBot` against them: Telegram by long polling, Slack and SMS through
signed webhooks to this same server. The console (``bot.sandbox.console``) is served beside the
bot's endpoints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

import httpx
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.app import CareBot
from bot.lifecycle import running
from bot.sandbox.actors import FamilyPhones, SlackUsers
from bot.sandbox.emulators import Emulators, emulators
from bot.sandbox.server import serve_app
from bot.scheduler import wake_dispatcher
from handlers.records.demo import STAFF, load_demo
from storage.clock import MovableClock
from storage.db import Database
from storage.record import Record

DEFAULT_DATABASE = "carebot-sandbox.db"


class SandboxClock(Protocol):
    """A clock the console can move forward (MovableClock; FakeClock in tests)."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...

    def advance(self, delta: timedelta) -> None: ...


class Changes:
    """A version number that goes up whenever something a person would see changes."""

    def __init__(self) -> None:
        self.version = 0
        self.closed = False
        self._event = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        self._event.set()
        self._event = asyncio.Event()

    def close(self) -> None:
        self.closed = True
        self.bump()

    async def after(self, seen: int, timeout: float) -> int | None:  # noqa: ASYNC109
        """The version once it differs from ``seen`` (or after ``timeout`` seconds); None once
        closed."""
        if self.version == seen and not self.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._event.wait()
        return None if self.closed else self.version


class _Later:
    """An ASGI app that answers 503 until the real one is ready (the port is bound first)."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "http":
            await PlainTextResponse("the sandbox is starting", status_code=503)(
                scope, receive, send
            )


@dataclass
class Sandbox:
    """A running sandbox: the bot, its record, the emulators and the people acting on them."""

    url: str
    carebot: CareBot
    db: Database
    fakes: Emulators
    clock: SandboxClock
    phones: FamilyPhones
    staff: SlackUsers
    changes: Changes
    clock_file: Path | None = None
    last_clock_note: str = ""
    _moving: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def move_clock(self, delta: timedelta) -> int:
        """Move the clock forward by ``delta`` and let the bot catch up; returns the number of
        messages that became due and were queued (reminders, reminders to staff)."""
        if delta <= timedelta(0):
            raise ValueError("the clock only moves forward")
        async with self._moving:
            self.clock.advance(delta)
            self._save_clock()
            queued = await wake_dispatcher(self.carebot)
        self.last_clock_note = _queued_note(queued)
        self.changes.bump()
        return queued

    async def next_reminders(self, max_jumps: int = 10) -> int:
        """Jump to the next moment a reminder is due and send it (skipping over a reminder the
        bot postpones, e.g. into quiet hours' end); returns the messages queued."""
        async with self._moving:
            queued = 0
            for _ in range(max_jumps):
                async with self.db.read() as conn:
                    due = await Record(conn).reminders.next_send_at()
                if due is None:
                    break
                if due > self.clock.now():
                    self.clock.advance(due - self.clock.now())
                queued = await wake_dispatcher(self.carebot)
                if queued:
                    break
            self._save_clock()
        self.last_clock_note = (
            _queued_note(queued) if queued or due is not None else "no reminders are waiting"
        )
        self.changes.bump()
        return queued

    def _save_clock(self) -> None:
        if self.clock_file is not None and isinstance(self.clock, MovableClock):
            seconds = int(self.clock.offset.total_seconds())
            self.clock_file.write_text(json.dumps({"offset_seconds": seconds}))


def _queued_note(queued: int) -> str:
    if not queued:
        return "nothing new was due"
    return f"{queued} message{'s' if queued != 1 else ''} became due and went out"


def read_clock(clock_file: Path) -> MovableClock:
    """The sandbox's clock as it was left (moved forward by the console), or the wall clock."""
    try:
        offset = int(json.loads(clock_file.read_text())["offset_seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        offset = 0
    return MovableClock(timedelta(seconds=offset))


def reset_files(database: Path) -> None:
    """Forget a sandbox: its database (with SQLite's side files) and its clock."""
    for suffix in ("", "-wal", "-shm", ".clock"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def open_sandbox(
    database: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: SandboxClock | None = None,
    reset: bool = False,
    on_listening: Callable[[str], None] | None = None,
) -> AsyncIterator[Sandbox]:
    """Run the sandbox for the duration of the ``async with``.

    Args:
        database: the sandbox's own SQLite file (never the practice's real record).
        host, port: where the console and the bot's endpoints listen (port 0: any free port).
        clock: the clock to run on (default: the wall clock, moved as the console last left it).
        reset: start again from the demo data.
        on_listening: called with the console's URL as soon as the port is bound.
    """
    from bot.sandbox.console import console_routes

    if reset:
        reset_files(database)
    clock_file = Path(f"{database}.clock")
    if clock is None:
        clock = read_clock(clock_file)
    later = _Later()
    async with serve_app(later, host=host, port=port, keep_alive=75) as url:
        if on_listening is not None:
            on_listening(url)
        db = await Database.open(database)
        try:
            async with db.read() as conn:
                fresh = await Record(conn).practice.get() is None
            if fresh:
                await load_demo(db, clock.now())
            async with emulators(clock) as fakes, httpx.AsyncClient(timeout=30) as http:
                for _, name, _, _, slack_id, _ in STAFF:
                    fakes.slack.add_user(slack_id, name)
                settings = fakes.settings(str(database), url)
                polling = settings.telegram.model_copy(update={"mode": "polling"})
                settings = settings.model_copy(update={"telegram": polling})
                changes = Changes()
                for fake in (fakes.telegram, fakes.slack, fakes.twilio):
                    fake.listeners.append(changes.bump)
                async with running(settings, db, clock) as bot:
                    sandbox = Sandbox(
                        url=url,
                        carebot=bot.carebot,
                        db=db,
                        fakes=fakes,
                        clock=clock,
                        phones=FamilyPhones(fakes, http, url),
                        staff=SlackUsers(fakes, http, url + "/slack/events"),
                        changes=changes,
                        clock_file=clock_file,
                    )
                    bot.web.router.routes.extend(console_routes(sandbox))
                    later.app = bot.web
                    try:
                        await wake_dispatcher(bot.carebot)
                        yield sandbox
                    finally:
                        later.app = None
                        changes.close()
                        await fakes.twilio.stop_reports()
        finally:
            await db.close()
