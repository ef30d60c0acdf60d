"""Planning appointment reminders: as rows, a bounded window ahead, incrementally.

Planning is a reconciliation, safe to run any number of times: every booked visit inside the
window (now to the longest reminder offset plus :data:`PLAN_MARGIN`) gets a pending reminder
per guardian and offset for its *current* start; reminders for an old start (the visit moved)
are withdrawn. The dedupe key (appointment, guardian, offset, start) keeps each reminder to
one row, so one send. How far the window has been planned, and under which rules, is a row
(``reminder_planning``): each wake-up plans only what entered it since. The dispatcher that
sends what is due is :mod:`handlers.reminders.dispatcher`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from time import perf_counter

from handlers.reminders.quiet_hours import next_allowed
from storage.db import Database
from storage.models import Appointment, Guardian, Practice, Reminder
from storage.record import Record
from storage.reminders import PlannedReminder

log = logging.getLogger(__name__)


def recipient_timezone(guardian: Guardian, practice: Practice) -> str:
    return guardian.timezone or practice.timezone


#: Planning looks this far past the longest reminder offset (a visit entering the window is
#: planned well before its first reminder is due).
PLAN_MARGIN = timedelta(hours=48)
#: Visits planned per transaction at most (an import's batch, the window moving on).
PLAN_BATCH = 100
#: The window moving on is planned in transactions sized to hold the writer about this long:
#: the first takes :data:`PLAN_FIRST` visits, each next one what the last one's pace allows
#: (at most twice as many, at most :data:`PLAN_BATCH`). At 10,000 patients 100 visits held it
#: 70-135 ms when a whole day entered the window at once (after a day's downtime).
PLAN_SECONDS = 0.03
PLAN_FIRST = 20


def plan_horizon(practice: Practice) -> timedelta:
    """How far ahead reminders are planned: the longest offset plus a margin."""
    return timedelta(hours=max(practice.reminder_offsets_hours, default=0)) + PLAN_MARGIN


def planning_rules(practice: Practice) -> str:
    """What planned reminders depend on: a change of it re-plans the window."""
    quiet = f"{practice.quiet_hours_start:%H:%M}-{practice.quiet_hours_end:%H:%M}"
    return ",".join(str(h) for h in practice.reminder_offsets_hours) + "|" + quiet


async def plan_appointments(
    record: Record, practice: Practice, appointments: list[Appointment], now: datetime
) -> int:
    """Bring the reminders of these visits in line with their schedule (in the caller's
    transaction, a handful of statements for the whole list): pending reminders for a visit's
    old start are withdrawn, and every booked visit inside the planning window gets a pending
    reminder per guardian and offset for its current start. Returns how many were added."""
    booked = [a for a in appointments if a.status == "booked"]
    # Pending reminders for an old start go, whether or not the new start is in the window.
    await record.reminders.withdraw_other_starts([(a.id, a.start_at) for a in booked], now)
    until = now + plan_horizon(practice)
    visits = [a for a in booked if now < a.start_at <= until]
    if not visits:
        return 0
    existing: dict[str, list[Reminder]] = {}
    for reminder in await record.reminders.for_appointments([a.id for a in visits]):
        existing.setdefault(reminder.appointment_id, []).append(reminder)
    families = await record.people.guardians_of_patients([a.patient_id for a in visits])
    wanted: list[PlannedReminder] = []
    for appointment in visits:
        for guardian in families.get(appointment.patient_id, []):
            wanted += _plan_for(
                practice, appointment, guardian, existing.get(appointment.id, []), now
            )
    return await record.reminders.add_many(wanted, now)


async def plan_reminders(record: Record, practice: Practice, now: datetime) -> int:
    """Plan every booked visit of the window in the caller's one transaction (a small record:
    the demo, tests). A running carebot plans with :func:`plan_ahead` instead."""
    added = 0
    position = (now, "")
    until = now + plan_horizon(practice)
    while batch := await record.appointments.booked_between(position, until, PLAN_BATCH):
        added += await plan_appointments(record, practice, batch, now)
        position = (batch[-1].start_at, batch[-1].id)
    return added


async def plan_ahead(db: Database, practice: Practice, now: datetime) -> int:
    """Plan what entered the window since the last planning, in small transactions.

    The window is ``now`` to ``now`` + :func:`plan_horizon`. Only visits beyond the furthest
    point already planned are read, unless the rules (offsets, quiet hours) changed, which
    re-plans the whole window. A visit changed inside the window (an import moving it) is
    re-planned by whoever changed it. Returns how many reminders were added.
    """
    until = now + plan_horizon(practice)
    rules = planning_rules(practice)
    async with db.query() as conn:
        planned = await Record(conn).reminders.planned()
    start = now if planned is None or planned[1] != rules else max(planned[0], now)
    if planned is not None and planned[1] == rules and planned[0] >= until:
        return 0
    added = 0
    position = (start, "")
    size = PLAN_FIRST
    while True:
        started = perf_counter()
        async with db.transaction() as conn:
            record = Record(conn)
            batch = await record.appointments.booked_between(position, until, size)
            added += await plan_appointments(record, practice, batch, now)
            if len(batch) < size:
                await record.reminders.set_planned(until, rules, now)
                break
            position = (batch[-1].start_at, batch[-1].id)
            await record.reminders.set_planned(batch[-1].start_at, rules, now)
        pace = PLAN_SECONDS / max(perf_counter() - started, 1e-4)
        size = max(5, min(PLAN_BATCH, 2 * size, int(size * pace)))
    if added:
        log.info("planned %d reminders up to %s", added, until)
    return added


def _plan_for(
    practice: Practice,
    appointment: Appointment,
    guardian: Guardian,
    existing: list[Reminder],
    now: datetime,
) -> list[PlannedReminder]:
    start = appointment.start_at
    mine = [r for r in existing if r.guardian_id == guardian.id and r.appointment_start_at == start]
    already = {r.offset_hours for r in mine}
    offsets = [h for h in practice.reminder_offsets_hours if h not in already]
    future = [h for h in offsets if start - timedelta(hours=h) > now]
    past = [h for h in offsets if start - timedelta(hours=h) <= now]
    # Offsets already passed (a late booking) collapse into one reminder now, unless this
    # guardian already has a reminder (in any state) for a passed offset of this start.
    passed = {h for h in practice.reminder_offsets_hours if start - timedelta(hours=h) <= now}
    if past and not any(r.offset_hours in passed for r in mine):
        future.append(min(past))
    zone = recipient_timezone(guardian, practice)
    planned = []
    for hours in future:
        due = max(start - timedelta(hours=hours), now)
        send_at = next_allowed(due, zone, practice.quiet_hours_start, practice.quiet_hours_end)
        if send_at >= start:
            continue
        planned.append(
            PlannedReminder(
                appointment_id=appointment.id,
                guardian_id=guardian.id,
                offset_hours=hours,
                appointment_start_at=start,
                due_at=due,
                send_at=send_at,
            )
        )
    return planned
