"""The whole bot, live, in a thread of its own: for synchronous tests (hypothesis) over real HTTP.

The thread runs one event loop with the production bot (Telegram, Slack and SMS configured)
against the fake Bot API, the fake Slack Web API and the fake Twilio, each served by uvicorn on
a free port, and the bot's own Starlette app served the same way. The test talks to it with a
plain ``httpx.Client`` and reads the record with its own ``sqlite3`` connection (WAL lets a
reader in beside the bot's writer).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bot.config import HttpSettings
from bot.sandbox.fake_twilio import FakeTwilio
from storage.clock import FakeClock
from tests.channels import stacks
from tests.harness import Harness

T = TypeVar("T")

PUBLIC = stacks.PUBLIC
TELEGRAM_SECRET = stacks.SECRET
SLACK_SIGNING = stacks.SLACK_SIGNING
TWILIO_ACCOUNT = "AC5e1f7a93c2d84b06a9e3f1c7b2d0a846"
TWILIO_TOKEN = "twilio-auth-token-for-tests"
COORDINATORS = stacks.COORDINATORS
SMS_FROM = stacks.SMS_FROM
#: A guardian who texts (consent given), a linked Telegram user and a Slack coordinator, with
#: the ids the recorded fixtures in tests/fixtures/ use, so mutated fixtures reach real people.
GUARDIAN_PHONE = "+15035550123"
TELEGRAM_USER = 6123456789
SLACK_USER = "U05RGR7UFT6"
MAX_BODY_BYTES = 16384
#: A Monday morning in the practice's timezone (business hours: escalations go to a person).
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
#: How long the bot may take to finish what a request started (Slack works after its ack).
SETTLE_SECONDS = 10.0


@dataclass
class LiveBot:
    """Start with :meth:`start`, stop with :meth:`stop`; ``url`` is the bot's root."""

    directory: Path
    url: str = ""
    db_path: Path = field(init=False)
    slack_root: str = ""

    def __post_init__(self) -> None:
        self.db_path = self.directory / "carebot.db"
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._baseline: set[asyncio.Task[Any]] = set()
        self._thread = threading.Thread(target=self._run, name="live-bot", daemon=True)

    # -- from the test's thread --------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError("the live bot did not start in time")
        if self._failure is not None:
            raise RuntimeError("the live bot failed to start") from self._failure

    def stop(self, timeout: float = 60.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError("the live bot did not stop in time")
        if self._failure is not None:
            raise RuntimeError("the live bot failed") from self._failure

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = 30.0) -> T:
        """Run a coroutine on the bot's loop and wait for its result."""
        assert self._loop is not None

        async def run() -> T:
            return await make()

        future: Future[T] = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(timeout)

    def settle(self) -> None:
        """Wait until every task started since the bot came up has finished (a Slack listener
        works after its request was answered; its writes land before this returns)."""
        self.call(self._settle, timeout=SETTLE_SECONDS + 5)

    def connect_record(self) -> sqlite3.Connection:
        """A read-only connection to the bot's record (autocommit: each query sees the latest
        commit)."""
        return sqlite3.connect(
            f"file:{self.db_path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
        )

    # -- on the bot's thread -----------------------------------------------------------------

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:  # noqa: BLE001 - handed to the test's thread
            self._failure = error
        finally:
            self._ready.set()

    async def _settle(self) -> None:
        me = asyncio.current_task()
        async with asyncio.timeout(SETTLE_SECONDS):
            while True:
                pending = {
                    t for t in asyncio.all_tasks() if t is not me and t not in self._baseline
                }
                if not pending:
                    return
                await asyncio.wait(pending)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        clock = FakeClock(START)
        twilio = FakeTwilio(account_sid=TWILIO_ACCOUNT, auth_token=TWILIO_TOKEN)
        http = HttpSettings(max_body_bytes=MAX_BODY_BYTES)
        async with stacks.all_channels(self.db_path, clock, twilio, http=http) as stack:
            self.slack_root = stack.slack.root
            await self._seed(stack.harness)
            self.url = stack.root
            self._baseline = set(asyncio.all_tasks())
            self._ready.set()
            await self._stop.wait()

    async def _seed(self, harness: Harness) -> None:
        await harness.family("g-ana", "Ana", [("p-maya", "Maya", "2019-03-14")])
        await harness.add_staff("s-9", "Rosa Díaz", "coordinator", SLACK_USER)
        await harness.link("g-ana", f"telegram:{TELEGRAM_USER}", "03/14/2019")
        async with harness.db.transaction() as conn:
            await conn.execute(
                "UPDATE guardian SET phone = ?, sms_consent = 1 WHERE id = 'g-ana'",
                (GUARDIAN_PHONE,),
            )
