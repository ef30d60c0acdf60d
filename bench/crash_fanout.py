"""Crash safety of delivery: a fan-out of thousands of messages while the real ``carebot run``
process is killed with SIGKILL again and again mid-send, then restarted; at the end, count what
reached the platform's fake.

    python bench/crash_fanout.py [--messages 3000] [--kills 100] [--in-flight 8]
                                 [--channel telegram|sms] [--latency-ms 20]

The fake (Telegram's Bot API or Twilio's Messages API, from bot/sandbox) runs in this process,
so it outlives every kill and counts every message it was handed. Each send is held for
``--latency-ms`` at the fake, so that sends are in flight when the kill comes (as they are
against the real platforms). Each kill comes after a random number of new sends.

Prints, and returns as a dict: lost (queued, never arrived), duplicated (extra copies that
arrived), flagged (rows marked ``recovery = 'resent'``), found (texts Twilio already had, not
sent again), the largest number of duplicates from one crash (the bound is ``--in-flight``),
whether every duplicate is a flagged row, PRAGMA integrity_check, and the time taken.
``tests/test_crash.py`` runs a short version of this in the suite.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import random
import socket
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.requests import ClientDisconnect  # noqa: E402
from starlette.types import ASGIApp, Receive, Scope, Send  # noqa: E402

from bot.sandbox.fake_telegram import FakeTelegram  # noqa: E402
from bot.sandbox.fake_twilio import FakeTwilio  # noqa: E402
from bot.sandbox.server import serve_app  # noqa: E402
from storage.clock import SystemClock  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.record import Record  # noqa: E402

PUBLIC = "https://carebot.example.org"
FROM = "+15550100000"


class Slow:
    """ASGI middleware: every POST that sends a message is held ``seconds`` at the fake."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and (path.endswith("/sendMessage") or path.endswith("/Messages.json"))
        ):
            await asyncio.sleep(self.seconds * random.uniform(0.5, 1.5))
        with contextlib.suppress(ClientDisconnect):  # the bot was killed mid-request
            await self.app(scope, receive, send)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _seed(path: Path, channel: str, count: int) -> None:
    """``count`` queued messages, one per family address, each with its own words."""
    db = await Database.open(path)
    try:
        now = SystemClock().now()
        async with db.transaction() as conn:
            messages = Record(conn).messages
            for n in range(count):
                address = (
                    f"telegram:{300_000 + n}" if channel == "telegram" else f"sms:+1555{n:07d}"
                )
                await messages.queue(
                    channel=channel,
                    address=address,
                    body=f"Bright Steps Therapy: reminder {n:05d}",
                    template="bench",
                    guardian_id=None,
                    staff_id=None,
                    buttons=(),
                    now=now,
                    reveals=frozenset({"practice"}),
                )
    finally:
        await db.close()


def _environment(db: Path, channel: str, root: str, fake: Any, in_flight: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_")}
    env |= {
        "CAREBOT_DATABASE": str(db),
        "CAREBOT_PUBLIC_URL": PUBLIC,
        "CAREBOT_PRACTICE__NAME": "Bright Steps Therapy",
        "CAREBOT_PRACTICE__PHONE": "+1 555 010 2030",
        "CAREBOT_PRACTICE__TIMEZONE": "America/New_York",
        "CAREBOT_OUTBOX__IN_FLIGHT": str(in_flight),
    }
    if channel == "telegram":
        env |= {
            "CAREBOT_TELEGRAM__TOKEN": fake.token,
            "CAREBOT_TELEGRAM__API_URL": root,
            "CAREBOT_TELEGRAM__WEBHOOK_SECRET": "bench-secret",
            "CAREBOT_TELEGRAM__MAX_MESSAGES_PER_SECOND": "5000",
        }
    else:
        env |= {
            "CAREBOT_SMS__ACCOUNT_SID": fake.account_sid,
            "CAREBOT_SMS__AUTH_TOKEN": fake.auth_token,
            "CAREBOT_SMS__FROM_NUMBER": FROM,
            "CAREBOT_SMS__API_URL": root,
            "CAREBOT_SMS__MAX_MESSAGES_PER_SECOND": "100",
        }
    return env


async def _start(env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    env = {**env, "CAREBOT_HTTP__PORT": str(_free_port())}
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


def _pending(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        row = conn.execute(
            "SELECT COUNT(*) FROM message WHERE status IN ('queued', 'sending', 'unknown')"
        ).fetchone()
        return int(row[0])


@contextlib.asynccontextmanager
async def _fake(
    channel: str, latency: float
) -> AsyncIterator[tuple[Any, str, Callable[[], list[str]], Callable[[int], Awaitable[None]]]]:  # noqa: E501
    if channel == "telegram":
        telegram = FakeTelegram()
        async with serve_app(Slow(telegram.app, latency), keep_alive=75) as root:

            async def wait_tg(count: int) -> None:
                await telegram.wait_for_calls("sendMessage", count, timeout=60)

            yield telegram, root, lambda: [m["text"] for m in telegram.sent_messages()], wait_tg
    else:
        twilio = FakeTwilio()
        async with serve_app(Slow(twilio.app, latency), keep_alive=75) as root:

            async def wait_sms(count: int) -> None:
                await twilio.wait_for_sent(count, timeout=60)

            yield twilio, root, lambda: [m.body for m in twilio.sent], wait_sms


async def run(
    *,
    messages: int = 3000,
    kills: int = 100,
    in_flight: int = 8,
    channel: str = "telegram",
    latency_ms: float = 20,
    seed: int = 7,
    folder: Path | None = None,
) -> dict[str, Any]:
    """The whole experiment; returns its figures (see the module docstring)."""
    random.seed(seed)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as scratch:
        db = (folder or Path(scratch)) / "crash.db"
        log = db.with_suffix(".log")
        await _seed(db, channel, messages)
        expected = {f"Bright Steps Therapy: reminder {n:05d}" for n in range(messages)}
        async with _fake(channel, latency_ms / 1000) as (fake, root, arrived, wait_for):
            env = _environment(db, channel, root, fake, in_flight)
            done = 0
            #: How many messages had arrived when each process started (after each crash).
            marks: list[int] = []
            for _kill in range(kills):
                seen = len(arrived())
                if seen >= messages:
                    break
                marks.append(seen)
                process = await _start(env, log)
                step = random.randint(1, max(2, messages // max(kills, 1)))
                with contextlib.suppress(TimeoutError):
                    await wait_for(seen + step)
                process.kill()
                await process.wait()
                done += 1
            marks.append(len(arrived()))
            process = await _start(env, log)
            try:
                async with asyncio.timeout(600):
                    # Another process's record: there is nothing to wait on but the rows.
                    while _pending(db):  # noqa: ASYNC110
                        await asyncio.sleep(0.2)
            finally:
                process.terminate()
                await process.wait()
            order = arrived()
            counts = Counter(order)
        with contextlib.closing(sqlite3.connect(db)) as conn:
            integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
            rows = conn.execute(
                "SELECT body, recovery, recovered_at FROM message WHERE direction = 'out'"
            ).fetchall()
    flagged = {body: at for body, recovery, at in rows if recovery == "resent"}
    found = sum(1 for _b, recovery, _a in rows if recovery == "found")
    duplicated = {body: n - 1 for body, n in counts.items() if n > 1}
    # A duplicate is an arrival of words that had arrived before; it belongs to the crash
    # before the process that sent it.
    per_crash: Counter[int] = Counter()
    seen_bodies: set[str] = set()
    for index, body in enumerate(order):
        if body in seen_bodies:
            per_crash[bisect.bisect_right(marks, index)] += 1
        seen_bodies.add(body)
    return {
        "log": str(log) if folder else None,
        "channel": channel,
        "messages": messages,
        "kills": done,
        "in_flight": in_flight,
        "lost": len(expected - set(counts)),
        "duplicated": sum(duplicated.values()),
        "flagged": len(flagged),
        "found": found,
        "max_duplicates_per_crash": max(per_crash.values(), default=0),
        "every_duplicate_flagged": all(body in flagged for body in duplicated),
        "integrity": integrity,
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--channel", choices=("telegram", "sms"), default="telegram")
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()
    figures = asyncio.run(
        run(
            messages=args.messages,
            kills=args.kills,
            in_flight=args.in_flight,
            channel=args.channel,
            latency_ms=args.latency_ms,
        )
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
