"""The demo practice: the promised shape, and loading it twice changes nothing."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.core.content import Rich
from handlers.records.demo import (
    DEMO_PRACTICE,
    DEMO_SPANISH_GUARDIAN,
    DEMO_SPANISH_PATIENTS,
    DEMO_TWO_CHILD_GUARDIAN,
    DEMO_TWO_CHILD_PATIENTS,
    load_demo,
    week_days,
)
from handlers.reminders.planning import plan_reminders
from storage.clock import FakeClock
from storage.db import Database
from storage.models import Appointment
from storage.record import Record
from tests.harness import Harness

TABLES = (
    "practice",
    "patient",
    "guardian",
    "guardian_patient",
    "staff",
    "care_team",
    "appointment",
    "reminder",
)
NEW_YORK = ZoneInfo("America/New_York")


async def dump(
    db: Database, tables: tuple[str, ...] = TABLES
) -> dict[str, list[tuple[object, ...]]]:
    found: dict[str, list[tuple[object, ...]]] = {}
    async with db.read() as conn:
        for table in tables:
            cur = await conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
            found[table] = [tuple(row) for row in await cur.fetchall()]
    return found


async def all_appointments(record: Record) -> list[Appointment]:
    cur = await record.conn.execute("SELECT id FROM appointment ORDER BY start_at, id")
    found = [await record.appointments.get(row[0]) for row in await cur.fetchall()]
    return [a for a in found if a is not None]


async def test_the_demo_has_the_promised_shape(db: Database, clock: FakeClock) -> None:
    summary = await load_demo(db, clock.now())
    assert (summary.staff, summary.patients, summary.guardians) == (6, 12, 11)
    assert str(summary).startswith("6 staff, 12 patients, 11 guardians, 19 appointments")
    async with db.read() as conn:
        record = Record(conn)
        assert await record.practice.get() == DEMO_PRACTICE
        staff = [await record.people.staff(i) for i in sorted(await record.people.staff_ids())]
        roles = [s.role for s in staff if s]
        assert roles.count("coordinator") >= 1 and roles.count("admin") == 1
        disciplines = {s.discipline for s in staff if s and s.role == "clinician"}
        assert len(disciplines) >= 4
        assert all(s and re.fullmatch(r"U0DEMO\d\d", s.slack_user_id or "") for s in staff)

        # One guardian, two children, seen the same day back to back.
        children = await record.people.children(DEMO_TWO_CHILD_GUARDIAN)
        assert sorted(p.id for p in children) == sorted(DEMO_TWO_CHILD_PATIENTS)
        appointments = await all_appointments(record)
        for patients in (DEMO_TWO_CHILD_PATIENTS, DEMO_SPANISH_PATIENTS):
            first, second = [a for a in appointments if a.patient_id in patients]
            assert (
                first.start_at.astimezone(NEW_YORK).date()
                == second.start_at.astimezone(NEW_YORK).date()
            )
            assert first.start_at + timedelta(minutes=first.duration_minutes) == second.start_at

        spanish = await record.people.guardian(DEMO_SPANISH_GUARDIAN)
        assert spanish is not None and spanish.language == "es"
        kids = await record.people.children(DEMO_SPANISH_GUARDIAN)
        assert sorted(p.id for p in kids) == sorted(DEMO_SPANISH_PATIENTS)
        assert {p.language for p in kids} == {"es"}

        for guardian_id in await record.people.guardian_ids():
            guardian = await record.people.guardian(guardian_id)
            assert guardian is not None and guardian_id.startswith("g-")
            assert guardian.phone is None or re.fullmatch(r"\+1555010\d{4}", guardian.phone)
            assert not guardian.sms_consent or guardian.phone
        assert {
            g.sms_consent
            for g in [await record.people.guardian(i) for i in await record.people.guardian_ids()]
            if g
        } == {True, False}

        today = clock.now().astimezone(NEW_YORK).date()
        for appointment in appointments:
            local = appointment.start_at.astimezone(NEW_YORK)
            end = local + timedelta(minutes=appointment.duration_minutes)
            assert today <= local.date() < today + timedelta(days=7)
            assert local.weekday() < 5
            assert time(8) <= local.time() and end.time() <= time(18) and end.date() == local.date()
            assert 30 <= appointment.duration_minutes <= 60
            clinician = await record.people.staff(appointment.staff_id)
            assert clinician is not None and clinician.role == "clinician"
            assert appointment.service == clinician.discipline
            assert clinician.id in {
                s.id for s in await record.people.care_team(appointment.patient_id)
            }
            assert (appointment.status, appointment.participant_status) == (
                "booked",
                "needs-action",
            )
        # Every future visit has a pending reminder for each guardian.
        for appointment in await record.appointments.booked_after(clock.now()):
            guardians = {g.id for g in await record.people.guardians_of(appointment.patient_id)}
            reminders = await record.reminders.for_appointment(appointment.id)
            assert {r.guardian_id for r in reminders if r.status == "pending"} == guardians


async def test_loading_twice_changes_nothing(db: Database, clock: FakeClock) -> None:
    await load_demo(db, clock.now())
    before = await dump(db)
    await load_demo(db, clock.now())
    after = await dump(db)
    assert {t: rows for t, rows in after.items() if t != "reminder"} == {
        t: rows for t, rows in before.items() if t != "reminder"
    }
    # The reminders first planned are all still there, unchanged, and none was added.
    assert after["reminder"] == before["reminder"]


async def test_planning_twice_adds_no_reminder(db: Database, clock: FakeClock) -> None:
    await load_demo(db, clock.now())
    async with db.transaction() as conn:
        record = Record(conn)
        practice = await record.practice.get()
        assert practice is not None
        assert await plan_reminders(record, practice, clock.now()) == 0


async def test_the_operators_practice_wins(db: Database, clock: FakeClock) -> None:
    own = DEMO_PRACTICE.model_copy(
        update={"name": "Little Oaks Clinic", "timezone": "America/Chicago"}
    )
    async with db.transaction() as conn:
        await Record(conn).practice.save(own, clock.now())
    await load_demo(db, clock.now())
    async with db.read() as conn:
        record = Record(conn)
        assert await record.practice.get() == own
        # The demo's visits are placed in the practice's own local time.
        first = await record.appointments.get("a-demo-01")
        assert first is not None
        assert first.start_at.astimezone(ZoneInfo("America/Chicago")).time() == time(10)


async def test_the_demo_day_is_a_full_one_for_the_coordinator(
    db: Database, clock: FakeClock
) -> None:
    """The coordinator's /carebot today on the demo's first day: every clinician at work and
    most families seen, not two visits in an empty week."""
    await load_demo(db, clock.now())
    harness = Harness(db, clock)
    [day] = (await harness.command("U0DEMO05", "today")).shown
    text = day.text.plain() if isinstance(day.text, Rich) else str(day.text)
    assert "7 appointments:" in text
    for clinician in ("Dana Rivera", "Chidi Okafor", "Linh Nguyen", "Samir Haddad"):
        assert clinician in text
    assert len(re.findall(r"^• ", text, flags=re.M)) == 7


def test_a_demo_loaded_after_hours_or_at_the_weekend_has_its_week_ahead() -> None:
    friday_night = datetime(2026, 11, 27, 22, 0, tzinfo=NEW_YORK)
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=NEW_YORK)
    monday_morning = datetime(2026, 11, 30, 7, 0, tzinfo=NEW_YORK)
    for loaded in (friday_night, saturday, monday_morning):
        days = week_days(loaded, NEW_YORK, time(18))
        assert days[0] == date(2026, 11, 30)
        assert [d.weekday() for d in days] == [0, 1, 2, 3, 4]
