"""AuditRepo's contract: an append-only trail of who did what to which record, read back per
record in the order it happened."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.audit import ActorType
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


async def event(
    record: Record,
    actor: tuple[ActorType, str],
    action: str,
    entity: tuple[str, str],
    now: datetime = NOW,
    **detail: str,
) -> None:
    await record.audit.record(
        actor_type=actor[0], actor_id=actor[1], action=action, entity_type=entity[0],
        entity_id=entity[1], now=now, **detail,
    )  # fmt: skip


async def test_actions_for_a_record_are_its_own_events_oldest_first(record: Record) -> None:
    await event(record, ("guardian", "g-1"), "escalation.raised", ("escalation", "7"))
    await event(record, ("staff", "s-2"), "escalation.claimed", ("escalation", "7"))
    await event(record, ("staff", "s-2"), "escalation.claimed", ("escalation", "8"))
    await event(record, ("system", "outbox"), "identity.blocked", ("message", "7"))
    yesterday = NOW - timedelta(days=1)  # the order is the order of writing
    await event(record, ("operator", ""), "escalation.resolved", ("escalation", "7"), yesterday)
    assert await record.audit.actions_for("escalation", "7") == [
        ("guardian", "g-1", "escalation.raised"),
        ("staff", "s-2", "escalation.claimed"),
        ("operator", "", "escalation.resolved"),
    ]


async def test_a_record_with_no_events_has_an_empty_trail(record: Record) -> None:
    assert await record.audit.actions_for("appointment", "a-404") == []


async def test_the_same_event_recorded_twice_is_kept_twice(record: Record) -> None:
    for _ in range(2):
        await event(record, ("guardian", "g-1"), "appointment.confirmed", ("appointment", "a-1"))
    assert await record.audit.actions_for("appointment", "a-1") == [
        ("guardian", "g-1", "appointment.confirmed"),
        ("guardian", "g-1", "appointment.confirmed"),
    ]


async def test_an_event_keeps_its_detail_and_its_instant_as_utc_text(record: Record) -> None:
    local = NOW.astimezone(ZoneInfo("America/New_York"))
    await event(
        record, ("staff", "s-1"), "handoff.created", ("handoff", "3"), local, detail="to s-2"
    )
    await event(record, ("staff", "s-2"), "handoff.acknowledged", ("handoff", "3"))
    rows = await record.conn.execute_fetchall("SELECT at, detail FROM audit_event ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("2026-11-23T14:00:00Z", "to s-2"),
        ("2026-11-23T14:00:00Z", ""),
    ]


async def test_an_actor_type_outside_the_four_kinds_is_refused(record: Record) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await event(record, ("robot", "r2"), "x", ("message", "1"))  # type: ignore[arg-type]
    assert await record.audit.actions_for("message", "1") == []


async def test_a_naive_instant_is_refused(record: Record) -> None:
    with pytest.raises(ValueError, match="naive"):
        await event(record, ("system", ""), "x", ("message", "1"), datetime(2026, 11, 23, 14))
    assert await record.audit.actions_for("message", "1") == []
