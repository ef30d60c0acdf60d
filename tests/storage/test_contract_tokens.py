"""The contract of storage/tokens.py (ActionTokenRepo): a button carries only an opaque token;
what it does is kept in the record and read back by the exact token."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.db import Database
from storage.models import ActionToken
from storage.record import Record
from storage.tokens import TokenSpec
from tests.storage.seed import seed_family

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)
#: Telegram's callback_data holds at most 64 bytes; a token must fit it, URL-safe.
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


async def test_an_issued_token_reads_back_what_its_button_does(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
    local = VISIT.astimezone(ZoneInfo("America/New_York"))
    token = await record.tokens.issue(
        action="cancel_reason",
        guardian_id="g-1",
        now=NOW,
        appointment_id="a-1",
        appointment_start_at=local,
        value="sick",
    )

    got = await record.tokens.get(token)

    assert got == ActionToken(
        token=token,
        action="cancel_reason",
        guardian_id="g-1",
        appointment_id="a-1",
        appointment_start_at=VISIT,
        value="sick",
    )
    assert got.appointment_start_at is not None
    assert got.appointment_start_at.utcoffset() == timedelta(0)
    [(stored,)] = await record.conn.execute_fetchall(
        "SELECT appointment_start_at FROM action_token"
    )
    assert stored == "2026-11-26T20:30:00Z"


async def test_a_token_without_an_appointment_has_none_and_an_empty_value(
    record: Record,
) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
    token = await record.tokens.issue(action="language", guardian_id="g-2", now=NOW)

    got = await record.tokens.get(token)

    assert got is not None
    assert (got.action, got.guardian_id) == ("language", "g-2")
    assert (got.appointment_id, got.appointment_start_at, got.value) == (None, None, "")


async def test_tokens_are_url_safe_distinct_and_fit_a_telegram_button(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
    one = [
        await record.tokens.issue(action="confirm", guardian_id="g-1", now=NOW) for _ in range(20)
    ]
    many = await record.tokens.issue_many([TokenSpec("confirm")] * 20, "g-1", NOW)

    assert all(TOKEN.fullmatch(t) for t in one + many)
    assert all(len(t.encode()) <= 64 for t in one + many)
    assert len(set(one + many)) == 40


async def test_issue_many_gives_one_token_per_button_in_the_order_asked(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
    wanted = [
        TokenSpec("confirm", "a-1", VISIT),
        TokenSpec("cancel", "a-1", VISIT),
        TokenSpec("reschedule", "a-1", VISIT),
        TokenSpec("language", value="es"),
    ]

    tokens = await record.tokens.issue_many(wanted, "g-1", NOW)

    got = [await record.tokens.get(t) for t in tokens]
    assert [(g.action, g.value) for g in got if g is not None] == [
        ("confirm", ""),
        ("cancel", ""),
        ("reschedule", ""),
        ("language", "es"),
    ]
    assert {(g.guardian_id, g.appointment_start_at) for g in got[:3] if g is not None} == {
        ("g-1", VISIT)
    }
    assert got[3] is not None and got[3].appointment_id is None


async def test_issuing_no_buttons_issues_no_tokens(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
    assert await record.tokens.issue_many([], "g-1", NOW) == []
    assert await record.conn.execute_fetchall("SELECT token FROM action_token") == []


async def test_only_the_exact_token_text_is_found(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
    token = await record.tokens.issue(action="confirm", guardian_id="g-1", now=NOW)
    other = token.swapcase() if token.swapcase() != token else token + "x"

    assert await record.tokens.get("never-issued") is None
    assert await record.tokens.get("") is None
    assert await record.tokens.get(token[:-1]) is None
    assert await record.tokens.get(other) is None
    assert await record.tokens.get(token + "x" * 64) is None  # longer than any token: None
    assert await record.tokens.get(token) is not None


async def test_a_token_for_someone_or_something_unknown_is_refused(record: Record) -> None:
    await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
    with pytest.raises(sqlite3.IntegrityError):
        await record.tokens.issue(action="confirm", guardian_id="g-missing", now=NOW)
    with pytest.raises(sqlite3.IntegrityError):
        await record.tokens.issue_many([TokenSpec("confirm", "a-missing", VISIT)], "g-1", NOW)
    with pytest.raises(ValueError, match="naive"):
        await record.tokens.issue(
            action="confirm",
            guardian_id="g-1",
            now=NOW,
            appointment_id="a-1",
            appointment_start_at=VISIT.replace(tzinfo=None),
        )
    assert await record.conn.execute_fetchall("SELECT token FROM action_token") == []


async def test_a_token_is_not_used_up_by_reading_it_nor_does_it_expire(store: Database) -> None:
    """The record keeps no use count or expiry: a button pressed twice, or weeks later, reads
    the same action (whether it may still act is the handlers' check on the appointment)."""
    async with store.transaction() as conn:
        record = Record(conn)
        await seed_family(record, guardians=("g-1", "g-2"), visits=("a-1",))
        token = await record.tokens.issue(
            action="confirm", guardian_id="g-1", now=NOW, appointment_id="a-1"
        )
        first = await record.tokens.get(token)
    async with store.read() as conn:
        again = await Record(conn).tokens.get(token)
    async with store.transaction() as conn:  # issued a year ago
        await conn.execute("UPDATE action_token SET created_at = '2025-11-23T14:00:00Z'")
        third = await Record(conn).tokens.get(token)

    assert first is not None and first.action == "confirm"
    assert again == first == third
