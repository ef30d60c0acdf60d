"""Slack acknowledgement latency: carebot's slash commands against a bare Bolt app.

Both apps answer signed ``/carebot today`` requests posted concurrently to ``/slack/events`` and
talk to the same fake Slack Web API. The bare app acks and makes one chat.postMessage. carebot
acks, then records the request, reads the caller's day from the care record, and answers on
the request's ``response_url``. The fake Slack and the load generator run in a child process,
so the measured process runs only the app under test.

``BENCH_PROFILE=1`` prints where carebot's process spent its time during its rounds.

Prints ack latency p50/p99 (the time Slack waits for the HTTP answer) and completed commands per
second for each, and the throughput ratio. Targets: carebot's p99 under 100 ms, throughput at
least 0.8 of the bare app's.

    python bench/slack_ack.py [--commands 600] [--concurrency 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler  # noqa: E402
from slack_bolt.async_app import AsyncAck, AsyncApp  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.routing import Route  # noqa: E402

from bot.app import CareBot  # noqa: E402
from bot.config import PracticeSettings, Settings, SlackSettings  # noqa: E402
from bot.sandbox import slack_signing  # noqa: E402
from bot.sandbox.server import serve_app  # noqa: E402
from bot.sandbox.slack_fake import FakeSlack  # noqa: E402
from bot.web import build_web  # noqa: E402
from storage.clock import SystemClock, to_db  # noqa: E402
from storage.db import Database  # noqa: E402

SIGNING = "bench-signing-secret"
STAFF = 40


def staff_user(i: int) -> str:
    return f"U{1000 + i % STAFF}"


async def drive(
    root: str, fake: FakeSlack, count: int, concurrency: int, done_method: str
) -> tuple[float, list[float]]:
    """Post ``count`` signed slash commands; return (completed per second, ack latencies)."""
    start_count = len(fake.calls(done_method))
    requests = [
        slack_signing.slash_command(
            SIGNING,
            team_id=fake.team_id,
            user_id=staff_user(i),
            text="today",
            response_url=fake.response_url(f"{staff_user(i)}-{i}"),
        )
        for i in range(count)
    ]
    queue: asyncio.Queue[tuple[bytes, dict[str, str]]] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=root, limits=limits, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body, headers = queue.get_nowait()
                began = time.perf_counter()
                response = await client.post("/slack/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - began)
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        await fake.wait_for_calls(done_method, start_count + count, timeout=300)
        return count / (time.perf_counter() - began), latencies


def platform_process(pipe: Connection) -> None:
    """The fake Slack and the load generator, in their own process."""

    async def serve() -> None:
        fake = FakeSlack()
        for i in range(STAFF):
            fake.add_user(staff_user(i), f"Staff {i}")
        async with serve_app(fake.app, keep_alive=75) as root:
            fake.root = root
            pipe.send((fake.token, root))
            while True:
                command = await asyncio.to_thread(pipe.recv)
                if command[0] == "stop":
                    return
                _verb, bot_root, count, concurrency, done_method = command
                await drive(bot_root, fake, 50, concurrency, done_method)  # warm-up
                pipe.send(await drive(bot_root, fake, count, concurrency, done_method))

    asyncio.run(serve())


def bare_bolt_app(client: AsyncWebClient) -> Starlette:
    """The baseline: Bolt acks, then one chat.postMessage."""
    app = AsyncApp(client=client, signing_secret=SIGNING)

    @app.command("/carebot")
    async def command(ack: AsyncAck, body: dict[str, str]) -> None:
        await ack()
        await client.chat_postMessage(channel=body["user_id"], text="ok")

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request):  # type: ignore[no-untyped-def]
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


async def seed(db: Database) -> None:
    """Staff with a care team each and a full day of appointments."""
    now = datetime.now(UTC)
    stamp = to_db(now)
    async with db.transaction() as conn:
        for i in range(STAFF):
            role = "coordinator" if i == 0 else "clinician"
            await conn.execute(
                "INSERT INTO staff (id, name, role, discipline, slack_user_id, created_at,"
                " updated_at) VALUES (?, ?, ?, 'speech', ?, ?, ?)",
                (f"s{i}", f"Staff {i}", role, staff_user(i), stamp, stamp),
            )
            for j in range(6):
                patient = f"p{i}-{j}"
                await conn.execute(
                    "INSERT INTO patient VALUES (?, 'Maya', 'Bench', '2019-03-14', 'en', ?, ?)",
                    (patient, stamp, stamp),
                )
                await conn.execute(
                    "INSERT INTO care_team VALUES (?, ?, ?)", (patient, f"s{i}", stamp)
                )
                start = now.replace(minute=0, second=0) + timedelta(hours=j - 3)
                await conn.execute(
                    "INSERT INTO appointment (id, patient_id, staff_id, start_at,"
                    " duration_minutes, service, location, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, 45, 'speech therapy', 'Room 1', ?, ?)",
                    (f"a{i}-{j}", patient, f"s{i}", to_db(start), stamp, stamp),
                )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000


async def main(count: int, concurrency: int, rounds: int) -> None:
    ours_end, theirs_end = multiprocessing.Pipe()
    platform = multiprocessing.get_context("spawn").Process(
        target=platform_process, args=(theirs_end,), daemon=True
    )
    platform.start()
    token, api_root = ours_end.recv()

    async def measure(root: str, done_method: str) -> tuple[float, list[float]]:
        cpu = time.process_time()
        ours_end.send(("drive", root, count, concurrency, done_method))
        result = await asyncio.to_thread(ours_end.recv)
        if os.environ.get("BENCH_CPU"):
            used = (time.process_time() - cpu) / (count + 50) * 1000
            print(f"  {done_method}: {result[0]:.0f}/s, CPU per command {used:.2f} ms")
        return result

    results: dict[str, list[tuple[float, list[float]]]] = {"bare": [], "ours": []}
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(
            database=str(Path(folder) / "bench.db"),
            slack=SlackSettings(
                bot_token=SecretStr(token),
                signing_secret=SecretStr(SIGNING),
                api_url=f"{api_root}/api/",
                escalation_channel="C0COORD",
            ),
            practice=PracticeSettings(
                name="Bench Practice", phone="+1 555 010 0000", timezone="UTC"
            ),
        )
        db = await Database.open(settings.database)
        await seed(db)
        carebot = CareBot(settings, db, SystemClock())
        await carebot.start()
        async with aiohttp.ClientSession() as session:
            client = AsyncWebClient(token=token, base_url=f"{api_root}/api/", session=session)
            async with serve_app(bare_bolt_app(client)) as bare_root:
                async with serve_app(build_web(carebot)) as ours_root:
                    profile = cProfile.Profile() if os.environ.get("BENCH_PROFILE") else None
                    for _round in range(rounds):  # interleaved: noise slows both alike
                        results["bare"].append(await measure(bare_root, "chat.postMessage"))
                        if profile:
                            profile.enable()
                        results["ours"].append(await measure(ours_root, "response_url"))
                        if profile:
                            profile.disable()
                    if profile:
                        pstats.Stats(profile).sort_stats("tottime").print_stats(25)
        await carebot.stop()
        await db.close()
    ours_end.send(("stop",))
    platform.join(timeout=10)

    print(
        f"commands per round: {count}, concurrent requests: {concurrency}, rounds: {rounds}"
        " (medians of rounds)"
    )
    rates = {}
    for name, label in (
        ("bare", "bare Bolt ack + postMessage"),
        ("ours", "carebot /carebot today"),
    ):
        runs = results[name]
        rates[name] = statistics.median(r for r, _ in runs)
        p50 = statistics.median(percentile(lat, 0.50) for _, lat in runs)
        p99 = statistics.median(percentile(lat, 0.99) for _, lat in runs)
        print(
            f"{label:30} {rates[name]:7.1f} commands/s   ack p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
        )
    print(f"throughput ratio carebot/bare:  {rates['ours'] / rates['bare']:6.2f}  (target >= 0.80)")
    if os.environ.get("BENCH_VERBOSE"):
        print({k: [round(r) for r, _ in v] for k, v in results.items()})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=600)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.commands, args.concurrency, args.rounds))
