"""Inbound throughput: carebot's full webhook pipeline against a bare python-telegram-bot echo bot.

Both receive the same real webhook requests over HTTP and reply through the same fake Bot API, in
the same run. carebot's path: secret check -> parse -> dedupe -> identity -> record the message ->
handler -> queue the reply (one committed transaction, synchronous=FULL) -> outbox sends it ->
marks it sent. The bare bot: parse -> reply. A run ends when every reply reached the fake.

Rate limits are lifted for carebot here (the fake does not limit, and Telegram's 30/s would
measure only the limiter). Prints updates per second for each and the ratio (target >= 0.8).

    python bench/telegram_inbound.py [--updates 1000] [--concurrency 16] [--rounds 3]

The default concurrency is the ``max_connections`` carebot registers with setWebhook, so the
load is the one Telegram would put on it. Medians of interleaved rounds, so a noisy machine
slows both bots alike.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import PlainTextResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402
from telegram import Bot, Update  # noqa: E402
from telegram.request import HTTPXRequest  # noqa: E402

from bot.app import CareBot  # noqa: E402
from bot.channels.telegram import WEBHOOK_CONNECTIONS  # noqa: E402
from bot.config import PracticeSettings, Settings, TelegramSettings  # noqa: E402
from bot.sandbox.fake_telegram import FakeTelegram  # noqa: E402
from bot.sandbox.server import serve_app  # noqa: E402
from bot.web import build_web  # noqa: E402
from storage.clock import SystemClock, to_db  # noqa: E402
from storage.db import Database  # noqa: E402

SECRET = "bench-secret"
FAMILIES = 200


def bare_echo_app(bot: Bot) -> Starlette:
    """The baseline: a Starlette webhook feeding PTB, replying with the same text."""

    async def webhook(request: Request) -> Response:
        update = Update.de_json(await request.json(), bot)
        if update.message and update.message.text:
            await bot.send_message(update.message.chat.id, update.message.text)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/telegram/webhook", webhook, methods=["POST"])])


async def seed_families(db: Database) -> None:
    """Linked guardians with a child each, so /next reads real appointments."""
    now = to_db(datetime.now(UTC))
    async with db.transaction() as conn:
        for i in range(FAMILIES):
            await conn.execute(
                "INSERT INTO guardian VALUES (?, 'Ana', 'Bench', NULL, 'en', 0, NULL, ?, ?)",
                (f"g{i}", now, now),
            )
            await conn.execute(
                "INSERT INTO patient VALUES (?, 'Maya', 'Bench', '2019-03-14', 'en', ?, ?)",
                (f"p{i}", now, now),
            )
            await conn.execute(
                "INSERT INTO guardian_patient VALUES (?, ?, 'mother', 1)", (f"g{i}", f"p{i}")
            )
            await conn.execute(
                "INSERT INTO channel_identity (channel, address, guardian_id, verified_at,"
                " consent_at, created_at) VALUES ('telegram', ?, ?, ?, ?, ?)",
                (f"telegram:{10_000 + i}", f"g{i}", now, now, now),
            )


async def drive(
    root: str, fake: FakeTelegram, updates: list[dict[str, Any]], concurrency: int
) -> float:
    """Post every update; return updates/second until the last reply reached the fake."""
    start_count = len(fake.calls("sendMessage"))
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for update in updates:
        queue.put_nowait(update)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=root, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                update = queue.get_nowait()
                response = await client.post("/telegram/webhook", json=update, headers=headers)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await fake.wait_for_calls("sendMessage", start_count + len(updates), timeout=300)
        return len(updates) / (time.perf_counter() - began)


def make_updates(fake: FakeTelegram, count: int) -> list[dict[str, Any]]:
    texts = ("/next", "/help", "hello")
    return [fake.message_update(10_000 + i % FAMILIES, texts[i % len(texts)]) for i in range(count)]


def platform_process(pipe: Connection) -> None:
    """The other side of the wire, in its own process: the fake Bot API and the load generator.

    Keeping them out of the measured bot's process means the bot's event loop runs only the bot,
    as in production, where Telegram is not in our process.
    """

    async def serve() -> None:
        fake = FakeTelegram()
        async with serve_app(fake.app, keep_alive=75) as api_root:
            pipe.send((fake.token, api_root))
            while True:
                command = await asyncio.to_thread(pipe.recv)
                if command[0] == "stop":
                    return
                _verb, bot_root, count, concurrency = command
                await drive(bot_root, fake, make_updates(fake, 100), concurrency)  # warm-up
                rate = await drive(bot_root, fake, make_updates(fake, count), concurrency)
                pipe.send(rate)

    asyncio.run(serve())


async def measure(pipe: Connection, bot_root: str, count: int, concurrency: int) -> float:
    cpu = time.process_time()
    pipe.send(("drive", bot_root, count, concurrency))
    rate = float(await asyncio.to_thread(pipe.recv))
    if os.environ.get("BENCH_CPU"):
        print(
            f"  {bot_root}: {rate:.0f}/s, bot process CPU per update "
            f"{(time.process_time() - cpu) / (count + 100) * 1000:.2f} ms"
        )
    return rate


async def main(count: int, concurrency: int, rounds: int) -> None:
    ours_end, theirs_end = multiprocessing.Pipe()
    platform = multiprocessing.get_context("spawn").Process(
        target=platform_process, args=(theirs_end,), daemon=True
    )
    platform.start()
    token, api_root = await asyncio.to_thread(ours_end.recv)

    bot = Bot(token, base_url=f"{api_root}/bot", request=HTTPXRequest(connection_pool_size=16))
    await bot.initialize()
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database=str(Path(folder) / "bench.db"),
            public_url="https://carebot.example.org",
            telegram=TelegramSettings(
                token=SecretStr(token),
                api_url=api_root,
                webhook_secret=SecretStr(SECRET),
                max_messages_per_second=1_000_000,
                per_chat_interval_seconds=0,
            ),
            practice=PracticeSettings(
                name="Bench Practice", phone="+1 555 010 0000", timezone="America/New_York"
            ),
        )
        db = await Database.open(settings.database)
        await seed_families(db)
        carebot = CareBot(settings, db, SystemClock())
        await carebot.start()
        bare_rates: list[float] = []
        our_rates: list[float] = []
        async with serve_app(bare_echo_app(bot)) as bare_root:
            async with serve_app(build_web(carebot)) as ours_root:
                # Interleaved rounds, so a noisy neighbour slows both alike.
                for _round in range(rounds):
                    bare_rates.append(await measure(ours_end, bare_root, count, concurrency))
                    our_rates.append(await measure(ours_end, ours_root, count, concurrency))
        await carebot.stop()
        await db.close()
    await bot.shutdown()
    ours_end.send(("stop",))
    platform.join(timeout=10)

    bare, ours = statistics.median(bare_rates), statistics.median(our_rates)
    print(
        f"updates per round: {count}, concurrent webhook requests: {concurrency}, "
        f"rounds: {rounds} (medians)"
    )
    print(
        f"bare python-telegram-bot echo: {bare:8.1f} updates/s  "
        f"(rounds: {', '.join(f'{r:.0f}' for r in bare_rates)})"
    )
    print(
        f"carebot full pipeline:         {ours:8.1f} updates/s  "
        f"(rounds: {', '.join(f'{r:.0f}' for r in our_rates)})"
    )
    print(f"ratio carebot/bare:            {ours / bare:8.2f}  (target >= 0.80)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=WEBHOOK_CONNECTIONS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.updates, args.concurrency, args.rounds))
