"""PracticeRepo's contract: the single practice row, and where each of its settings came from
(and since when the record has held that value)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from storage.models import Practice
from storage.practice import SettingOrigin
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)

PRACTICE = Practice(
    name="Bright Steps Therapy",
    phone="+1 555 010 2030",
    timezone="America/New_York",
    business_hours_start=time(8),
    business_hours_end=time(18, 30),
    quiet_hours_start=time(21),
    quiet_hours_end=time(7, 45),
    reminder_offsets_hours=(72, 24),
    late_cancel_hours=24,
)
FROM_ENV = {
    "name": "environment CAREBOT_PRACTICE__NAME",
    "timezone": "config file /etc/carebot.toml",
    "business_hours": "default",
}


async def test_an_empty_record_has_no_practice_and_no_origins(record: Record) -> None:
    assert await record.practice.get() is None
    assert await record.practice.origins() == {}


async def test_a_saved_practice_reads_back_equal(record: Record) -> None:
    await record.practice.save(PRACTICE, NOW)

    assert await record.practice.get() == PRACTICE
    # Saved without origins, no setting has one.
    assert await record.practice.origins() == {}


async def test_the_reminder_offsets_keep_their_order_and_none_is_an_empty_tuple(
    record: Record,
) -> None:
    await record.practice.save(PRACTICE.model_copy(update={"reminder_offsets_hours": (2, 48)}), NOW)
    got = await record.practice.get()
    assert got is not None and got.reminder_offsets_hours == (2, 48)

    await record.practice.save(PRACTICE.model_copy(update={"reminder_offsets_hours": ()}), NOW)
    got = await record.practice.get()
    assert got is not None and got.reminder_offsets_hours == ()


async def test_saving_again_replaces_the_one_practice_row(record: Record) -> None:
    await record.practice.save(PRACTICE, NOW)
    renamed = PRACTICE.model_copy(update={"name": "Little Steps", "late_cancel_hours": 48})
    await record.practice.save(renamed, LATER)

    assert await record.practice.get() == renamed
    stored = await record.conn.execute_fetchall("SELECT id, updated_at FROM practice")
    assert [tuple(r) for r in stored] == [(1, "2026-12-07T15:30:00Z")]


async def test_the_origins_of_the_named_settings_are_recorded_as_of_now(record: Record) -> None:
    await record.practice.save(PRACTICE, NOW, FROM_ENV)

    assert await record.practice.origins() == {
        setting: SettingOrigin(setting=setting, origin=origin, updated_at=NOW)
        for setting, origin in FROM_ENV.items()
    }


async def test_an_origins_date_stays_while_its_value_and_origin_do(record: Record) -> None:
    await record.practice.save(PRACTICE, NOW, FROM_ENV)
    await record.practice.save(PRACTICE, LATER, FROM_ENV)

    assert {s: o.updated_at for s, o in (await record.practice.origins()).items()} == {
        "name": NOW,
        "timezone": NOW,
        "business_hours": NOW,
    }


async def test_an_origins_date_moves_when_its_value_changes(record: Record) -> None:
    await record.practice.save(PRACTICE, NOW, FROM_ENV)
    # Only one end of the business hours changes: the setting holds both.
    later = PRACTICE.model_copy(update={"name": "Little Steps", "business_hours_end": time(19)})
    await record.practice.save(later, LATER, FROM_ENV)

    origins = await record.practice.origins()
    assert origins["name"] == SettingOrigin(
        setting="name", origin=FROM_ENV["name"], updated_at=LATER
    )
    assert origins["business_hours"].updated_at == LATER
    assert origins["timezone"].updated_at == NOW


async def test_an_origins_date_moves_when_only_its_origin_changes(record: Record) -> None:
    await record.practice.save(PRACTICE, NOW, {"phone": "default"})
    await record.practice.save(PRACTICE, LATER, {"phone": "configuration"})

    assert (await record.practice.origins())["phone"] == SettingOrigin(
        setting="phone", origin="configuration", updated_at=LATER
    )


async def test_settings_left_out_of_origins_keep_theirs(record: Record) -> None:
    await record.practice.save(PRACTICE, NOW, FROM_ENV)
    renamed = PRACTICE.model_copy(update={"name": "Little Steps"})
    await record.practice.save(renamed, LATER, {"phone": "demo data"})
    await record.practice.save(renamed, LATER)

    origins = await record.practice.origins()
    assert origins["name"] == SettingOrigin(setting="name", origin=FROM_ENV["name"], updated_at=NOW)
    assert origins["phone"].origin == "demo data"
    assert sorted(origins) == ["business_hours", "name", "phone", "timezone"]
    assert await record.practice.get() == renamed


async def test_an_unknown_setting_is_refused_before_anything_is_written(record: Record) -> None:
    with pytest.raises(ValueError, match="not practice settings: colour, logo"):
        await record.practice.save(PRACTICE, NOW, {"logo": "default", "colour": "default"})

    assert await record.practice.get() is None
    assert await record.practice.origins() == {}


async def test_an_origin_of_no_known_kind_is_refused(record: Record) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await record.practice.save(PRACTICE, NOW, {"name": "a hunch"})
    assert await record.practice.origins() == {}


async def test_an_instant_in_another_zone_is_recorded_as_utc(record: Record) -> None:
    new_york = NOW.astimezone(timezone(timedelta(hours=-5)))
    await record.practice.save(PRACTICE, new_york, {"name": "default"})

    updated = (await record.practice.origins())["name"].updated_at
    assert updated == NOW
    assert updated.utcoffset() == timedelta(0)
    stored = await record.conn.execute_fetchall(
        "SELECT p.updated_at, o.updated_at FROM practice p, practice_setting_origin o"
    )
    assert [tuple(r) for r in stored] == [("2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z")]
