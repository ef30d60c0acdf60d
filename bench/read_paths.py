"""The per-request read paths at a practice's size, each timed through the real code.

Builds a care record of ``--patients N`` (default 2,000; 10,000 is a large practice, "L")
quickly, by writing rows straight into SQLite with executemany (the schema is the real one,
every migration applied by ``Database.open``; the secondary indexes are dropped for the bulk
insert and created again after it, then the record is checkpointed). Per patient: 52 weekly
visits over a year, half of them past and half ahead; 1.5 guardians (two siblings share their
second guardian); one clinician of the care team; two reminders per visit (the 72- and 24-hour
ones, to the first guardian: sent for past visits, with their message, pending for future ones,
as if the whole year were planned, which is more pending reminders than the bounded planner
keeps); two messages per visit (the two reminders and, for past visits, the family's answer and
the bot's reply); two clinicians' updates; one escalation in twenty (its Slack thread post and
replies; a few still open or claimed); one handoff in a hundred. Staff: 60 per 10,000 patients
(at least 6), one coordinator in thirty. Half the guardians are on Telegram, half on SMS.

Then it times each path through the code the handlers run, on a warm connection, median of 50
after 5 untimed calls (each call a different subject: another message, family, patient or event
id; the paths take turns, one call each per round):

- a Twilio status callback: ``CareBot.delivery_status``, what the SMS adapter calls (a sent
  message reported delivered);
- ``/carebot today`` as a clinician and as the coordinator, ``/carebot patient`` by full name,
  by first name (as a coordinator: many match), by the beginning of a name and by id, and the
  Home tab of both: ``Pipeline.handle`` with the staff event the Slack adapter makes (recording
  the request durably, reading from the read-only connection);
- a family's ``/next`` and a family's button press (Confirm): ``Pipeline.handle`` with the
  Telegram event (one transaction: dedupe, record, handler, queue the reply).

What is not included: HTTP, the platforms' SDKs, Block Kit rendering, sending. Prints each
path's median and 90th percentile against its target (issue 11: a status callback under 2 ms,
the day views, ``/next`` and patient search under 20 ms), then the statements each path ran
with SQLite's plan for each (``--analyze`` runs ANALYZE first, to see the plans with
statistics; carebot itself never does).

    python bench/read_paths.py [--patients 2000] [--rounds 50] [--analyze] [--keep PATH]

bench/scale.py may import :func:`build_record`, and :func:`measure` (the medians, on any record:
its subjects are found in the record).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.app import CareBot  # noqa: E402
from bot.config import PracticeSettings, Settings, SlackSettings  # noqa: E402
from bot.practice import sync_practice  # noqa: E402
from handlers.core.events import (  # noqa: E402
    ButtonPressed,
    DeliveryReport,
    FamilyText,
    HomeOpened,
    StaffCommand,
)
from storage.clock import FakeClock, to_db  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.query_plans import Schema, capture, explain, full_scans, shape  # noqa: E402
from storage.record import Record  # noqa: E402

#: The bench's "now": a Tuesday, 10:00 in the practice's timezone.
NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
ZONE = ZoneInfo("America/New_York")
TEAM = "T0CAREBOT"
COORDINATORS = "C0COORD"
WEEKS_BACK = 26
WEEKS = 52

FIRST = (
    "Maya Leo Sofía Ethan Ava Noah Mia Liam Zoë Lucas Emma Mateo Olivia Elijah Amelia James"
    " Isabella Benjamin Harper Henry Evelyn Theo Luna Jack Camila Levi Gianna Asher Aria José"
    " Chloe Owen Layla Wyatt Nora Caleb Lily Isaac Ellie Jayden Hazel Julian Aurora Ezra Violet"
    " Hudson Stella Miles Zoey Nico Ivy Luca Naomi Kai Elena Rowan Maria Ian Sara Adam Lucía"
    " Omar Ruby Eli Alice Felix Clara Hugo Iris Jonah Lena Oscar Mila Reza Nadia Sami Yara Tomás"
    " Ana Diego Paula Marco Inés Pablo Rosa Andrés Carmen Rafael Elisa Simón Julia Bruno Alma"
    " Dario Vera Emil Greta Arlo Fiona"
).split()
LAST = (
    "Rivera Lopez Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez"
    " Hernandez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson"
    " White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott"
    " Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Campbell Mitchell Carter Roberts"
    " Gómez Phillips Evans Turner Díaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales"
    " Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos"
    " Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes"
    " Price Alvarez Castillo Sanders Patel Myers Long Ross Foster"
).split()
SERVICES = ("speech therapy", "occupational therapy", "ABA session", "counselling")


@dataclass(frozen=True)
class Size:
    patients: int
    guardians: int
    staff: int
    coordinators: int
    visits: int
    reminders: int
    messages: int
    seconds: float

    @property
    def clinicians(self) -> int:
        return self.staff - self.coordinators


def staff_count(patients: int) -> tuple[int, int]:
    """(staff, coordinators) for a practice of this many patients."""
    staff = max(6, round(60 * patients / 10_000))
    return staff, max(1, staff // 30)


def patient_id(p: int) -> str:
    return f"p-{p:05d}"


def patient_name(p: int) -> tuple[str, str]:
    return FIRST[p % len(FIRST)], LAST[(p // len(FIRST)) % len(LAST)]


def clinician_of(p: int, coordinators: int, clinicians: int) -> int:
    """The staff index of patient p's clinician (independent of the weekday, p % 5)."""
    return coordinators + (p // 5) % clinicians


def guardian_address(g: int) -> tuple[str, str]:
    """(channel, address): even guardians on Telegram, odd ones by text."""
    if g % 2 == 0:
        return "telegram", f"telegram:{100_000 + g}"
    return "sms", f"sms:+1555{g:07d}"


def first_visit(p: int, coordinators: int, clinicians: int) -> datetime:
    """Patient p's first weekly visit: weekday p % 5, a half-hour slot between 8:00 and 17:30."""
    monday = (NOW.astimezone(ZONE) - timedelta(weeks=WEEKS_BACK)).date()
    monday -= timedelta(days=monday.weekday())
    slot = ((p // 5) // clinicians) % 20
    return datetime.combine(
        monday + timedelta(days=p % 5), clock_time(8 + slot // 2, 30 * (slot % 2)), ZONE
    )


def _drop_secondary_indexes(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    for name, _sql in rows:
        conn.execute(f"DROP INDEX {name}")
    return [sql for _name, sql in rows]


async def build_record(path: Path, patients: int, now: datetime = NOW) -> Size:
    """A care record of ``patients`` patients at ``path`` (see the module's docstring)."""
    started = time.perf_counter()
    db = await Database.open(path)
    settings = bench_settings(path)
    await sync_practice(db, settings, now)
    await db.close()
    staff, coordinators = staff_count(patients)
    clinicians = staff - coordinators
    n_guardians = patients + patients // 2
    stamp = to_db(now - timedelta(days=400))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN")
        indexes = _drop_secondary_indexes(conn)
        conn.executemany(
            "INSERT INTO staff (id, name, role, discipline, slack_user_id, created_at,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    f"s-{i}",
                    f"{FIRST[(i * 7) % len(FIRST)]} {LAST[(i * 11) % len(LAST)]}",
                    "coordinator" if i < coordinators else "clinician",
                    "" if i < coordinators else SERVICES[i % len(SERVICES)],
                    f"U{1000 + i}",
                    stamp,
                    stamp,
                )
                for i in range(staff)
            ),
        )
        conn.executemany(
            "INSERT INTO patient (id, first_name, last_name, date_of_birth, language,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (patient_id(p), *patient_name(p), f"{2012 + p % 10}-0{1 + p % 9}-1{p % 9}",
                 "es" if p % 4 == 0 else "en", stamp, stamp)
                for p in range(patients)
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO guardian (id, first_name, last_name, phone, language, sms_consent,"
            " timezone, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)",
            (
                (f"g-{g}", FIRST[(g * 13 + 5) % len(FIRST)], patient_name(g % patients)[1],
                 f"+1555{g:07d}" if g % 2 else None, "es" if g % 4 == 0 else "en",
                 g % 2, stamp, stamp)
                for g in range(n_guardians)
            ),
        )  # fmt: skip
        conn.executemany(
            "INSERT INTO guardian_patient (guardian_id, patient_id, relationship,"
            " may_receive_updates) VALUES (?, ?, ?, 1)",
            itertools.chain(
                ((f"g-{p}", patient_id(p), "mother") for p in range(patients)),
                ((f"g-{patients + p // 2}", patient_id(p), "father") for p in range(patients)),
            ),
        )
        conn.executemany(
            "INSERT INTO channel_identity (channel, address, guardian_id, verified_at,"
            " consent_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            ((*guardian_address(g), f"g-{g}", stamp, stamp, stamp) for g in range(n_guardians)),
        )
        conn.executemany(
            "INSERT INTO care_team (patient_id, staff_id, added_at) VALUES (?, ?, ?)",
            (
                (patient_id(p), f"s-{clinician_of(p, coordinators, clinicians)}", stamp)
                for p in range(patients)
            ),
        )
        ids = itertools.count(1)
        visits = _Visits(patients, coordinators, clinicians, now, ids)
        conn.executemany(_APPOINTMENT, visits.appointments())
        conn.executemany(_MESSAGE, visits.messages())
        conn.executemany(_REMINDER, visits.reminders())
        others = _escalations_and_updates(conn, patients, coordinators, clinicians, now, ids)
        for sql in indexes:
            conn.execute(sql)
        conn.execute("COMMIT")
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    return Size(
        patients,
        n_guardians,
        staff,
        coordinators,
        visits.visit_count,
        visits.reminder_count,
        visits.message_count + others,
        time.perf_counter() - started,
    )


_APPOINTMENT = (
    "INSERT INTO appointment (id, patient_id, staff_id, start_at, duration_minutes, service,"
    " location, status, participant_status, answered_by_guardian_id, answered_at,"
    " cancellation_reason, reschedule_requested_at, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, 45, ?, 'Room 1', ?, ?, ?, ?, ?, NULL, ?, ?)"
)
_MESSAGE = (
    "INSERT INTO message (id, direction, channel, address, guardian_id, template, body, status,"
    " provider_message_id, attempts, not_before, created_at, sent_at, parts_sent,"
    " thread_message_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_REMINDER = (
    "INSERT INTO reminder (appointment_id, guardian_id, offset_hours, appointment_start_at,"
    " due_at, send_at, status, message_id, dedupe_key, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


@dataclass
class _Visits:
    """The year of visits, their reminders and messages, generated in passes over the same
    deterministic series (each pass a generator: nothing is held in memory)."""

    patients: int
    coordinators: int
    clinicians: int
    now: datetime
    ids: Iterator[int]
    visit_count: int = 0
    reminder_count: int = 0
    message_count: int = 0
    #: Message ids of each past visit's two reminders, assigned by :meth:`messages`.
    reminder_messages: dict[str, tuple[int, int]] = field(default_factory=dict)

    def series(self) -> Iterator[tuple[int, int, str, datetime]]:
        """(patient, week, appointment id, start in UTC) for every visit."""
        for p in range(self.patients):
            first = first_visit(p, self.coordinators, self.clinicians)
            for week in range(WEEKS):
                local = datetime.combine(first.date() + timedelta(weeks=week), first.time(), ZONE)
                yield p, week, f"a-{p:05d}-{week:02d}", local.astimezone(UTC)

    def appointments(self) -> Iterator[tuple[object, ...]]:
        stamp = to_db(self.now - timedelta(days=200))
        for p, week, appointment_id, start in self.series():
            self.visit_count += 1
            past = start < self.now
            roll = (p * 31 + week * 7) % 20
            if past:
                status = "cancelled" if roll == 0 else "noshow" if roll == 1 else "fulfilled"
            else:
                status = "booked"
            answered = past or (start - self.now < timedelta(days=3) and roll < 12)
            participant = (
                "declined" if status == "cancelled" else "accepted" if answered else "needs-action"
            )
            answered_at = to_db(start - timedelta(hours=20)) if answered else None
            yield (
                appointment_id,
                patient_id(p),
                f"s-{clinician_of(p, self.coordinators, self.clinicians)}",
                to_db(start),
                SERVICES[p % len(SERVICES)],
                status,
                participant,
                f"g-{p}" if answered else None,
                answered_at,
                "sick" if status == "cancelled" else None,
                stamp,
                stamp,
            )

    def messages(self) -> Iterator[tuple[object, ...]]:
        """Per past visit: the two reminders (delivered), the family's answer, the reply."""
        for p, _week, appointment_id, start in self.series():
            if start >= self.now:
                continue
            channel, address = guardian_address(p)
            guardian = f"g-{p}"
            first, last = patient_name(p)
            pair = []
            for hours in (72, 24):
                message_id = next(self.ids)
                pair.append(message_id)
                at = to_db(start - timedelta(hours=hours))
                yield (
                    message_id, "out", channel, address, guardian, "reminder",
                    f"Bright Steps Therapy: {first} has an appointment on {at[:10]}."
                    " Reply 1 to confirm, 2 to cancel, 3 to reschedule.",
                    "delivered", _provider_id(channel, message_id), 1, at, at, at, 1, None,
                )  # fmt: skip
            self.reminder_messages[appointment_id] = (pair[0], pair[1])
            at = to_db(start - timedelta(hours=20))
            message_id = next(self.ids)
            yield (
                message_id, "in", channel, address, guardian, "", "1", "received",
                _provider_id(channel, message_id, inbound=True), 0, at, at, None, 0, None,
            )  # fmt: skip
            message_id = next(self.ids)
            yield (
                message_id, "out", channel, address, guardian, "confirmed",
                f"Thank you! {first}'s appointment is confirmed.", "sent",
                _provider_id(channel, message_id), 1, at, at, at, 1, None,
            )  # fmt: skip
            self.message_count += 4

    def reminders(self) -> Iterator[tuple[object, ...]]:
        for p, _week, appointment_id, start in self.series():
            sent = self.reminder_messages.get(appointment_id)
            for i, hours in enumerate((72, 24)):
                self.reminder_count += 1
                due = to_db(start - timedelta(hours=hours))
                yield (
                    appointment_id, f"g-{p}", hours, to_db(start), due, due,
                    "sent" if sent else "pending", sent[i] if sent else None,
                    f"{appointment_id}|g-{p}|{hours}|{to_db(start)}", due, due,
                )  # fmt: skip


def _provider_id(channel: str, message_id: int, inbound: bool = False) -> str:
    if channel == "sms":
        return f"SM{'in' if inbound else ''}{message_id:030x}"
    return str(message_id)


def _escalations_and_updates(
    conn: sqlite3.Connection,
    patients: int,
    coordinators: int,
    clinicians: int,
    now: datetime,
    ids: Iterator[int],
) -> int:
    """One escalation in twenty patients (the last 20 open, 10 of them claimed by the first
    coordinator), each with its thread post and two replies; two updates per patient; one
    handoff per hundred patients (three pending for the first clinician). Returns the
    messages written."""
    count = max(30, patients // 20)
    written = 0
    messages, escalations = [], []
    for e in range(count):
        p = (e * 7919) % patients
        at = now - timedelta(days=(count - e) * 300 / count, hours=1)
        channel, address = guardian_address(p)
        inbound, post = next(ids), next(ids)
        messages.append(
            (inbound, "in", channel, address, f"g-{p}", "", "Can we talk?", "received",
             _provider_id(channel, inbound, inbound=True), 0, to_db(at), to_db(at), None, 0, None)
        )  # fmt: skip
        messages.append(
            (post, "out", "slack", f"slack:{COORDINATORS}", None, "staff",
             f"A family needs a person — escalation #{e + 1}", "sent",
             f"{int(at.timestamp())}.{post:06d}", 1, to_db(at), to_db(at), to_db(at), 1, None)
        )  # fmt: skip
        for _reply in range(2):
            reply_id = next(ids)
            messages.append(
                (reply_id, "out", "slack", f"slack:{COORDINATORS}", None, "staff",
                 "*Family:*\n> Thanks", "sent", f"{int(at.timestamp())}.{reply_id:06d}",
                 1, to_db(at), to_db(at), to_db(at), 1, post)
            )  # fmt: skip
        written += 4
        state = "resolved" if e < count - 20 else "claimed" if e < count - 10 else "open"
        escalations.append(
            (f"g-{p}", patient_id(p), channel, address, state,
             "s-0" if state != "open" else None, to_db(at) if state != "open" else None,
             "s-0" if state == "resolved" else None, to_db(at) if state == "resolved" else None,
             post, to_db(at), to_db(at + timedelta(minutes=15)) if state != "resolved" else None,
             to_db(at), to_db(at))
        )  # fmt: skip
    conn.executemany(_MESSAGE, messages)
    conn.executemany(
        "INSERT INTO escalation (guardian_id, patient_id, family_channel, family_address,"
        " family_language, reason, urgent, status, claimed_by, claimed_at, resolved_by,"
        " resolved_at, thread_message_id, last_family_at, next_check_at, created_at,"
        " updated_at) VALUES (?, ?, ?, ?, 'en', 'not-understood', 0, ?, ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?)",
        escalations,
    )
    conn.executemany(
        "INSERT INTO care_update (patient_id, staff_id, audience, body, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (
            (patient_id(p), f"s-{clinician_of(p, coordinators, clinicians)}",
             "family" if u else "care-team", "Worked on turn-taking today.",
             to_db(now - timedelta(days=30 * u + p % 30)))
            for p in range(patients)
            for u in range(2)
        ),
    )  # fmt: skip
    handoffs = []
    for h in range(max(5, patients // 100)):
        p = (h * 104_729) % patients
        pending = h < 3
        handoffs.append(
            (patient_id(p), f"s-{clinician_of(p, coordinators, clinicians)}",
             f"s-{coordinators}", "Summary", "", (now + timedelta(days=7)).date().isoformat(),
             "pending" if pending else "acknowledged", None if pending else to_db(now),
             to_db(now + timedelta(days=1)), to_db(now - timedelta(days=h)))
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO handoff (patient_id, from_staff_id, to_staff_id, summary, open_items,"
        " effective_date, tell_family, status, acknowledged_at, ack_due_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
        handoffs,
    )
    return written


def bench_settings(path: Path) -> Settings:
    return Settings(
        database=str(path),
        slack=SlackSettings(escalation_channel=COORDINATORS),
        practice=PracticeSettings(
            name="Bright Steps Therapy", phone="+1 555 010 2030", timezone=ZONE.key
        ),
    )


@dataclass
class Timing:
    name: str
    target_ms: float | None
    samples: list[float]
    #: shape -> (a statement as it ran, its plan, the plan's full scans)
    plans: dict[str, tuple[str, list[str], list[str]]] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        return statistics.quantiles(self.samples, n=10)[-1] if len(self.samples) > 1 else 0.0

    @property
    def verdict(self) -> str:
        if self.target_ms is None:
            return ""
        return "ok" if self.median < self.target_ms else "OVER"


@dataclass(frozen=True)
class Subjects:
    """Who and what the paths are timed with, found in the record (any record: this bench's, or
    one bench/scale.py imported): each call takes the next one."""

    coordinator: str  # Slack user ids
    clinician: str
    patients: list[tuple[str, str, str]]  # the clinician's: (id, first name, last name)
    first_names: list[str]
    families: list[tuple[str, str, str]]  # (channel, address, guardian id) with a booked visit
    sent_sms: list[str]  # provider ids of texts sent, not yet reported delivered

    @classmethod
    def find(cls, path: Path, now: datetime, count: int) -> Subjects:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:

            def column(sql: str, *params: object) -> list[object]:
                return [row[0] for row in conn.execute(sql, params)]

            coordinator = column(
                "SELECT slack_user_id FROM staff WHERE role IN ('coordinator', 'admin')"
                " AND slack_user_id IS NOT NULL ORDER BY id LIMIT 1"
            )
            clinician = conn.execute(
                "SELECT s.id, s.slack_user_id FROM staff s JOIN care_team ct ON ct.staff_id = s.id"
                " WHERE s.role = 'clinician' AND s.slack_user_id IS NOT NULL"
                " GROUP BY s.id ORDER BY COUNT(*) DESC, s.id LIMIT 1"
            ).fetchone()
            if not coordinator or clinician is None:
                raise SystemExit("the record has no coordinator or clinician with a Slack account")
            patients = conn.execute(
                "SELECT p.id, p.first_name, p.last_name FROM patient p JOIN care_team ct"
                " ON ct.patient_id = p.id WHERE ct.staff_id = ? ORDER BY p.id LIMIT ?",
                (clinician[0], count),
            ).fetchall()
            first_names = column(
                "SELECT first_name FROM patient GROUP BY first_name ORDER BY COUNT(*) DESC LIMIT ?",
                count,
            )
            families = conn.execute(
                "SELECT ci.channel, ci.address, ci.guardian_id FROM channel_identity ci"
                " WHERE ci.guardian_id IS NOT NULL AND ci.verified_at IS NOT NULL"
                " AND ci.consent_at IS NOT NULL AND ci.opted_out_at IS NULL"
                " AND ci.blocked_at IS NULL AND ci.channel IN ('telegram', 'sms')"
                " AND EXISTS (SELECT 1 FROM guardian_patient gp JOIN appointment a"
                " ON a.patient_id = gp.patient_id WHERE gp.guardian_id = ci.guardian_id"
                " AND a.status = 'booked' AND a.start_at > ?)"
                " ORDER BY ci.channel = 'telegram' DESC, ci.id LIMIT ?",
                (to_db(now), count),
            ).fetchall()
            sent_sms = column(
                "SELECT provider_message_id FROM message WHERE channel = 'sms'"
                " AND direction = 'out' AND status = 'sent' AND provider_message_id IS NOT NULL"
                " ORDER BY id DESC LIMIT ?",
                count,
            )
        if not (patients and first_names and families and sent_sms):
            raise SystemExit("the record lacks patients, families with a visit, or sent texts")
        return cls(
            str(coordinator[0]),
            clinician[1],
            [tuple(p) for p in patients],
            [str(f) for f in first_names],
            [tuple(f) for f in families],
            [str(s) for s in sent_sms],
        )


async def time_paths(
    path: Path, rounds: int = 50, warm: int = 5, now: datetime = NOW
) -> list[Timing]:
    """Time each read path ``rounds`` times (after ``warm`` untimed calls) on the record at
    ``path``, the clock at ``now``; each path's statements are explained afterwards."""
    n = rounds + warm  # calls of each path, and one more whose statements are explained
    subjects = Subjects.find(path, now, n + 1)
    clock = FakeClock(now)
    db = await Database.open(path)
    carebot = CareBot(bench_settings(path), db, clock)
    events = itertools.count(1)
    run_id = secrets.token_hex(4)  # event ids new to the record, even when measuring it again

    def event_id() -> str:
        return f"bench-{run_id}-{next(events)}"

    def staff_event(
        user: str, text: Callable[[int], str] | None = None
    ) -> Callable[[int], Awaitable[object]]:
        """The home tab opened by ``user``, or (with ``text``) their ``/carebot`` command."""

        async def call(i: int) -> object:
            where = {
                "channel": "slack",
                "address": f"slack:{TEAM}/{user}",
                "conversation": "C0STAFF",
            }
            if text is None:
                return await carebot.pipeline.handle(HomeOpened(event_id=event_id(), **where))
            return await carebot.pipeline.handle(
                StaffCommand(event_id=event_id(), text=f"/carebot {text(i)}", **where)
            )

        return call

    command = staff_event

    def pick(items: list[Any], i: int) -> Any:
        return items[i % len(items)]

    tokens = await _buttons(db, [g for _c, _a, g in subjects.families], now)

    def delivered(provider_id: str) -> DeliveryReport:
        return DeliveryReport(
            channel="sms",
            address="sms:",
            event_id=f"{provider_id}:delivered",
            provider_message_id=provider_id,
            status="delivered",
        )

    async def status_callback(i: int) -> object:
        return await carebot.delivery_status(delivered(pick(subjects.sent_sms, i)))

    async def family(i: int, text: str | None = None, choice: str | None = None) -> object:
        channel, address, _guardian = pick(subjects.families, i)
        sms = channel == "sms"
        if choice is not None:
            return await carebot.pipeline.handle(
                ButtonPressed(channel=channel, address=address, event_id=event_id(), choice=choice)
            )
        return await carebot.pipeline.handle(
            FamilyText(
                channel=channel,
                address=address,
                event_id=event_id(),
                text=("NEXT" if sms else text) or "",
                numbered_replies=sms,
                carrier_keywords=sms,
            )
        )

    coordinator, clinician, mine = subjects.coordinator, subjects.clinician, subjects.patients
    paths: list[tuple[str, float | None, Callable[[int], Awaitable[object]]]] = [
        ("Twilio status callback (sent -> delivered)", 2, status_callback),
        ("/carebot today, a clinician", 20, command(clinician, lambda i: "today")),
        ("/carebot today, the coordinator", 20, command(coordinator, lambda i: "today")),
        ("/next, a family", 20, lambda i: family(i, text="/next")),
        (
            "/carebot patient <full name>, a clinician",
            20,
            command(clinician, lambda i: "patient {1} {2}".format(*pick(mine, i))),
        ),
        (
            "/carebot patient <first name>, the coordinator",
            20,
            command(coordinator, lambda i: f"patient {pick(subjects.first_names, i)}"),
        ),
        (
            "/carebot patient <beginning>, a clinician",
            20,
            command(clinician, lambda i: f"patient {pick(mine, i)[1][:3]}"),
        ),
        (
            "/carebot patient <id>, the coordinator",
            20,
            command(coordinator, lambda i: f"patient {pick(mine, i)[0]}"),
        ),
        ("Home tab, a clinician", 20, staff_event(clinician)),
        ("Home tab, the coordinator", 20, staff_event(coordinator)),
        ("a family's button press (Confirm)", None, lambda i: family(i, choice=pick(tokens, i))),
    ]
    timings = [Timing(name, target, []) for name, target, _call in paths]
    plan_conn = sqlite3.connect(path)
    schema = Schema.of(plan_conn)
    try:
        # Round by round, every path once per round: a moment of load on this shared machine
        # falls on all paths alike, not on one path's block of calls.
        for i in range(n):
            for timing, (_name, _target, call) in zip(timings, paths, strict=True):
                started = time.perf_counter()
                await call(i)
                if i >= warm:
                    timing.samples.append((time.perf_counter() - started) * 1000)
        for timing, (_name, _target, call) in zip(timings, paths, strict=True):
            async with capture(db) as captured:  # one more call, untimed, for its statements
                await call(n)
            for _flow, sql in captured.distinct().values():
                plan = explain(plan_conn, sql)
                if plan:
                    timing.plans[shape(sql)] = (sql, plan, full_scans(sql, plan, schema))
    finally:
        plan_conn.close()
        await carebot.stop()
        await db.close()
    return timings


async def measure(
    path: Path, rounds: int = 50, now: datetime | None = None, plans: list[str] | None = None
) -> dict[str, float]:
    """Each read path's median in ms on the record at ``path`` (for bench/scale.py): the clock
    at ``now``, by default the real time (a record imported around today). ``plans``, if
    given, receives the lines of each path's statements with SQLite's plan."""
    timings = await time_paths(path, rounds, now=now or datetime.now(UTC))
    if plans is not None:
        plans.extend(plan_lines(timings))
    return {f"{t.name}: median ms": round(t.median, 2) for t in timings}


async def _buttons(db: Database, guardians: list[str], now: datetime) -> list[str]:
    """A Confirm token for each guardian's next visit (as its reminder would carry)."""
    tokens = []
    async with db.transaction() as conn:
        record = Record(conn)
        for guardian in guardians:
            [visit] = await record.appointments.upcoming_for_guardian(guardian, now, 1)
            tokens.append(
                await record.tokens.issue(
                    action="confirm",
                    guardian_id=guardian,
                    now=now,
                    appointment_id=visit.id,
                    appointment_start_at=visit.start_at,
                )
            )
    return tokens


def report(size: Size, timings: list[Timing], analyzed: bool) -> None:
    print(
        f"record: {size.patients:,} patients, {size.guardians:,} guardians, {size.staff} staff"
        f" ({size.coordinators} coordinators), {size.visits:,} visits, {size.reminders:,}"
        f" reminders, {size.messages:,} messages; built in {size.seconds:.0f} s"
        + ("; ANALYZE run" if analyzed else "")
    )
    width = max(len(t.name) for t in timings)
    print(f"\n{'path':<{width}}  median     p90   target")
    for t in timings:
        target = f"< {t.target_ms:g} ms" if t.target_ms is not None else "—"
        print(f"{t.name:<{width}}  {t.median:6.2f}  {t.p90:6.2f}   {target:<8} {t.verdict}")
    print("\nqueries of each path (one call), with SQLite's plan:")
    for line in plan_lines(timings):
        print(line)


def plan_lines(timings: list[Timing]) -> list[str]:
    lines = []
    for t in timings:
        lines.append(f"\n{t.name}")
        for sql, plan, scans in t.plans.values():
            flag = "   <-- scans a growing table" if scans else ""
            lines.append(f"  {shape(sql)[:160]}{flag}")
            lines.extend(f"      {line}" for line in plan)
    return lines


def _fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--analyze", action="store_true", help="run ANALYZE before measuring")
    parser.add_argument("--keep", type=Path, help="build the record here and keep it")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        if args.keep:
            path = _fresh(args.keep)
        else:
            path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "carebot.db"
        size = await build_record(path, args.patients)
        if args.analyze:
            with contextlib.closing(sqlite3.connect(path)) as conn:
                conn.execute("ANALYZE")
        timings = await time_paths(path, args.rounds)
        report(size, timings, args.analyze)


if __name__ == "__main__":
    asyncio.run(main())
