"""The contract of storage/appointments.py (AppointmentRepo): what the schedule promises."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.appointments import appointment_of
from storage.models import Appointment
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)  # Thursday 3:30 PM in New York
STAMP = "2026-11-20T15:00:00Z"


async def _people(record: Record) -> None:
    """Patients p-1, p-2 (children of g-1) and p-3 (of g-2); clinicians s-1 and s-2."""
    conn = record.conn
    await conn.executemany(
        "INSERT INTO patient VALUES (?, ?, 'Family', '2018-01-01', 'en', ?, ?)",
        [(p, f"Child {p}", STAMP, STAMP) for p in ("p-1", "p-2", "p-3")],
    )
    await conn.executemany(
        "INSERT INTO guardian VALUES (?, 'Parent', 'Family', NULL, 'en', 0, NULL, ?, ?)",
        [(g, STAMP, STAMP) for g in ("g-1", "g-2")],
    )
    await conn.executemany(
        "INSERT INTO guardian_patient VALUES (?, ?, 'mother', 1)",
        [("g-1", "p-1"), ("g-1", "p-2"), ("g-2", "p-3")],
    )
    await conn.executemany(
        "INSERT INTO staff (id, name, role, discipline, slack_user_id, created_at, updated_at)"
        " VALUES (?, ?, 'clinician', '', NULL, ?, ?)",
        [("s-1", "Clinician One", STAMP, STAMP), ("s-2", "Clinician Two", STAMP, STAMP)],
    )


def _visit(
    appointment_id: str, start: datetime, patient: str = "p-1", **fields: object
) -> Appointment:
    data: dict[str, object] = {
        "id": appointment_id,
        "patient_id": patient,
        "staff_id": "s-1",
        "start_at": start,
        "duration_minutes": 45,
        "service": "speech therapy",
        "location": "Room 2",
        "status": "booked",
        "participant_status": "needs-action",
        "answered_by_guardian_id": None,
        "answered_at": None,
        "cancellation_reason": None,
        "reschedule_requested_at": None,
    }
    return Appointment.model_validate(data | fields)


async def _save(record: Record, *visits: Appointment) -> None:
    for visit in visits:
        await record.appointments.save(visit, NOW)


async def test_a_saved_appointment_reads_back_whole_with_its_start_as_utc(record: Record) -> None:
    await _people(record)
    local = VISIT.astimezone(ZoneInfo("America/New_York"))
    await _save(record, _visit("a-1", local))

    got = await record.appointments.get("a-1")

    assert got == _visit("a-1", VISIT)
    assert got is not None and got.start_at.utcoffset() == timedelta(0)
    stored = await (await record.conn.execute("SELECT start_at FROM appointment")).fetchone()
    assert stored is not None and stored[0] == "2026-11-26T20:30:00Z"


async def test_an_unknown_appointment_reads_as_none(record: Record) -> None:
    assert await record.appointments.get("a-missing") is None


async def test_saving_an_existing_id_replaces_its_fields_and_keeps_one_row(record: Record) -> None:
    await _people(record)
    await _save(record, _visit("a-1", VISIT))
    moved = _visit("a-1", VISIT + timedelta(days=1), staff_id="s-2", location="Room 5")
    await record.appointments.save(moved, LATER)
    await record.appointments.save(moved, LATER)  # the same save twice changes nothing

    assert await record.appointments.get("a-1") == moved
    rows = await record.conn.execute_fetchall("SELECT created_at, updated_at FROM appointment")
    assert [tuple(r) for r in rows] == [("2026-11-23T14:00:00Z", "2026-11-23T15:30:00Z")]


async def test_an_appointment_the_schema_forbids_is_refused(record: Record) -> None:
    await _people(record)
    with pytest.raises(sqlite3.IntegrityError):
        await _save(record, _visit("a-1", VISIT, patient="p-missing"))
    with pytest.raises(sqlite3.IntegrityError):
        await _save(record, _visit("a-2", VISIT, duration_minutes=0))
    with pytest.raises(ValueError, match="naive"):
        await _save(record, _visit("a-3", VISIT.replace(tzinfo=None)))
    assert await record.appointments.between(NOW, NOW + timedelta(days=30)) == []


async def test_a_family_answer_is_recorded_with_who_answered_and_when(record: Record) -> None:
    await _people(record)
    await _save(record, _visit("a-1", VISIT), _visit("a-2", VISIT), _visit("a-3", VISIT))
    repo = record.appointments
    await repo.record_answer("a-1", participant_status="accepted", guardian_id="g-1", now=LATER)
    await repo.record_answer("a-2", participant_status="declined", guardian_id="g-1", now=LATER)
    await repo.record_answer(
        "a-3",
        participant_status="declined",
        guardian_id="g-1",
        now=LATER,
        cancellation_reason="sick",
    )

    accepted, declined, cancelled = [await repo.get(a) for a in ("a-1", "a-2", "a-3")]
    assert accepted is not None and declined is not None and cancelled is not None
    assert (accepted.participant_status, accepted.status) == ("accepted", "booked")
    assert (accepted.answered_by_guardian_id, accepted.answered_at) == ("g-1", LATER)
    assert (declined.status, declined.cancellation_reason) == ("booked", None)
    assert (cancelled.status, cancelled.cancellation_reason) == ("cancelled", "sick")


async def test_a_reschedule_request_is_stamped_and_leaves_the_visit_booked(record: Record) -> None:
    await _people(record)
    await _save(record, _visit("a-1", VISIT))
    await record.appointments.request_reschedule("a-1", "g-1", LATER)

    got = await record.appointments.get("a-1")
    assert got is not None
    assert (got.status, got.participant_status) == ("booked", "needs-action")
    assert got.reschedule_requested_at == LATER
    assert (got.answered_by_guardian_id, got.answered_at) == ("g-1", LATER)


async def test_answering_an_unknown_appointment_creates_nothing(record: Record) -> None:
    await _people(record)
    repo = record.appointments
    await repo.record_answer("a-x", participant_status="accepted", guardian_id="g-1", now=LATER)
    await repo.request_reschedule("a-x", "g-1", LATER)
    assert await repo.get("a-x") is None


async def test_a_guardian_sees_only_booked_visits_of_their_children_after_now(
    record: Record,
) -> None:
    await _people(record)
    await _save(
        record,
        _visit("a-p1-late", VISIT + timedelta(days=2)),
        _visit("a-p2-soon", VISIT, patient="p-2"),
        _visit("a-p1-soon", VISIT),
        _visit("a-cancelled", VISIT - timedelta(days=1), status="cancelled"),
        _visit("a-at-now", NOW),
        _visit("a-past", NOW - timedelta(days=1)),
        _visit("a-other-family", VISIT, patient="p-3"),
    )
    repo = record.appointments

    upcoming = await repo.upcoming_for_guardian("g-1", NOW)
    assert [a.id for a in upcoming] == ["a-p1-soon", "a-p2-soon", "a-p1-late"]
    assert [a.id for a in await repo.upcoming_for_guardian("g-1", NOW, limit=1)] == ["a-p1-soon"]
    assert await repo.upcoming_for_guardian("g-missing", NOW) == []

    for_patient = await repo.upcoming_for_patient("p-1", NOW)
    assert [a.id for a in for_patient] == ["a-p1-soon", "a-p1-late"]
    assert len(await repo.upcoming_for_patient("p-1", NOW, limit=1)) == 1
    assert await repo.upcoming_for_patient("p-missing", NOW) == []


async def test_keyset_pages_never_skip_or_repeat_visits_that_share_a_start(
    record: Record,
) -> None:
    await _people(record)
    until = VISIT + timedelta(hours=2)
    await _save(
        record,
        *[_visit(f"a-{n}", VISIT) for n in (3, 1, 5, 2, 4)],
        _visit("a-0-earlier", VISIT - timedelta(hours=1)),
        _visit("a-9-at-until", until),
        _visit("a-6-cancelled", VISIT, status="cancelled"),
        _visit("a-7-beyond", until + timedelta(seconds=1)),
        _visit("a-8-at-start", NOW),
    )
    seen: list[str] = []
    position = (NOW, "a-8-at-start")  # the page boundary sits right after this visit
    for _ in range(10):  # bounded: a page that repeats would otherwise never end
        page = await record.appointments.booked_between(position, until, 2)
        if not page:
            break
        assert len(page) <= 2
        seen += [a.id for a in page]
        position = (page[-1].start_at, page[-1].id)

    assert seen == ["a-0-earlier", "a-1", "a-2", "a-3", "a-4", "a-5", "a-9-at-until"]


async def test_booked_between_keeps_to_the_given_patients(record: Record) -> None:
    await _people(record)
    await _save(
        record, _visit("a-1", VISIT), _visit("a-2", VISIT, patient="p-2"), _visit("a-3", VISIT)
    )
    repo = record.appointments
    window = ((NOW, ""), VISIT + timedelta(days=1), 10)

    assert [a.id for a in await repo.booked_between(*window, patient_ids=["p-2"])] == ["a-2"]
    assert await repo.booked_between(*window, patient_ids=[]) == []
    assert [a.id for a in await repo.booked_between(*window)] == ["a-1", "a-2", "a-3"]


async def test_booked_after_lists_every_booked_visit_strictly_later_in_start_order(
    record: Record,
) -> None:
    await _people(record)
    await _save(
        record,
        _visit("a-b", VISIT + timedelta(days=40)),
        _visit("a-a", VISIT),
        _visit("a-noshow", VISIT, status="noshow"),
        _visit("a-at", NOW),
    )
    assert [a.id for a in await record.appointments.booked_after(NOW)] == ["a-a", "a-b"]
    assert await record.appointments.booked_after(VISIT + timedelta(days=40)) == []


async def test_between_is_half_open_of_any_status_and_of_one_clinician_if_asked(
    record: Record,
) -> None:
    await _people(record)
    day = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    await _save(
        record,
        _visit("a-first", day),
        _visit("a-cancelled", VISIT, status="cancelled"),
        _visit("a-s2", VISIT, staff_id="s-2"),
        _visit("a-next-day", day + timedelta(days=1)),
    )
    repo = record.appointments

    everyone = await repo.between(day, day + timedelta(days=1))
    assert [a.id for a in everyone] == ["a-first", "a-cancelled", "a-s2"]
    assert [a.id for a in await repo.between(day, day + timedelta(days=1), "s-2")] == ["a-s2"]
    assert await repo.between(day, day) == []


async def test_rows_by_id_gives_the_existing_rows_as_record_text_past_one_chunk(
    record: Record,
) -> None:
    await _people(record)
    ids = [f"a-{n:04}" for n in range(505)]
    await record.appointments.save_rows(
        [(i, "p-1", "s-1", "2026-11-26T20:30:00Z", 45, "", "", "booked", "needs-action")
         + (None,) * 4 for i in ids],
        NOW,
    )  # fmt: skip

    found = await record.appointments.rows_by_id([*ids, "a-missing"])

    assert sorted(found) == ids
    assert found["a-0504"] == (
        "a-0504", "p-1", "s-1", "2026-11-26T20:30:00Z", 45, "", "", "booked", "needs-action",
        None, None, None, None,
    )  # fmt: skip
    assert await record.appointments.rows_by_id([]) == {}


async def test_save_rows_writes_every_row_and_updates_existing_ids_like_save(
    record: Record,
) -> None:
    await _people(record)
    await _save(record, _visit("a-000", VISIT, participant_status="accepted"))
    rows = [
        (f"a-{n:03}", "p-2", "s-2", "2026-11-27T15:00:00Z", 30, "ot", "Room 1", "booked",
         "needs-action", None, None, None, None)
        for n in range(123)  # 100 + 10 + 10 + 1 + 1 + 1: every statement size
    ]  # fmt: skip
    await record.appointments.save_rows(rows, LATER)
    await record.appointments.save_rows([], LATER)

    saved = await record.appointments.between(VISIT, VISIT + timedelta(days=2))
    assert [a.id for a in saved] == [r[0] for r in rows]
    assert saved[0] == appointment_of(rows[0])
    assert saved[0].participant_status == "needs-action"  # replaced like save replaces
    assert saved[0].start_at == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
