"""How fast `carebot import appointments` is, how much memory it takes, and how long it holds
the record's writer (issue 11).

A record of a practice (default 2,000 patients, their guardians, 60 staff, care teams) is
imported through the same path a practice uses (`carebot import KIND FILE` in a subprocess),
then an appointments file of N rows (a practice's weekly visits, in start order, the next
days' visits among them) is imported into it, and again a file 5x larger into a fresh copy of
the same record. Each import runs `bot.cli.main` in its own process, which reports its wall
time, its peak RSS and how long each write transaction held the writer (storage.db's
transaction observers). Meanwhile a second writer (another process's connection, as the running
bot's would be) commits a small transaction every 50 ms and times how long each waited for the
writer. Then the first file is imported again (nothing changes), and a 60-row staff.csv
(every name changed) is re-imported into both records. Rows per second and the staff re-import's
wall time are of the import's whole process, from the outside (Python's start included).

    python bench/import_speed.py [--rows 100000] [--patients 2000] [--factor 5]

Prints one line per figure with its target. No timed assertions anywhere: the figures are for
a person to read (they move with the machine's load).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from handlers.records.imports import COLUMNS  # noqa: E402 - the headers the import requires

ZONE = ZoneInfo("America/New_York")
PRACTICE_ENV = {
    "CAREBOT_PRACTICE__NAME": "Bench Therapy",
    "CAREBOT_PRACTICE__PHONE": "+1 555 010 2030",
    "CAREBOT_PRACTICE__TIMEZONE": ZONE.key,
}
DISCIPLINES = (
    "speech-language pathology",
    "occupational therapy",
    "ABA therapy (BCBA)",
    "counselling",
    "physical therapy",
)
LOCATIONS = ("Clinic room 1", "Clinic room 2", "Clinic room 3", "Telehealth", "Home visit")
FIRST = ("Ava", "Ben", "Cleo", "Dev", "Ema", "Finn", "Gia", "Hugo", "Iris", "Jon", "Kai", "Lena")
LAST = ("Stone", "Reyes", "Okoro", "Chen", "Novak", "Haddad", "Silva", "Berg", "Ito", "Moreau")

#: What runs in each import's process: `carebot import` with its write transactions timed.
CHILD = """
import json, sys, time
from storage.db import Database

held = []
opened = Database.open.__func__

async def open_timed(cls, path):
    db = await opened(cls, path)
    db.observers.append(held.append)
    return db

Database.open = classmethod(open_timed)
from bot.cli import main

started = time.perf_counter()
code = main(sys.argv[2:])
wall = time.perf_counter() - started
# VmHWM: this process's own peak (ru_maxrss would count the bench's size, inherited at exec).
peak_kib = int(next(l.split()[1] for l in open("/proc/self/status") if l.startswith("VmHWM:")))
with open(sys.argv[1], "w") as out:
    json.dump({"code": code, "wall": wall, "peak_kib": peak_kib, "held": held}, out)
sys.exit(code)
"""


def carebot_import(db: Path, kind: str, path: Path, work: Path) -> dict[str, object]:
    """Run `carebot import KIND FILE` in a fresh process; what it measured of itself."""
    report = work / "child.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_")}
    env |= PRACTICE_ENV | {"CAREBOT_DATABASE": str(db), "PYTHONPATH": str(ROOT)}
    errors = work / "child.stderr"
    started = time.perf_counter()
    with errors.open("w") as stderr:  # a file, not a pipe: a rejection prints a line a problem
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(report), "import", kind, str(path)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    rss: list[int] = []  # the child's resident set (KiB), every 0.2 s, from /proc
    while child.poll() is None:
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
            rss.append(int(status.split("VmRSS:")[1].split()[0]))
        except (OSError, IndexError):
            pass
        time.sleep(0.2)
    if child.returncode != 0:
        tail = errors.read_text()[-2000:]
        sys.exit(f"carebot import {kind} {path.name} failed ({child.returncode}):\n{tail}")
    result = json.loads(report.read_text())
    result["outside"] = time.perf_counter() - started  # the process's whole life, from outside
    result["rss"] = rss
    return result


def write_csv(path: Path, header: list[str], rows: object) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        writer.writerows(rows)  # type: ignore[arg-type]


def people(work: Path, patients: int, rng: random.Random) -> dict[str, Path]:
    """The practice's people: patients, guardians (a family of one to three children, one or
    two guardians), 60 staff, each child's clinician and coordinator."""
    files = {kind: work / f"{kind}.csv" for kind in ("patients", "guardians", "staff", "care-team")}
    write_csv(
        files["patients"],
        list(COLUMNS["patients"]),
        (
            (
                f"p-{i:05d}",
                rng.choice(FIRST),
                rng.choice(LAST),
                (date(2010, 1, 1) + timedelta(days=rng.randrange(5000))).isoformat(),
                "es" if i % 5 == 0 else "en",
            )
            for i in range(patients)
        ),
    )
    guardians = []
    child, family = 0, 0
    while child < patients:
        children = [
            f"p-{c:05d}" for c in range(child, min(patients, child + rng.choice((1, 1, 2, 3))))
        ]
        child += len(children)
        for g in range(rng.choice((1, 1, 2))):
            gid = f"g-{family:05d}-{g}"
            person = (rng.choice(FIRST), rng.choice(LAST))  # the same on each child's row
            phone = f"+1555{family:05d}{g}"
            for patient in children:
                guardians.append(
                    (
                        gid,
                        patient,
                        *person,
                        "parent",
                        phone,
                        "es" if family % 5 == 0 else "en",
                        "yes",
                    )
                )
        family += 1
    write_csv(
        files["guardians"],
        list(COLUMNS["guardians"]),
        guardians,
    )
    write_csv(files["staff"], list(COLUMNS["staff"]), staff())
    clinicians = [s[0] for s in staff() if s[2] == "clinician"]
    write_csv(
        files["care-team"],
        list(COLUMNS["care-team"]),
        (
            pair
            for i in range(patients)
            for pair in (
                (f"p-{i:05d}", clinicians[i % len(clinicians)]),
                (f"p-{i:05d}", f"s-{50 + i % 8:03d}"),
            )
        ),
    )
    return files


def staff(renamed: bool = False) -> list[tuple[str, ...]]:
    """50 clinicians, 8 coordinators, 2 admins; ``renamed``: every name changed (a re-import
    that updates)."""
    rows = []
    for i in range(60):
        role = "clinician" if i < 50 else "coordinator" if i < 58 else "admin"
        discipline = DISCIPLINES[i % len(DISCIPLINES)] if role == "clinician" else ""
        name = f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}{' Jr' if renamed else ''}"
        rows.append((f"s-{i:03d}", name, role, discipline, f"U0BENCH{i:03d}"))
    return rows


def appointments(path: Path, rows: int, patients: int, now: datetime, rng: random.Random) -> None:
    """``rows`` visits: each patient about once a week with their clinician, in start order,
    ending about six months ahead (so the next days' visits are among them)."""
    per_week = patients
    weeks = -(-rows // per_week)
    ahead = min(26, weeks // 2)
    monday = (now.astimezone(ZONE) - timedelta(days=now.astimezone(ZONE).weekday())).date()
    first_week = monday - timedelta(weeks=weeks - ahead)
    clinicians = [s for s in staff() if s[2] == "clinician"]
    written = 0

    def visits():
        nonlocal written
        for week in range(weeks):
            week_rows = []
            for p in range(patients):
                if written >= rows:
                    break
                written += 1
                day = first_week + timedelta(weeks=week, days=p % 5)
                slot = datetime(
                    day.year, day.month, day.day, 8 + (p // 5) % 10, 15 * rng.randrange(4)
                )
                clinician = clinicians[p % len(clinicians)]
                week_rows.append(
                    (
                        slot,
                        f"a-{week:04d}-{p:05d}",
                        f"p-{p:05d}",
                        clinician[0],
                        slot.isoformat(timespec="minutes"),
                        rng.choice((30, 45, 60)),
                        clinician[3],
                        rng.choice(LOCATIONS),
                    )
                )
            week_rows.sort()
            yield from (r[1:] for r in week_rows)

    write_csv(
        path,
        list(COLUMNS["appointments"]),
        visits(),
    )


class SecondWriter(threading.Thread):
    """Another process's writer: a small transaction every 50 ms; how long each waited."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db = db
        self.waits: list[float] = []
        self.whole: list[float] = []
        self.failed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=5.0)
        conn.execute("PRAGMA busy_timeout = 5000")
        while not self.stop.wait(0.05):
            started = time.perf_counter()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                self.failed += 1
                continue
            self.waits.append(time.perf_counter() - started)
            conn.execute(
                "INSERT INTO audit_event (at, actor_type, actor_id, action, entity_type,"
                " entity_id, detail) VALUES (?, 'system', 'bench', 'bench.probe', 'bench', '', '')",
                (datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),),
            )
            conn.execute("COMMIT")
            self.whole.append(time.perf_counter() - started)
        conn.close()


def measured_import(base: Path, work: Path, name: str, path: Path) -> dict[str, object]:
    """Import ``path`` into a fresh copy of the people-only record, with a second writer."""
    db = work / f"{name}.db"
    shutil.copy(base, db)
    second = SecondWriter(db)
    second.start()
    result = carebot_import(db, "appointments", path, work)
    second.stop.set()
    second.join()
    result["db"] = db
    result["waits"] = second.waits
    result["whole"] = second.whole
    result["failed"] = second.failed
    return result


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=100_000, help="appointment rows (the first file)"
    )
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument(
        "--factor", type=int, default=5, help="the second file is this many times larger"
    )
    parser.add_argument("--keep", type=Path, help="keep the files and records in this folder")
    args = parser.parse_args()
    rng = random.Random(11)
    now = datetime.now(UTC)
    work = Path(tempfile.mkdtemp(prefix="carebot-import-bench-")) if not args.keep else args.keep
    work.mkdir(parents=True, exist_ok=True)
    try:
        base = work / "people.db"
        base.unlink(missing_ok=True)
        started = time.perf_counter()
        for kind, path in people(work, args.patients, rng).items():
            carebot_import(base, kind, path, work)
        print(
            f"record: {args.patients:,} patients, their guardians, 60 staff, care teams"
            f" (imported in {time.perf_counter() - started:.1f} s)"
        )
        sizes = (args.rows, args.rows * args.factor)
        results = []
        for rows in sizes:
            path = work / f"appointments-{rows}.csv"
            appointments(path, rows, args.patients, now, rng)
            result = measured_import(base, work, f"appointments-{rows}", path)
            results.append(result)
            size_mb = path.stat().st_size / 1e6
            print(
                f"import appointments, {rows:,} rows ({size_mb:.0f} MB):"
                f" {rows / result['outside']:,.0f} rows/s in {result['outside']:.1f} s"
                " (target: at least 10,000 rows/s)"
            )
            with closing(sqlite3.connect(result["db"])) as conn:
                planned = conn.execute("SELECT count(*) FROM reminder").fetchone()[0]
            print(f"  reminders planned by it (visits inside the planning window): {planned:,}")
            samples = [k for k in result["rss"] if k > 4096]  # past exec
            tenths = samples[:: max(1, len(samples) // 10)]
            print(
                f"  peak RSS of the import process: {result['peak_kib'] / 1024:.0f} MB; over the"
                f" run, MB: {' '.join(str(k // 1024) for k in tenths)}"
            )
            held = sorted(result["held"])
            print(
                f"  longest write transaction: {ms(held[-1])} of {len(held)}"
                f" (median {ms(held[len(held) // 2])}; target: none over 100 ms)"
            )
            waits = sorted(result["waits"]) or [0.0]
            whole = sorted(result["whole"]) or [0.0]
            print(
                f"  a second writer meanwhile: {len(result['waits'])} commits, longest wait for"
                f" the writer {ms(waits[-1])} (median {ms(waits[len(waits) // 2])}), slowest"
                f" transaction from BEGIN to COMMIT {ms(whole[-1])}, {result['failed']} gave up"
                " after 5 s (target: none)"
            )
        small, large = results
        print(
            f"peak RSS, {sizes[1]:,} rows / {sizes[0]:,} rows:"
            f" {large['peak_kib'] / small['peak_kib']:.2f} (target: flat, about 1)"
        )
        again = carebot_import(
            small["db"], "appointments", work / f"appointments-{sizes[0]}.csv", work
        )
        print(
            f"re-import of the same {sizes[0]:,} rows (nothing changes):"
            f" {sizes[0] / again['outside']:,.0f} rows/s, longest transaction"
            f" {ms(max(again['held']))}"
        )
        staff_csv = work / "staff-renamed.csv"
        write_csv(staff_csv, list(COLUMNS["staff"]), staff(True))
        for db in (small["db"], large["db"]):
            result = carebot_import(db, "staff", staff_csv, work)
            with closing(sqlite3.connect(db)) as conn:
                visits = conn.execute("SELECT count(*) FROM appointment").fetchone()[0]
            print(
                f"re-import of a 60-row staff.csv on the record of {visits:,} visits:"
                f" {result['outside']:.2f} s wall, the process's whole life (target: under 2 s),"
                f" peak RSS {result['peak_kib'] / 1024:.0f} MB"
            )
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
