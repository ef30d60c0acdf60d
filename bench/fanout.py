"""Fan-out against the platforms' limits: carebot's real outbox against fakes that enforce them.

    python bench/fanout.py [--rounds 3] [--raw-messages 900] [--in-flight 8] [--quick]

The fakes (bot/sandbox's Telegram Bot API and Twilio Messages API) run in a child process,
behind :class:`Limits`, an ASGI middleware that answers as the platforms do when a sender goes
too fast: Telegram 429 with ``parameters.retry_after`` when more than 30 ``sendMessage`` calls
arrive in any sliding second or a second one to a chat within a second; Twilio 429 with code
20429 past the number's rate in any sliding second (``Retry-After`` only with
``--twilio-retry-after``: Twilio does not document one).

carebot runs in this process: an in-process :class:`bot.app.CareBot` started with
``run_outbox=True``, the same object ``carebot run`` builds, with the same outbox loop, adapters
and record (SQLite, ``synchronous=FULL``). In process rather than a ``carebot run`` process so
that the bare python-telegram-bot loop it is compared with runs in the same process, on the same
event loop, measured the same way (wall time and ``time.process_time``, which counts
aiosqlite's thread too), in interleaved rounds. bench/crash_fanout.py is the one that kills a
real process.

Scenarios, each on a fresh record of queued messages, one per recipient unless said:

- Telegram at its limits, 900 messages to 900 chats (the overall 30 a second binds) and 300 to
  10 chats (one a second per chat binds: 10 a second allowed);
- SMS at the number's rate (``CAREBOT_SMS__MAX_MESSAGES_PER_SECOND``): 1 a second (20 texts)
  and 10 a second (200 texts);
- raw fan-out, limits lifted at both ends: carebot against a bare loop of ``Bot.send_message``
  with the same concurrency (``--in-flight`` workers), rounds interleaved, medians. The bare
  loop runs twice: on python-telegram-bot's own httpx transport (the baseline the ratio is
  against) and on carebot's aiohttp transport (bot/channels/telegram_http.py), so that what
  the outbox itself costs is shown apart from what the transport saves.

For a limited run: the achieved rate is the sends after the first second's allowance divided
by the time from the first send to the last, as the fake saw them (a sender that uses every
slot the sliding window offers scores exactly the allowed rate); 429s the fake answered; lost
(queued, never accepted by the fake); duplicates. For the raw run: messages a second, the
ratio, CPU per message, and aiosqlite round trips (thread hops) per message.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

os.environ.setdefault("PTB_TIMEDELTA", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import contextlib

import aiosqlite  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402
from telegram import Bot  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.app import CareBot  # noqa: E402
from bot.channels.telegram_http import AiohttpRequest  # noqa: E402
from bot.config import (  # noqa: E402
    OutboxSettings,
    PracticeSettings,
    Settings,
    SmsSettings,
    TelegramSettings,
)
from bot.sandbox.fake_telegram import FakeTelegram  # noqa: E402
from bot.sandbox.fake_twilio import FakeTwilio  # noqa: E402
from bot.sandbox.server import serve_app  # noqa: E402
from storage.clock import SystemClock  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.record import Record  # noqa: E402

PUBLIC = "https://carebot.example.org"
FROM = "+15550100000"
UNLIMITED = 1_000_000.0
FIRST_CHAT = 10_000


# -- the platforms' side (child process) --------------------------------------------------------


@dataclass
class Window:
    """A sliding-second limit: ``per_second`` overall and one per ``per_key_interval`` to a key."""

    per_second: float | None = None
    per_key_interval: float = 0.0
    recent: deque[float] = field(default_factory=deque)
    last: dict[str, float] = field(default_factory=dict)

    def refuse(self, key: str, now: float) -> float | None:
        """Seconds until this call would be allowed, or None (then it counts)."""
        wait = 0.0
        if self.per_second is not None:
            while self.recent and now - self.recent[0] >= 1.0:
                self.recent.popleft()
            if len(self.recent) >= self.per_second:
                wait = self.recent[0] + 1.0 - now
        last = self.last.get(key)
        if self.per_key_interval and last is not None and now - last < self.per_key_interval:
            wait = max(wait, last + self.per_key_interval - now)
        if wait > 0:
            return wait
        if self.per_second is not None:
            self.recent.append(now)
        self.last[key] = now
        return None


@dataclass
class Tally:
    """What one fake accepted and refused since the last reset."""

    accepted: list[float] = field(default_factory=list)
    bodies: Counter[str] = field(default_factory=Counter)
    refused: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def figures(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "distinct": len(self.bodies),
            "duplicates": sum(n - 1 for n in self.bodies.values()),
            "refused": self.refused,
            "first": self.accepted[0] if self.accepted else None,
            "last": self.accepted[-1] if self.accepted else None,
        }


class Limits:
    """ASGI middleware in front of a fake: the platform's limits on its send method.

    ``kind`` is ``telegram`` (``/bot<token>/sendMessage``, keyed by ``chat_id``; 429 with
    ``parameters.retry_after``, whole seconds as Telegram sends them) or ``twilio``
    (``Messages.json`` POSTs, keyed by ``From``; 429 with code 20429).
    """

    def __init__(self, app: ASGIApp, kind: str) -> None:
        self.app, self.kind = app, kind
        self.window = Window()
        self.tally = Tally()
        self.retry_after_header = False

    def sends(self, scope: Scope) -> bool:
        path = scope.get("path", "")
        if scope["type"] != "http" or scope.get("method") != "POST":
            return False
        return path.endswith("/sendMessage" if self.kind == "telegram" else "/Messages.json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.sends(scope):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        params = dict(parse_qsl(body.decode(), keep_blank_values=True))
        if not params and body.startswith(b"{"):
            params = {k: str(v) for k, v in json.loads(body).items()}
        key = params.get("chat_id" if self.kind == "telegram" else "From", "")
        wait = self.window.refuse(key, time.monotonic())
        if wait is not None:
            self.tally.refused += 1
            await self._too_many(send, wait)
            return
        self.tally.accepted.append(time.monotonic())
        self.tally.bodies[params.get("text" if self.kind == "telegram" else "Body", "")] += 1
        self.tally.changed.set()
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _too_many(self, send: Send, wait: float) -> None:
        seconds = max(1, math.ceil(wait))
        headers = [(b"content-type", b"application/json")]
        if self.kind == "telegram":
            payload: dict[str, Any] = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {seconds}",
                "parameters": {"retry_after": seconds},
            }
        else:
            payload = {
                "code": 20429,
                "message": "Too Many Requests",
                "more_info": "https://www.twilio.com/docs/errors/20429",
                "status": 429,
            }
            if self.retry_after_header:
                headers.append((b"retry-after", str(seconds).encode()))
        data = json.dumps(payload).encode()
        headers.append((b"content-length", str(len(data)).encode()))
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": data})


def platform_process(pipe: Connection, twilio_retry_after: bool) -> None:
    """The fakes, limited, in their own process (the bot's event loop runs only the bot)."""

    async def serve() -> None:
        telegram, twilio = FakeTelegram(), FakeTwilio()
        limited = {
            "telegram": Limits(telegram.app, "telegram"),
            "sms": Limits(twilio.app, "twilio"),
        }
        limited["sms"].retry_after_header = twilio_retry_after
        async with (
            serve_app(limited["telegram"], keep_alive=75) as telegram_root,
            serve_app(limited["sms"], keep_alive=75) as twilio_root,
        ):
            pipe.send((telegram.token, telegram_root, twilio.account_sid, twilio.auth_token,
                       twilio_root))  # fmt: skip
            while True:
                command, *args = await asyncio.to_thread(pipe.recv)
                if command == "stop":
                    return
                if command == "limits":  # channel, per second (None: lifted), per-key interval
                    channel, per_second, interval = args
                    limited[channel].window = Window(per_second, interval)
                    limited[channel].tally = Tally()
                    telegram.requests.clear()
                    twilio.sent.clear()
                    twilio.requests.clear()
                    pipe.send("ok")
                elif command == "wait":  # channel, distinct bodies, seconds
                    channel, count, seconds = args
                    tally = limited[channel].tally
                    deadline = time.monotonic() + seconds
                    while len(tally.bodies) < count and time.monotonic() < deadline:
                        tally.changed.clear()
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(tally.changed.wait(), 0.5)
                    pipe.send(tally.figures())

    asyncio.run(serve())


# -- the bot's side (this process) --------------------------------------------------------------


class Hops:
    """Counts round trips to aiosqlite's thread (every call goes through ``_execute``)."""

    def __init__(self) -> None:
        self.count = 0
        original = aiosqlite.Connection._execute
        hops = self

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            hops.count += 1
            return await original(self, fn, *args, **kwargs)

        aiosqlite.Connection._execute = counted  # type: ignore[method-assign]


@dataclass
class Platforms:
    pipe: Connection
    telegram_token: str
    telegram_root: str
    twilio_sid: str
    twilio_token: str
    twilio_root: str

    async def ask(self, *command: Any) -> Any:
        self.pipe.send(command)
        return await asyncio.to_thread(self.pipe.recv)


def settings_for(
    platforms: Platforms,
    folder: Path,
    name: str,
    *,
    in_flight: int,
    telegram: tuple[float, float] | None = None,
    sms_rate: float | None = None,
) -> Settings:
    return Settings(
        database=str(folder / f"{name}.db"),
        public_url=PUBLIC,
        outbox=OutboxSettings(in_flight=in_flight),
        telegram=TelegramSettings(
            token=SecretStr(platforms.telegram_token) if telegram else None,
            api_url=platforms.telegram_root,
            max_messages_per_second=telegram[0] if telegram else 30,
            per_chat_interval_seconds=telegram[1] if telegram else 1,
        ),
        sms=SmsSettings(
            account_sid=platforms.twilio_sid if sms_rate else None,
            auth_token=SecretStr(platforms.twilio_token) if sms_rate else None,
            from_number=FROM if sms_rate else None,
            api_url=platforms.twilio_root,
            max_messages_per_second=min(sms_rate or 1, 100),
        ),
        practice=PracticeSettings(
            name="Bench Practice", phone="+1 555 010 0000", timezone="America/New_York"
        ),
    )


def address(channel: str, n: int) -> str:
    return f"telegram:{FIRST_CHAT + n}" if channel == "telegram" else f"sms:+1555020{n:04d}"


async def queue(db: Database, channel: str, bodies: list[tuple[str, str]]) -> None:
    """Queue (address, body) pairs as the reminder dispatcher would: one row each."""
    now = SystemClock().now()
    async with db.transaction() as conn:
        record = Record(conn)
        for to, body in bodies:
            await record.messages.queue(
                channel=channel,
                address=to,
                body=body,
                template="bench",
                guardian_id=None,
                staff_id=None,
                buttons=(),
                now=now,
                reveals=frozenset({"practice"}),
            )


async def wait_recorded(db: Database, seconds: float) -> int:
    """Wait until nothing is queued or sending; returns what still is."""
    deadline = time.monotonic() + seconds
    while True:
        async with db.query() as conn:
            rows = await conn.execute_fetchall(
                "SELECT COUNT(*) FROM message WHERE status IN ('queued', 'sending')"
            )
        left = int(next(iter(rows))[0])
        if not left or time.monotonic() > deadline:
            return left
        await asyncio.sleep(0.2)


async def limited_run(
    platforms: Platforms,
    folder: Path,
    *,
    name: str,
    channel: str,
    messages: int,
    recipients: int,
    per_second: float,
    interval: float,
    in_flight: int,
) -> dict[str, Any]:
    """One fan-out at the configured limits, against a fake enforcing the same limits."""
    fake_channel = "telegram" if channel == "telegram" else "sms"
    await platforms.ask(
        "limits", fake_channel, per_second, interval if channel == "telegram" else 0
    )
    settings = settings_for(
        platforms,
        folder,
        name,
        in_flight=in_flight,
        telegram=(per_second, interval) if channel == "telegram" else None,
        sms_rate=per_second if channel == "sms" else None,
    )
    db = await Database.open(settings.database)
    carebot = CareBot(settings, db, SystemClock())
    await carebot.start(run_outbox=True)
    bodies = [(address(channel, n % recipients), f"{name} message {n}") for n in range(messages)]
    await queue(db, channel, bodies)
    carebot.outbox.wake()
    allowed = min(per_second, recipients / interval) if interval else per_second
    burst = min(per_second, recipients)
    ideal = (messages - burst) / allowed
    figures = await platforms.ask("wait", fake_channel, messages, ideal * 3 + 30)
    left = await wait_recorded(db, 10)
    await carebot.stop()
    await db.close()
    span = (figures["last"] or 0) - (figures["first"] or 0)
    rate = (figures["accepted"] - burst) / span if span > 0 else 0.0
    return {
        "name": name,
        "messages": messages,
        "recipients": recipients,
        "allowed": allowed,
        "rate": rate,
        "share": rate / allowed,
        "span": span,
        "ideal_span": ideal,
        "refused": figures["refused"],
        "lost": messages - figures["distinct"],
        "duplicates": figures["duplicates"],
        "retried": carebot.outbox.totals.retried,
        "left_unsent": left,
    }


async def bare_round(
    platforms: Platforms, bot: Bot, count: int, concurrency: int, tag: str
) -> dict[str, float]:
    """The baseline: ``Bot.send_message`` in a loop, ``concurrency`` at a time."""
    await platforms.ask("limits", "telegram", None, 0)
    work = deque(range(count))
    cpu, began = time.process_time(), time.monotonic()

    async def worker() -> None:
        while work:
            n = work.popleft()
            await bot.send_message(FIRST_CHAT + n, f"bare {tag} message {n}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu = time.process_time() - cpu
    figures = await platforms.ask("wait", "telegram", count, 60)
    return {
        "rate": count / (figures["last"] - began),
        "cpu_ms": cpu / count * 1000,
        "lost": count - figures["distinct"],
    }


async def carebot_round(
    platforms: Platforms, carebot: CareBot, hops: Hops, count: int, tag: str
) -> dict[str, float]:
    """carebot's outbox, limits lifted: ``count`` queued rows, from the wake to the last mark."""
    await platforms.ask("limits", "telegram", None, 0)
    await queue(
        carebot.db,
        "telegram",
        [(address("telegram", n), f"carebot {tag} message {n}") for n in range(count)],
    )
    sent_before = carebot.outbox.totals.sent
    hops_before = hops.count
    cpu, began = time.process_time(), time.monotonic()
    carebot.outbox.wake()
    # Wait on the fake's word (one wake-up at the end), not by polling: a poll every few ms
    # would add turns of the event loop to carebot's side of the measurement only.
    figures = await platforms.ask("wait", "telegram", count, 60)
    while carebot.outbox.totals.sent - sent_before < count:  # noqa: ASYNC110 - the last marks
        await asyncio.sleep(0.001)
    cpu = time.process_time() - cpu
    hop_count = hops.count - hops_before
    return {
        "rate": count / (figures["last"] - began),
        "cpu_ms": cpu / count * 1000,
        "hops": hop_count / count,
        "lost": count - figures["distinct"],
    }


async def raw_runs(
    platforms: Platforms, folder: Path, count: int, rounds: int, in_flight: int
) -> dict[str, Any]:
    hops = Hops()
    settings = settings_for(platforms, folder, "raw", in_flight=in_flight, telegram=(UNLIMITED, 0))
    db = await Database.open(settings.database)
    carebot = CareBot(settings, db, SystemClock())
    await carebot.start(run_outbox=True)
    bots = {
        # python-telegram-bot as it comes (its httpx transport): the baseline
        "bare": Bot(
            platforms.telegram_token,
            base_url=f"{platforms.telegram_root}/bot",
            request=HTTPXRequest(connection_pool_size=16),
        ),
        # the same loop on carebot's transport: what the outbox itself costs
        "bare_aiohttp": Bot(
            platforms.telegram_token,
            base_url=f"{platforms.telegram_root}/bot",
            request=AiohttpRequest(connection_pool_size=16),
        ),
    }
    for bot in bots.values():
        await bot.initialize()
    runs: dict[str, list[dict[str, float]]] = {"bare": [], "bare_aiohttp": [], "ours": []}
    for name, bot in bots.items():
        await bare_round(platforms, bot, 100, in_flight, f"warm-up {name}")
    await carebot_round(platforms, carebot, hops, 100, "warm-up")
    for r in range(rounds):  # interleaved, so a noisy neighbour slows all alike
        for name, bot in bots.items():
            runs[name].append(await bare_round(platforms, bot, count, in_flight, f"{name} {r}"))
        runs["ours"].append(await carebot_round(platforms, carebot, hops, count, str(r)))
    for bot in bots.values():
        await bot.shutdown()
    await carebot.stop()
    await db.close()

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    bare, same, ours = runs["bare"], runs["bare_aiohttp"], runs["ours"]
    return {
        **runs,
        "bare_rate": median(bare, "rate"),
        "same_rate": median(same, "rate"),
        "our_rate": median(ours, "rate"),
        "ratio": median(ours, "rate") / median(bare, "rate"),
        "same_ratio": median(ours, "rate") / median(same, "rate"),
        "bare_cpu_ms": median(bare, "cpu_ms"),
        "same_cpu_ms": median(same, "cpu_ms"),
        "our_cpu_ms": median(ours, "cpu_ms"),
        "hops": median(ours, "hops"),
        "lost": sum(run["lost"] for run in bare + same + ours),
    }


SCENARIOS: list[dict[str, Any]] = [
    # name, channel, messages, recipients, per second, per-recipient interval
    {"name": "telegram-900-chats", "channel": "telegram", "messages": 900, "recipients": 900,
     "per_second": 30, "interval": 1.0},
    {"name": "telegram-10-chats", "channel": "telegram", "messages": 300, "recipients": 10,
     "per_second": 30, "interval": 1.0},
    {"name": "sms-1-per-second", "channel": "sms", "messages": 20, "recipients": 20,
     "per_second": 1, "interval": 1.0},
    {"name": "sms-10-per-second", "channel": "sms", "messages": 200, "recipients": 200,
     "per_second": 10, "interval": 1.0},
]  # fmt: skip


def rounds(runs: list[dict[str, float]]) -> str:
    return ", ".join(f"{run['rate']:.0f}" for run in runs)


def scaled(scenario: dict[str, Any], factor: float) -> dict[str, Any]:
    return {**scenario, "messages": max(int(scenario["messages"] * factor), 4)}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    ours_end, theirs_end = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(
        target=platform_process, args=(theirs_end, args.twilio_retry_after), daemon=True
    )
    child.start()
    platforms = Platforms(ours_end, *(await asyncio.to_thread(ours_end.recv)))
    factor = 0.2 if args.quick else 1.0
    results: dict[str, Any] = {"limited": []}
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as folder:
        for scenario in SCENARIOS:
            if args.only and not scenario["name"].startswith(args.only):
                continue
            run = await limited_run(
                platforms, Path(folder), in_flight=args.in_flight, **scaled(scenario, factor)
            )
            results["limited"].append(run)
            report: Callable[[str], None] = print
            report(
                f"{run['name']:>20}: {run['messages']} to {run['recipients']}, "
                f"{run['rate']:.2f}/s of {run['allowed']:g}/s allowed = {run['share']:.1%}; "
                f"429s {run['refused']}, lost {run['lost']}, duplicates {run['duplicates']}, "
                f"span {run['span']:.2f} s (ideal {run['ideal_span']:.2f} s)"
            )
        if not args.only or args.only == "raw":
            raw = await raw_runs(
                platforms,
                Path(folder),
                max(int(args.raw_messages * factor), 50),
                args.rounds,
                args.in_flight,
            )
            results["raw"] = raw
            print(
                f"{'raw fan-out':>20}: {args.raw_messages if not args.quick else '-'} messages, "
                f"{args.in_flight} at a time, {args.rounds} interleaved rounds (medians)"
            )
            print(
                f"{'bare PTB loop':>20}: {raw['bare_rate']:.0f} msg/s "
                f"(rounds {rounds(raw['bare'])}), "
                f"CPU {raw['bare_cpu_ms']:.2f} ms/msg"
            )
            print(
                f"{'bare, aiohttp':>20}: {raw['same_rate']:.0f} msg/s "
                f"(rounds {rounds(raw['bare_aiohttp'])}), "
                f"CPU {raw['same_cpu_ms']:.2f} ms/msg (the same loop on carebot's transport)"
            )
            print(
                f"{'carebot outbox':>20}: {raw['our_rate']:.0f} msg/s "
                f"(rounds {rounds(raw['ours'])}), "
                f"CPU {raw['our_cpu_ms']:.2f} ms/msg, {raw['hops']:.2f} aiosqlite hops/msg"
            )
            print(
                f"{'ratio':>20}: {raw['ratio']:.2f} (target >= 0.70), CPU "
                f"{raw['our_cpu_ms'] / raw['bare_cpu_ms']:.2f}x, lost {raw['lost']}"
            )
            print(
                f"{'outbox overhead':>20}: {raw['same_ratio']:.2f} of the loop on the same "
                f"transport, CPU {raw['our_cpu_ms'] / raw['same_cpu_ms']:.2f}x"
            )
    platforms.pipe.send(("stop",))
    child.join(timeout=10)
    print(f"{'total':>20}: {time.monotonic() - began:.0f} s")
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)  # each 429 is counted at the fake, not logged here
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--raw-messages", type=int, default=900)
    parser.add_argument("--in-flight", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="a fifth of the messages")
    parser.add_argument("--only", help="run the scenarios whose name starts with this (or raw)")
    parser.add_argument(
        "--twilio-retry-after",
        action="store_true",
        help="the Twilio fake sends Retry-After with its 429s (Twilio documents none)",
    )
    asyncio.run(main(parser.parse_args()))
