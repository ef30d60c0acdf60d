"""UnusableRequestRepo's contract: an authentic request carebot could not use is kept as a row
(its channel, when, why and how big), never its body."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


async def rows(record: Record) -> list[tuple[object, ...]]:
    found = await record.conn.execute_fetchall(
        "SELECT id, channel, received_at, reason, event_id, size FROM unusable_request ORDER BY id"
    )
    return [tuple(r) for r in found]


async def test_each_request_is_kept_as_its_own_row_with_the_time_in_utc(record: Record) -> None:
    local = NOW.astimezone(ZoneInfo("America/New_York"))
    first = await record.unusable.record("telegram", "no message in update", 412, "u-9", local)
    second = await record.unusable.record("telegram", "no message in update", 412, "u-9", NOW)
    assert isinstance(first, int) and second > first
    assert await rows(record) == [
        (first, "telegram", "2026-11-23T14:00:00Z", "no message in update", "u-9", 412),
        (second, "telegram", "2026-11-23T14:00:00Z", "no message in update", "u-9", 412),
    ]


async def test_a_request_without_a_readable_event_id_is_kept_too(record: Record) -> None:
    kept = await record.unusable.record("sms", "form without MessageSid", 0, None, NOW)
    assert await rows(record) == [
        (kept, "sms", "2026-11-23T14:00:00Z", "form without MessageSid", None, 0)
    ]


async def test_a_long_reason_is_cut_to_two_hundred_characters(record: Record) -> None:
    await record.unusable.record("slack", "x" * 150 + "y" * 100, 9000, "Ev1", NOW)
    [(_, _, _, reason, _, _)] = await rows(record)
    assert reason == "x" * 150 + "y" * 50


async def test_a_naive_instant_is_refused(record: Record) -> None:
    with pytest.raises(ValueError, match="naive"):
        await record.unusable.record("telegram", "bad", 1, None, datetime(2026, 11, 23, 14, 0))
    assert await rows(record) == []


async def test_the_table_has_no_place_for_a_body(record: Record) -> None:
    columns = await record.conn.execute_fetchall("PRAGMA table_info(unusable_request)")
    assert {c["name"] for c in columns} == {
        "id", "channel", "received_at", "reason", "event_id", "size",
    }  # fmt: skip
