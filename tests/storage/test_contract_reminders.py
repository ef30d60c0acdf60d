"""The contract of storage/reminders.py (ReminderRepo): each reminder once, pending until it
goes (sent) or is given up (withdrawn, expired, undeliverable)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.models import Reminder
from storage.record import Record
from storage.reminders import PlannedReminder
from tests.storage.seed import seed_family

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)
MOVED = VISIT + timedelta(days=1)
PHONE = "+15550009999"


async def _message(record: Record, created_at: str, status: str = "sent") -> int:
    cur = await record.conn.execute(
        "INSERT INTO message (direction, channel, address, guardian_id, body, status,"
        " not_before, created_at) VALUES ('out', 'sms', ?, 'g-1', 'Reminder', ?, ?, ?)",
        (PHONE, status, created_at, created_at),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def _plan(
    appointment: str = "a-1",
    guardian: str = "g-1",
    offset: int = 24,
    start: datetime = VISIT,
    send_at: datetime | None = None,
) -> PlannedReminder:
    due = start - timedelta(hours=offset)
    return PlannedReminder(appointment, guardian, offset, start, due, send_at or due)


async def _add(record: Record, *plans: PlannedReminder) -> list[Reminder]:
    for p in plans:
        await record.reminders.add(
            appointment_id=p.appointment_id,
            guardian_id=p.guardian_id,
            offset_hours=p.offset_hours,
            appointment_start_at=p.appointment_start_at,
            due_at=p.due_at,
            send_at=p.send_at,
            now=NOW,
        )
    added = await record.reminders.for_appointments(["a-1", "a-2"])
    return sorted(added, key=lambda r: r.id)  # in the order they were added


async def test_a_reminder_is_added_once_per_visit_guardian_offset_and_start(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    repo = record.reminders
    args = {"appointment_id": "a-1", "guardian_id": "g-1", "offset_hours": 24, "now": NOW}
    due = VISIT - timedelta(hours=24)
    first = await repo.add(**args, appointment_start_at=VISIT, due_at=due, send_at=due)
    again = await repo.add(**args, appointment_start_at=VISIT, due_at=NOW, send_at=NOW)
    local = VISIT.astimezone(ZoneInfo("America/New_York"))
    same_start = await repo.add(**args, appointment_start_at=local, due_at=due, send_at=due)
    new_start = await repo.add(**args, appointment_start_at=MOVED, due_at=due, send_at=due)

    assert (first, again, same_start, new_start) == (True, False, False, True)
    [kept, _] = await repo.for_appointment("a-1")
    assert kept.model_dump(exclude={"id"}) == {
        "appointment_id": "a-1", "guardian_id": "g-1", "offset_hours": 24,
        "appointment_start_at": VISIT, "due_at": due, "send_at": due, "status": "pending",
        "message_id": None,
    }  # fmt: skip
    assert kept.send_at.utcoffset() == timedelta(0)


async def test_add_many_counts_only_the_reminders_it_added(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    await _add(record, _plan())
    batch = [_plan(), _plan(offset=72), _plan(offset=72), _plan(guardian="g-2")]

    assert await record.reminders.add_many(batch, NOW) == 2
    assert await record.reminders.add_many(batch, NOW) == 0
    assert await record.reminders.add_many([], NOW) == 0
    assert len(await record.reminders.for_appointment("a-1")) == 3


async def test_reminders_are_listed_per_appointment_in_due_order(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    await _add(record, _plan(offset=24), _plan(offset=72), _plan("a-2"))
    repo = record.reminders

    assert [r.offset_hours for r in await repo.for_appointment("a-1")] == [72, 24]
    found = await repo.for_appointments(["a-2", "a-missing"])
    assert [(r.appointment_id, r.offset_hours) for r in found] == [("a-2", 24)]
    assert len(await repo.for_appointments(["a-1", "a-2"])) == 3
    assert await repo.for_appointments([]) == []
    assert await repo.for_appointment("a-missing") == []


async def test_a_moved_visit_loses_its_pending_reminders_for_the_old_start(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    old_sent, old_pending, new = await _add(
        record, _plan(offset=72), _plan(offset=24), _plan(start=MOVED)
    )
    await record.reminders.set_status([old_sent.id], "sent", NOW)
    repo = record.reminders

    assert await repo.withdraw_other_starts([("a-1", MOVED)], LATER) == 1
    assert await repo.withdraw_other_starts([("a-1", MOVED)], LATER) == 0
    assert await repo.withdraw_other_starts([], LATER) == 0
    statuses = {r.id: r.status for r in await repo.for_appointment("a-1")}
    assert statuses == {old_sent.id: "sent", old_pending.id: "withdrawn", new.id: "pending"}


async def test_withdraw_pending_takes_every_pending_reminder_or_all_but_one_start(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    await _add(record, _plan(offset=72), _plan(offset=24), _plan(start=MOVED), _plan("a-2"))
    repo = record.reminders

    assert await repo.withdraw_pending("a-1", LATER, except_start=MOVED) == 2
    assert [r.status for r in await repo.for_appointment("a-1")] == [
        "withdrawn", "withdrawn", "pending",
    ]  # fmt: skip
    assert await repo.withdraw_pending("a-1", LATER) == 1
    assert await repo.withdraw_pending("a-1", LATER) == 0
    assert [r.status for r in await repo.for_appointment("a-2")] == ["pending"]


async def test_due_lists_pending_reminders_whose_time_has_come_in_send_order(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    at = NOW - timedelta(minutes=5)
    a, b, c, _, sent = await _add(
        record,
        _plan(offset=24, send_at=NOW),
        _plan(offset=48, send_at=at),
        _plan(offset=72, send_at=at),
        _plan("a-2", send_at=NOW + timedelta(seconds=1)),
        _plan("a-2", offset=48, send_at=at - timedelta(hours=1)),
    )
    await record.reminders.set_status([sent.id], "sent", NOW)

    due = await record.reminders.due(NOW)
    assert [r.id for r in due] == [b.id, c.id, a.id]
    assert [r.id for r in await record.reminders.due(NOW, limit=2)] == [b.id, c.id]
    assert await record.reminders.due(at - timedelta(seconds=1)) == []


async def test_a_status_moves_only_from_pending_and_keeps_its_message(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    first, second, other = await _add(record, _plan(offset=24), _plan(offset=72), _plan("a-2"))
    message = await _message(record, "2026-11-23T14:00:00Z")
    repo = record.reminders

    await repo.set_status([first.id, second.id], "sent", NOW, message_id=message)
    await repo.set_status([first.id], "withdrawn", LATER)  # too late: it went

    after = await repo.for_appointment("a-1")
    assert [(r.status, r.message_id) for r in after] == [("sent", message)] * 2
    assert [r.id for r in await repo.due(VISIT)] == [other.id]
    with pytest.raises(sqlite3.IntegrityError):  # not a status a reminder can have
        await repo.set_status([other.id], "lost", NOW)


async def test_a_postponed_reminder_is_due_and_next_at_its_new_time(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    repo = record.reminders
    assert await repo.next_send_at() is None
    early, late = await _add(record, _plan(offset=72), _plan(offset=24))
    assert await repo.next_send_at() == early.send_at

    held = late.send_at + timedelta(hours=3)
    await repo.postpone(early.id, held, NOW)

    assert await repo.next_send_at() == late.send_at
    assert [r.id for r in await repo.due(late.send_at)] == [late.id]
    assert [r.id for r in await repo.due(held)] == [late.id, early.id]
    await repo.set_status([early.id, late.id], "expired", NOW)
    assert await repo.next_send_at() is None


async def test_backlog_counts_due_reminders_and_those_late_before_the_mark(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    repo = record.reminders
    assert await repo.backlog(NOW, NOW - timedelta(minutes=5)) == (0, 0)
    await _add(
        record,
        _plan(offset=24, send_at=NOW - timedelta(minutes=10)),
        _plan(offset=48, send_at=NOW - timedelta(minutes=5)),  # at the mark: not late
        _plan(offset=72, send_at=NOW + timedelta(minutes=1)),  # not due yet
        _plan("a-2", send_at=NOW - timedelta(hours=1)),
    )
    await repo.withdraw_pending("a-2", NOW)

    assert await repo.backlog(NOW, NOW - timedelta(minutes=5)) == (2, 1)


async def test_a_guardians_pending_reminders_are_those_due_for_visits_in_the_range(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    day = datetime(2026, 11, 26, 5, 0, tzinfo=UTC)
    due_before = VISIT - timedelta(hours=24)
    inside, at_limit, _, _, _ = await _add(
        record,
        _plan("a-2", offset=48),
        _plan(offset=24),  # due exactly at due_before: included
        _plan(offset=12),  # due after due_before
        _plan(guardian="g-2"),
        _plan(start=day + timedelta(days=1)),  # visit outside [day, day + 1)
    )

    group = await record.reminders.pending_for_guardian(
        "g-1", day, day + timedelta(days=1), due_before
    )
    assert [r.id for r in group] == [inside.id, at_limit.id]  # by visit start, then id
    assert await record.reminders.pending_for_guardian("g-missing", day, MOVED, VISIT) == []


async def test_planning_reads_as_none_until_set_and_then_as_last_set(record: Record) -> None:
    repo = record.reminders
    assert await repo.planned() is None
    await repo.set_planned(VISIT, "72,24|21:00-08:00", NOW)
    await repo.set_planned(MOVED.astimezone(ZoneInfo("Europe/Berlin")), "24|22:00-07:00", LATER)

    planned = await repo.planned()
    assert planned == (MOVED, "24|22:00-07:00")
    assert planned is not None and planned[0].utcoffset() == timedelta(0)


async def test_sent_reminder_messages_to_an_address_are_found_by_when_they_were_made(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1", "a-2"))
    r1, r2, r3, r4 = await _add(
        record, _plan(offset=24), _plan(offset=72), _plan("a-2"), _plan("a-2", offset=48)
    )
    monday = await _message(record, "2026-11-23T14:00:00Z")
    tuesday = await _message(record, "2026-11-24T14:00:00Z")
    failed = await _message(record, "2026-11-25T14:00:00Z", status="failed")
    await record.reminders.set_status([r1.id, r2.id], "sent", NOW, message_id=monday)
    await record.reminders.set_status([r3.id], "sent", NOW, message_id=tuesday)
    await record.reminders.set_status([r4.id], "sent", NOW, message_id=failed)
    repo = record.reminders
    mon, tue = datetime(2026, 11, 23, 14, tzinfo=UTC), datetime(2026, 11, 24, 14, tzinfo=UTC)

    assert await repo.sent_to_address_since(PHONE, mon) == [mon, tue]  # once per message
    assert await repo.sent_to_address_since(PHONE, mon + timedelta(seconds=1)) == [tue]
    assert await repo.sent_to_address_since("+15550000000", mon) == []
    assert await repo.sent_to_address_between(PHONE, mon, mon + timedelta(seconds=1))
    assert not await repo.sent_to_address_between(PHONE, mon - timedelta(days=1), mon)
    assert not await repo.sent_to_address_between(PHONE, tue + timedelta(hours=1), VISIT)
