"""The contract of storage/escalations.py (EscalationRepo): open -> claimed -> resolved, at most
one unresolved escalation per family address, and the staff thread it lives in."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.models import Escalation
from storage.record import Record
from tests.storage.seed import STAMP, seed_family

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
CHECK = NOW + timedelta(minutes=30)
ADDRESS = "telegram:900001"


async def _open(
    record: Record,
    address: str = ADDRESS,
    *,
    channel: str = "telegram",
    next_check_at: datetime | None = CHECK,
    now: datetime = NOW,
    patient: str | None = "p-1",
) -> int:
    return await record.escalations.open(
        guardian_id="g-1" if patient else None,
        patient_id=patient,
        channel=channel,
        address=address,
        language="es",
        reason="reschedule",
        urgent=False,
        next_check_at=next_check_at,
        now=now,
    )


async def _get(record: Record, escalation_id: int) -> Escalation:
    got = await record.escalations.get(escalation_id)
    assert got is not None
    return got


async def test_a_new_escalation_is_open_unclaimed_and_waits_for_its_first_check(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    escalation_id = await _open(record, now=NOW.astimezone(ZoneInfo("America/New_York")))

    assert await _get(record, escalation_id) == Escalation(
        id=escalation_id,
        guardian_id="g-1",
        patient_id="p-1",
        family_channel="telegram",
        family_address=ADDRESS,
        family_language="es",
        reason="reschedule",
        urgent=False,
        status="open",
        claimed_by=None,
        claimed_at=None,
        resolved_by=None,
        resolved_at=None,
        thread_message_id=None,
        last_family_at=NOW,
        last_staff_reply_at=None,
        raised_count=0,
        next_check_at=CHECK,
        created_at=NOW,
    )
    assert (await _get(record, escalation_id)).created_at.utcoffset() == timedelta(0)


async def test_unknown_escalations_read_as_none(record: Record) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    await _open(record)
    repo = record.escalations
    assert await repo.get(404) is None
    assert await repo.open_for("telegram", "telegram:123") is None
    assert await repo.open_for("sms", ADDRESS) is None  # the same text on another channel
    assert await repo.by_thread("slack", "C0COORD", "1700000000.000100") is None


async def test_one_unresolved_escalation_per_address_until_it_is_resolved(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    repo = record.escalations
    first = await _open(record)
    await repo.claim(first, "s-1", NOW, None)
    with pytest.raises(sqlite3.IntegrityError):
        await _open(record)
    other_address = await _open(record, "telegram:900002", patient=None)

    assert (await _get(record, first)).status == "claimed"
    assert (await _get(record, other_address)).patient_id is None
    await repo.resolve(first, "s-2", NOW + timedelta(hours=1))
    second = await _open(record, now=NOW + timedelta(hours=2))

    found = await repo.open_for("telegram", ADDRESS)
    assert found is not None and found.id == second
    resolved = await _get(record, first)
    assert (resolved.status, resolved.resolved_by) == ("resolved", "s-2")
    assert (resolved.resolved_at, resolved.next_check_at) == (NOW + timedelta(hours=1), None)


async def test_a_claim_names_its_coordinator_and_an_unclaim_hands_it_back(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    repo = record.escalations
    escalation_id = await _open(record)
    claimed_at, back_at = NOW + timedelta(minutes=5), NOW + timedelta(hours=1)

    await repo.claim(escalation_id, "s-1", claimed_at, claimed_at + timedelta(hours=2))
    claimed = await _get(record, escalation_id)
    assert (claimed.status, claimed.claimed_by, claimed.claimed_at) == (
        "claimed",
        "s-1",
        claimed_at,
    )
    assert claimed.next_check_at == claimed_at + timedelta(hours=2)
    assert [e.id for e in await repo.unresolved(claimed_by="s-1")] == [escalation_id]

    await repo.unclaim(escalation_id, back_at, back_at + timedelta(minutes=15))
    reopened = await _get(record, escalation_id)
    assert (reopened.status, reopened.claimed_by, reopened.claimed_at) == ("open", None, None)
    assert reopened.next_check_at == back_at + timedelta(minutes=15)
    assert await repo.unresolved(claimed_by="s-1") == []


async def test_a_family_message_keeps_a_pending_check_and_sets_one_if_none(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    repo = record.escalations
    waiting = await _open(record)
    quiet = await _open(record, "telegram:900002", next_check_at=None)
    wrote_at = NOW + timedelta(minutes=10)

    await repo.family_wrote(waiting, wrote_at, wrote_at + timedelta(hours=4))
    await repo.family_wrote(quiet, wrote_at, wrote_at + timedelta(hours=4))

    kept, set_now = await _get(record, waiting), await _get(record, quiet)
    assert (kept.last_family_at, kept.next_check_at) == (wrote_at, CHECK)
    assert (set_now.last_family_at, set_now.next_check_at) == (
        wrote_at,
        wrote_at + timedelta(hours=4),
    )


async def test_a_staff_reply_stops_the_checks_and_raising_counts_and_reschedules_them(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    repo = record.escalations
    escalation_id = await _open(record)
    await repo.raised(escalation_id, CHECK, CHECK + timedelta(minutes=30))
    await repo.raised(escalation_id, CHECK, CHECK + timedelta(hours=1))

    raised = await _get(record, escalation_id)
    assert (raised.raised_count, raised.next_check_at) == (2, CHECK + timedelta(hours=1))

    replied_at = CHECK + timedelta(minutes=40)
    await repo.staff_replied(escalation_id, replied_at)
    replied = await _get(record, escalation_id)
    assert (replied.last_staff_reply_at, replied.next_check_at) == (replied_at, None)
    assert replied.status == "open"
    assert await repo.due_for_check(NOW + timedelta(days=30)) == []


async def test_making_an_escalation_urgent_makes_it_an_emergency(record: Record) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    escalation_id = await _open(record)

    await record.escalations.make_urgent(escalation_id, NOW + timedelta(minutes=1))

    got = await _get(record, escalation_id)
    assert (got.urgent, got.reason) == (True, "emergency")
    assert got.status == "open"


async def test_due_for_check_lists_unresolved_escalations_whose_check_has_come(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    later = await _open(record, "telegram:1", next_check_at=CHECK)
    first = await _open(record, "telegram:2", next_check_at=CHECK - timedelta(minutes=20))
    tied = await _open(record, "telegram:3", next_check_at=CHECK)
    await _open(record, "telegram:4", next_check_at=CHECK + timedelta(seconds=1))
    await _open(record, "telegram:5", next_check_at=None)
    claimed = await _open(record, "telegram:6", next_check_at=None)
    await record.escalations.claim(claimed, "s-1", NOW, CHECK - timedelta(minutes=1))
    resolved = await _open(record, "telegram:7", next_check_at=NOW)
    await record.escalations.resolve(resolved, "s-1", NOW)

    due = await record.escalations.due_for_check(CHECK)

    assert [e.id for e in due] == [first, claimed, later, tied]
    assert await record.escalations.due_for_check(NOW) == []


async def test_unresolved_lists_oldest_first_of_a_patient_or_a_coordinator(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    repo = record.escalations
    newer = await _open(record, "telegram:1", now=NOW + timedelta(hours=1))
    older = await _open(record, "telegram:2", now=NOW)
    nobody = await _open(record, "telegram:3", now=NOW, patient=None)
    gone = await _open(record, "telegram:4", now=NOW - timedelta(hours=1))
    await repo.resolve(gone, "s-1", NOW)
    await repo.claim(newer, "s-2", NOW, None)

    assert [e.id for e in await repo.unresolved()] == [older, nobody, newer]
    assert [e.id for e in await repo.unresolved(patient_id="p-1")] == [older, newer]
    assert [e.id for e in await repo.unresolved(claimed_by="s-2")] == [newer]
    assert await repo.unresolved(patient_id="p-1", claimed_by="s-1") == []


async def test_a_reply_in_a_staff_thread_finds_its_escalation_by_the_posts_provider_id(
    record: Record,
) -> None:
    await seed_family(record, staff=("s-1", "s-2"), role="coordinator")
    cur = await record.conn.execute(
        "INSERT INTO message (direction, channel, address, body, status, provider_message_id,"
        " not_before, created_at) VALUES ('out', 'slack', 'C0COORD', 'Family needs help',"
        " 'sent', '1700000000.000100', ?, ?)",
        (STAMP, STAMP),
    )
    assert cur.lastrowid is not None
    escalation_id = await _open(record)
    await _open(record, "telegram:900002")  # no thread yet

    await record.escalations.set_thread(escalation_id, cur.lastrowid)

    repo = record.escalations
    found = await repo.by_thread("slack", "C0COORD", "1700000000.000100")
    assert found is not None
    assert (found.id, found.thread_message_id) == (escalation_id, cur.lastrowid)
    assert await repo.by_thread("slack", "C0OTHER", "1700000000.000100") is None
    assert await repo.by_thread("slack", "C0COORD", "1700000000.000200") is None
