"""A practice's whole year on one machine: build a record at a practice's size through the real
import path, then measure what a practice would feel, each figure printed with its target.

    python bench/scale.py [--size M|L] [--folder DIR] [--skip-build]

Sizes (issue 11): M is 2,000 patients, 3,000 guardians, 60 staff, 104,000 appointments over a
year (one a week each, from six months ago to six months ahead); L is 10,000 patients and
520,000 appointments. Patients, guardians, staff, care teams and appointments go through
``carebot import`` (real processes: their wall time and peak memory are figures too). The
history of the past half-year (two reminders and two messages per past visit) is written
directly with executemany, to save time, and is marked so in the output. ``--folder`` keeps the
record (a second run with ``--skip-build`` measures again without building).

Then, on that record: ``carebot run`` until ``/healthz`` answers (a real process, SMS against a
fake Twilio served here), its idle memory, a 60-row staff.csv re-import, one delivery report, one
due reminder queued from a backlog, and the read paths (bench/read_paths.py, when present). Each
timing is the median of repeated runs on a warm connection. Targets are issue 11's at L; at M
they are the same (the point is that nothing grows with the record).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import importlib.util
import json
import logging
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("PTB_TIMEDELTA", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bot.sandbox.emulators import emulators  # noqa: E402
from handlers.records.imports import COLUMNS  # noqa: E402

SIZES = {"M": 2_000, "L": 10_000}
STAFF = 60
TARGETS = {
    "status callback (ms)": "< 2 ms",
    "due reminder queued (ms, per reminder)": "< 5 ms",
    "longest due-scan transaction (ms)": "< 100 ms",
    "longest planning transaction (ms)": "< 100 ms",
}
PRACTICE = {
    "CAREBOT_PRACTICE__NAME": "Bright Steps Therapy",
    "CAREBOT_PRACTICE__PHONE": "+1 555 010 2030",
    "CAREBOT_PRACTICE__TIMEZONE": "America/New_York",
}
#: The wrapper every import runs under: the command's own peak memory, as the kernel counts it.
MEASURED = (
    "import runpy, sys, json\n"
    "code = 0\n"
    "try:\n"
    "    sys.argv = ['carebot', *sys.argv[2:]]\n"
    "    runpy.run_module('bot.cli', run_name='__main__')\n"
    "except SystemExit as e:\n"
    "    code = e.code or 0\n"
    # VmHWM, this process's own peak: ru_maxrss would report the bench's own size, which the
    # child inherits at the vfork/exec that subprocess does.
    "peak = int(next(l.split()[1] for l in open('/proc/self/status')"
    " if l.startswith('VmHWM:')))\n"
    "open(OUT, 'w').write(json.dumps({'code': code, 'kb': peak}))\n"
)


def _env(db: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_")}
    return env | {"CAREBOT_DATABASE": str(db), **PRACTICE, **extra}


def carebot(db: Path, *args: str, **extra: str) -> tuple[float, int, str]:
    """Run ``carebot ARGS`` to its end: (wall seconds, peak RSS in MB, stderr)."""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as out:
        script = MEASURED.replace("OUT", repr(out.name))
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", script, "-", *args],
            env=_env(db, **extra),
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        result = json.loads(Path(out.name).read_text() or "{}")
    if result.get("code", 1) != 0:
        raise SystemExit(f"carebot {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return wall, result["kb"] // 1024, done.stderr


# -- building the record -----------------------------------------------------------------------


def write_csv(path: Path, header: list[str], rows: Any) -> int:
    count = 0
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def generate(folder: Path, patients: int, today: date) -> dict[str, Path]:
    """The practice's CSV files (INTERFACE.md columns), deterministic."""
    rng = random.Random(11)
    files = {kind: folder / f"{kind}.csv" for kind in
             ("patients", "guardians", "staff", "care-team", "appointments")}  # fmt: skip
    write_csv(
        files["patients"],
        list(COLUMNS["patients"]),
        (
            (f"p{n:05d}", f"Child{n}", f"Family{n - 1 if n % 10 == 1 else n}",
             f"{2008 + n % 15}-{1 + n % 12:02d}-{1 + n % 28:02d}", "es" if n % 5 == 0 else "en")
            for n in range(patients)
        ),
    )  # fmt: skip

    def guardians() -> Any:
        for n in range(patients):
            # One in ten children has a sibling at the practice, sharing their guardian; half
            # the children have a second guardian (about 1.5 guardians per patient in all).
            own = n - 1 if n % 10 == 1 else n
            yield (f"g{own:05d}", f"p{n:05d}", f"Parent{own}", f"Family{own}", "mother",
                   f"+1555{own:07d}", "es" if own % 5 == 0 else "en",
                   "yes" if own % 3 else "no")  # fmt: skip
            if n % 2 == 0:
                yield (f"h{n:05d}", f"p{n:05d}", f"Other{n}", f"Family{own}", "father",
                       f"+1666{n:07d}", "en", "yes")  # fmt: skip

    write_csv(
        files["guardians"],
        list(COLUMNS["guardians"]),
        guardians(),
    )
    roles = ["coordinator"] * 4 + ["clinician"] * (STAFF - 4)
    write_csv(
        files["staff"],
        list(COLUMNS["staff"]),
        ((f"s{n:02d}", f"Staff Member{n}", roles[n], "speech", f"U{n:08d}") for n in range(STAFF)),
    )
    write_csv(
        files["care-team"],
        list(COLUMNS["care-team"]),
        ((f"p{n:05d}", f"s{4 + n % (STAFF - 4):02d}") for n in range(patients)),
    )
    first_monday = today - timedelta(days=today.weekday()) - timedelta(weeks=26)

    def appointments() -> Any:
        for n in range(patients):
            day = n % 5
            hour = 8 + (n // 5) % 10
            for week in range(52):
                start = datetime.combine(first_monday + timedelta(weeks=week, days=day),
                                         datetime.min.time()).replace(hour=hour)  # fmt: skip
                yield (f"a{n:05d}-{week:02d}", f"p{n:05d}", f"s{4 + n % (STAFF - 4):02d}",
                       start.isoformat(timespec="minutes"), rng.choice((30, 45, 60)),
                       "speech therapy", "Room 2")  # fmt: skip

    write_csv(
        files["appointments"],
        list(COLUMNS["appointments"]),
        appointments(),
    )
    return files


def write_history(db: Path, now: datetime) -> int:
    """The past half-year's reminders and messages, written directly (two of each per visit):
    a record that has been running for months, not a fresh one."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    with contextlib.closing(sqlite3.connect(db)) as conn:
        past = conn.execute(
            "SELECT a.id, a.start_at, gp.guardian_id, g.phone FROM appointment a"
            " JOIN guardian_patient gp ON gp.patient_id = a.patient_id"
            " JOIN guardian g ON g.id = gp.guardian_id WHERE a.start_at < ?",
            (stamp,),
        ).fetchall()
        next_id = (conn.execute("SELECT COALESCE(MAX(id), 0) FROM message").fetchone()[0]) + 1
        messages, reminders = [], []
        recent = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for appointment_id, start, guardian_id, phone in past:
            address = f"sms:{phone}"
            for hours in (72, 24):
                sent = (datetime.fromisoformat(start) - timedelta(hours=hours)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
                # The last two days' texts still wait for their delivery reports.
                status = "sent" if sent >= recent else "delivered"
                messages.append((next_id, "out", "sms", address, guardian_id, "reminder",
                                 f"Bright Steps Therapy: a visit {start}", status,
                                 f"SM{next_id:032x}", sent, sent, sent))  # fmt: skip
                reminders.append((appointment_id, guardian_id, hours, start, sent, sent, "sent",
                                  next_id, f"{appointment_id}|{guardian_id}|{hours}|{start}",
                                  sent, sent))  # fmt: skip
                next_id += 1
        conn.executemany(
            "INSERT INTO message (id, direction, channel, address, guardian_id, template, body,"
            " status, provider_message_id, not_before, created_at, sent_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            messages,
        )
        conn.executemany(
            "INSERT OR IGNORE INTO reminder (appointment_id, guardian_id, offset_hours,"
            " appointment_start_at, due_at, send_at, status, message_id, dedupe_key, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            reminders,
        )
        conn.execute(
            "UPDATE appointment SET status = 'fulfilled' WHERE status = 'booked' AND start_at < ?",
            (stamp,),
        )
        conn.commit()
        conn.execute("ANALYZE")
    return len(messages)


def counts(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("patient", "guardian", "appointment", "reminder", "message")
        }


# -- measuring ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def run_until_healthy(db: Path) -> tuple[float, int]:
    """``carebot run`` with every channel configured (Telegram, Slack and SMS against fakes
    served here): seconds until /healthz answers 200, and its resident memory once idle (MB)."""
    async with emulators() as fakes:
        port = free_port()
        env = _env(
            db,
            CAREBOT_HTTP__PORT=str(port),
            CAREBOT_PUBLIC_URL="https://carebot.example.org",
            CAREBOT_SMS__ACCOUNT_SID=fakes.twilio.account_sid,
            CAREBOT_SMS__AUTH_TOKEN=fakes.twilio.auth_token,
            CAREBOT_SMS__FROM_NUMBER="+15550100000",
            CAREBOT_SMS__API_URL=fakes.twilio_root,
            CAREBOT_TELEGRAM__TOKEN=fakes.telegram.token,
            CAREBOT_TELEGRAM__API_URL=fakes.telegram_root,
            CAREBOT_TELEGRAM__WEBHOOK_SECRET=fakes.telegram_webhook_secret,
            CAREBOT_SLACK__BOT_TOKEN=fakes.slack.token,
            CAREBOT_SLACK__SIGNING_SECRET=fakes.slack_signing_secret,
            CAREBOT_SLACK__API_URL=f"{fakes.slack_root}/api/",
            CAREBOT_SLACK__ESCALATION_CHANNEL="C0COORD",
        )
        started = time.perf_counter()
        log = (db.parent / "carebot-run.log").open("ab")  # what the start said, to look at
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot.cli", "run", env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                while True:  # another process: nothing to wait on but its answer
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    if process.returncode is not None:
                        raise SystemExit("carebot run exited during start-up")
                    await asyncio.sleep(0.05)
            healthy = time.perf_counter() - started
            await asyncio.sleep(5)  # idle
            rss = _rss_mb(process.pid)
        finally:
            process.terminate()
            await process.wait()
    return healthy, rss


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return -1


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


async def in_process(db_path: Path) -> dict[str, float]:
    """One delivery report and one due reminder from a backlog, through the real code on the
    built record (warm connection, medians)."""
    logging.getLogger().setLevel(logging.ERROR)  # the backlog's families without a channel
    from bot.app import CareBot
    from bot.config import load_settings
    from handlers.core.events import DeliveryReport
    from handlers.reminders.dispatcher import DUE_BATCH, DUE_BUDGET_SECONDS
    from storage.clock import FakeClock
    from storage.db import Database

    os.environ["CAREBOT_DATABASE"] = str(db_path)
    for key, value in PRACTICE.items():
        os.environ[key] = value
    settings = load_settings(None)
    db = await Database.open(db_path)
    figures: dict[str, float] = {}
    try:
        async with db.query() as conn:
            rows = await conn.execute_fetchall(
                "SELECT provider_message_id FROM message WHERE provider_message_id IS NOT NULL"
                " ORDER BY random() LIMIT 50"
            )
        # Midday at the practice (outside quiet hours, so the backlog is sent, not held).
        midday = datetime.now(UTC).replace(hour=17, minute=0, second=0, microsecond=0)
        if midday <= datetime.now(UTC):
            midday += timedelta(days=1)
        clock = FakeClock(midday)
        carebot = CareBot(settings, db, clock)
        samples = []
        for (provider_id,) in rows:
            started = time.perf_counter()
            await carebot.delivery_status(
                DeliveryReport(
                    channel="sms",
                    address="sms:",
                    event_id=f"{provider_id}:delivered",
                    provider_message_id=provider_id,
                    status="delivered",
                )
            )
            samples.append(time.perf_counter() - started)
        figures["status callback (ms)"] = median_ms(samples)
        # The window moved on to midday (a day's visits entering it at once, as after a day's
        # downtime): planned first, apart; a day later if no weekday's visits entered.
        planning: list[float] = []
        db.observers.append(planning.append)
        for _ in range(3):
            planned = await carebot.reminders.plan()
            if planned:
                break
            clock.advance(timedelta(days=1))
        db.observers.remove(planning.append)
        # A backlog: everything due by midday is sent now (the practice was down all morning).
        pending = (
            "SELECT COUNT(*) FROM reminder WHERE status = 'pending' AND send_at <= ?",
            (clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),),
        )
        async with db.query() as conn:
            due = (await conn.execute_fetchall(*pending))[0][0]
        held: list[float] = []
        db.observers.append(held.append)
        started = time.perf_counter()
        queued = await carebot.reminders.run_due()  # plans nothing more now
        elapsed = time.perf_counter() - started
        db.observers.remove(held.append)
        figures["reminders planned as the window moved on"] = planned
        figures["longest planning transaction (ms)"] = round(max(planning, default=0) * 1000, 1)
        async with db.query() as conn:
            left = (await conn.execute_fetchall(*pending))[0][0]
        handled = max(due - left, 1)
        figures["reminders in the backlog"] = handled
        figures["due reminder queued (ms, per reminder)"] = round(elapsed * 1000 / handled, 2)
        figures["messages queued from the backlog"] = queued
        figures["longest due-scan transaction (ms)"] = round(max(held, default=0) * 1000, 1)
        figures[f"due-scan batch (at most, or {DUE_BUDGET_SECONDS * 1000:.0f} ms)"] = DUE_BATCH
    finally:
        await db.close()
    return figures


def read_paths(db_path: Path, plans: list[str]) -> dict[str, Any]:
    """bench/read_paths.py's measurements on this record, if that bench is present; each path's
    statements with SQLite's plan go to ``plans``."""
    path = Path(__file__).with_name("read_paths.py")
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location("read_paths", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    measure: Callable[..., Any] | None = getattr(module, "measure", None)
    return asyncio.run(measure(db_path, plans=plans)) if measure else {}


def report(name: str, value: object, target: str) -> None:
    print(f"  {name:<46} {value!s:>12}   target {target}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=SIZES, default="M")
    parser.add_argument("--folder", type=Path, help="keep the record and CSVs here")
    parser.add_argument("--skip-build", action="store_true", help="measure a kept record again")
    args = parser.parse_args()
    patients = SIZES[args.size]
    scratch = tempfile.TemporaryDirectory()
    folder = args.folder or Path(scratch.name)
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "practice.db"
    now = datetime.now(UTC)
    print(f"bench/scale.py, size {args.size} ({patients:,} patients), record {db}")
    if not args.skip_build:
        for stale in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
            stale.unlink(missing_ok=True)
        files = generate(folder, patients, now.date())
        print("import (real carebot import processes):")
        for kind in ("patients", "guardians", "staff", "care-team", "appointments"):
            rows = sum(1 for _ in files[kind].open()) - 1
            wall, peak, _ = carebot(db, "import", kind, str(files[kind]))
            target = ">= 10,000 rows/s, memory flat" if kind == "appointments" else ""
            report(f"{kind} ({rows:,} rows): rows/s", f"{rows / wall:,.0f}", target)
            report(f"{kind}: peak memory (MB)", peak, "")
        written = write_history(db, now)
        print(f"history written directly (not through an import): {written:,} messages")
    print("record:", ", ".join(f"{k} {v:,}" for k, v in counts(db).items()))
    staff = folder / "staff.csv"
    if staff.exists():
        wall, peak, _ = carebot(db, "import", "staff", str(staff))
        report("re-import of a 60-row staff.csv (s)", round(wall, 2), "< 2 s")
        report("  its peak memory (MB)", peak, "")
    healthy, rss = asyncio.run(run_until_healthy(db))
    report("carebot run until /healthz answers (s)", round(healthy, 2), "< 3 s")
    report("idle RSS of carebot run (MB)", rss, "< 120 MB")
    for name, value in asyncio.run(in_process(db)).items():
        target = TARGETS.get(name, "")
        report(name, value, target)
    plans: list[str] = []
    for name, value in read_paths(db, plans).items():
        report(name, value, "< 2 ms" if "status" in name else "< 20 ms")
    if plans:
        print("\nthe read paths' queries (one call each), with SQLite's plan on this record")
        print("(tests/storage/test_query_plans.py checks every per-message, per-reminder and")
        print("per-request statement of the whole bot the same way):")
        print("\n".join(plans))


if __name__ == "__main__":
    main()
