"""The contract of storage/handoffs.py: HandoffRepo (pending until the receiver acknowledges)
and CareUpdateRepo (clinicians' updates, newest first)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.models import CareUpdate, Handoff
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
DUE = NOW + timedelta(days=1)
STAMP = "2026-11-20T15:00:00Z"


async def _people(record: Record) -> None:
    """Patients p-1 and p-2; clinicians s-1, s-2 and s-3."""
    await record.conn.executemany(
        "INSERT INTO patient VALUES (?, 'Kid', 'Family', '2018-01-01', 'en', ?, ?)",
        [(p, STAMP, STAMP) for p in ("p-1", "p-2")],
    )
    await record.conn.executemany(
        "INSERT INTO staff (id, name, role, discipline, slack_user_id, created_at, updated_at)"
        " VALUES (?, ?, 'clinician', '', NULL, ?, ?)",
        [(s, f"Clinician {s}", STAMP, STAMP) for s in ("s-1", "s-2", "s-3")],
    )


async def _handoff(
    record: Record,
    *,
    to: str = "s-2",
    patient: str = "p-1",
    due: datetime = DUE,
    now: datetime = NOW,
    tell_family: bool = False,
) -> int:
    return await record.handoffs.add(
        patient_id=patient,
        from_staff_id="s-1",
        to_staff_id=to,
        summary="Working on /r/ sounds",
        open_items="Send home practice sheet",
        effective_date="2026-12-01",
        tell_family=tell_family,
        ack_due_at=due,
        now=now,
    )


# HandoffRepo


async def test_a_new_handoff_reads_back_pending_with_its_deadline_in_utc(record: Record) -> None:
    await _people(record)
    local_due = DUE.astimezone(ZoneInfo("America/New_York"))
    handoff_id = await _handoff(record, due=local_due, tell_family=True)

    got = await record.handoffs.get(handoff_id)

    assert got == Handoff(
        id=handoff_id,
        patient_id="p-1",
        from_staff_id="s-1",
        to_staff_id="s-2",
        summary="Working on /r/ sounds",
        open_items="Send home practice sheet",
        effective_date="2026-12-01",
        tell_family=True,
        status="pending",
        acknowledged_at=None,
        ack_due_at=DUE,
        raised_at=None,
        created_at=NOW,
    )
    assert got.tell_family is True
    assert got.ack_due_at.utcoffset() == timedelta(0)


async def test_an_unknown_handoff_reads_as_none(record: Record) -> None:
    assert await record.handoffs.get(404) is None


async def test_a_handoff_is_acknowledged_once_and_keeps_the_first_time(record: Record) -> None:
    await _people(record)
    handoff_id = await _handoff(record)
    first, second = NOW + timedelta(hours=2), NOW + timedelta(hours=3)

    assert await record.handoffs.acknowledge(handoff_id, first) is True
    assert await record.handoffs.acknowledge(handoff_id, second) is False
    assert await record.handoffs.acknowledge(404, second) is False

    got = await record.handoffs.get(handoff_id)
    assert got is not None
    assert (got.status, got.acknowledged_at) == ("acknowledged", first)


async def test_overdue_lists_unraised_pending_handoffs_past_their_deadline_by_deadline(
    record: Record,
) -> None:
    await _people(record)
    late = await _handoff(record, due=NOW - timedelta(hours=1))
    at_deadline = await _handoff(record, due=NOW)
    earliest = await _handoff(record, due=NOW - timedelta(hours=5), to="s-3")
    await _handoff(record, due=NOW + timedelta(seconds=1))  # not yet due
    acknowledged = await _handoff(record, due=NOW - timedelta(hours=2))
    await record.handoffs.acknowledge(acknowledged, NOW)

    overdue = await record.handoffs.overdue(NOW)

    assert [h.id for h in overdue] == [earliest, late, at_deadline]
    assert all(h.status == "pending" and h.raised_at is None for h in overdue)
    assert await record.handoffs.overdue(NOW - timedelta(days=1)) == []


async def test_a_raised_handoff_is_not_overdue_again_but_still_awaits_its_receiver(
    record: Record,
) -> None:
    await _people(record)
    handoff_id = await _handoff(record, due=NOW)
    raised_at = NOW + timedelta(minutes=10)

    await record.handoffs.mark_raised(handoff_id, raised_at)

    got = await record.handoffs.get(handoff_id)
    assert got is not None and (got.status, got.raised_at) == ("pending", raised_at)
    assert await record.handoffs.overdue(NOW + timedelta(days=7)) == []
    assert [h.id for h in await record.handoffs.pending_for("s-2")] == [handoff_id]


async def test_pending_for_lists_a_receivers_unacknowledged_handoffs_oldest_first(
    record: Record,
) -> None:
    await _people(record)
    newer = await _handoff(record, now=NOW + timedelta(hours=1))
    older = await _handoff(record, patient="p-2", now=NOW)
    same_time = await _handoff(record, now=NOW)
    done = await _handoff(record, now=NOW - timedelta(hours=1))
    await _handoff(record, to="s-3")
    await record.handoffs.acknowledge(done, NOW)

    pending = await record.handoffs.pending_for("s-2")

    assert [h.id for h in pending] == [older, same_time, newer]
    assert await record.handoffs.pending_for("s-1") == []  # the sender receives nothing
    assert await record.handoffs.pending_for("s-missing") == []


async def test_a_handoff_naming_unknown_people_is_refused(record: Record) -> None:
    await _people(record)
    with pytest.raises(sqlite3.IntegrityError):
        await _handoff(record, to="s-missing")
    with pytest.raises(sqlite3.IntegrityError):
        await _handoff(record, patient="p-missing")
    assert await record.handoffs.overdue(DUE + timedelta(days=1)) == []


# CareUpdateRepo


async def test_an_update_reads_back_as_written(record: Record) -> None:
    await _people(record)
    local = NOW.astimezone(ZoneInfo("Europe/Berlin"))
    update_id = await record.updates.add("p-1", "s-1", "family", "Great session today", local)

    assert await record.updates.recent("p-1") == [
        CareUpdate(
            id=update_id,
            patient_id="p-1",
            staff_id="s-1",
            audience="family",
            body="Great session today",
            created_at=NOW,
        )
    ]


async def test_recent_updates_come_newest_first_up_to_the_limit(record: Record) -> None:
    await _people(record)
    add = record.updates.add
    ids = [
        await add("p-1", "s-1", "family", f"Update {n}", NOW + timedelta(hours=n)) for n in range(6)
    ]
    same_hour = await add("p-1", "s-2", "care-team", "Note", NOW + timedelta(hours=5))
    await add("p-2", "s-1", "family", "Other child", NOW + timedelta(days=1))

    recent = await record.updates.recent("p-1")

    assert [u.id for u in recent] == [same_hour, ids[5], ids[4], ids[3], ids[2]]
    assert [u.id for u in await record.updates.recent("p-1", limit=2)] == [same_hour, ids[5]]
    assert {u.audience for u in recent} == {"family", "care-team"}


async def test_a_patient_without_updates_has_none(record: Record) -> None:
    await _people(record)
    await record.updates.add("p-1", "s-1", "family", "Hello", NOW)
    assert await record.updates.recent("p-2") == []
    assert await record.updates.recent("p-missing") == []


async def test_an_update_to_an_unknown_audience_or_patient_is_refused(record: Record) -> None:
    await _people(record)
    with pytest.raises(sqlite3.IntegrityError):
        await record.updates.add("p-1", "s-1", "everyone", "Hello", NOW)  # type: ignore[arg-type]
    with pytest.raises(sqlite3.IntegrityError):
        await record.updates.add("p-missing", "s-1", "family", "Hello", NOW)
    assert await record.updates.recent("p-1") == []
