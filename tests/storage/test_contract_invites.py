"""InviteRepo's contract: one-time invites kept as hashes, wrong answers that burn them, and the
links in progress (an address that opened an invite and owes a date of birth)."""

from __future__ import annotations

import hashlib
import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.invites import MAX_ATTEMPTS, Invite, hash_token
from storage.models import Guardian
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
WEEK = timedelta(days=7)
TG = "telegram:1001"


@pytest.fixture
async def invites(record: Record) -> Record:
    """A record with guardians Ana and Ben."""
    for gid, first in (("g-ana", "Ana"), ("g-ben", "Ben")):
        await record.people.save_guardian(
            Guardian(
                id=gid,
                first_name=first,
                last_name="Rivera",
                phone=None,
                language="en",
                sms_consent=False,
                timezone=None,
            ),
            NOW,
        )
    return record


async def made(record: Record, guardian_id: str = "g-ana") -> Invite:
    token = await record.invites.create(guardian_id, NOW, WEEK)
    invite = await record.invites.by_token(token)
    assert invite is not None
    return invite


async def test_a_new_invite_is_found_by_its_token_and_by_its_id(invites: Record) -> None:
    token = await invites.invites.create("g-ana", NOW, WEEK)

    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
    invite = await invites.invites.by_token(token)
    assert invite is not None
    assert invite == Invite(
        id=invite.id,
        guardian_id="g-ana",
        expires_at=NOW + WEEK,
        failed_attempts=0,
        used_at=None,
        burned_at=None,
    )
    assert await invites.invites.get(invite.id) == invite


async def test_the_record_keeps_only_the_tokens_hash(invites: Record) -> None:
    token = await invites.invites.create("g-ana", NOW, WEEK)

    stored = await invites.conn.execute_fetchall("SELECT * FROM invite")
    [row] = [tuple(r) for r in stored]
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    assert hash_token(token) == digest
    assert digest in row
    assert token not in row


async def test_each_invite_has_its_own_token(invites: Record) -> None:
    first = await invites.invites.create("g-ana", NOW, WEEK)
    second = await invites.invites.create("g-ana", NOW, WEEK)
    other = await invites.invites.create("g-ben", NOW, WEEK)

    assert len({first, second, other}) == 3
    found = [await invites.invites.by_token(t) for t in (first, second, other)]
    assert [i.guardian_id for i in found if i] == ["g-ana", "g-ana", "g-ben"]
    assert len({i.id for i in found if i}) == 3


async def test_an_unknown_token_or_id_is_none(invites: Record) -> None:
    await invites.invites.create("g-ana", NOW, WEEK)
    assert await invites.invites.by_token("not-a-token") is None
    assert await invites.invites.by_token("") is None
    assert await invites.invites.get(999) is None


async def test_an_invite_for_an_unknown_guardian_is_refused(invites: Record) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await invites.invites.create("g-nobody", NOW, WEEK)
    assert [
        tuple(r) for r in await invites.conn.execute_fetchall("SELECT COUNT(*) FROM invite")
    ] == [(0,)]


async def test_an_invite_is_usable_until_the_instant_it_expires(invites: Record) -> None:
    invite = await made(invites)

    assert invite.usable(NOW)
    assert invite.usable(NOW + WEEK - timedelta(seconds=1))
    assert not invite.usable(NOW + WEEK)


async def test_the_fifth_wrong_answer_burns_the_invite(invites: Record) -> None:
    invite = await made(invites)
    answers = [NOW + timedelta(minutes=n) for n in range(1, MAX_ATTEMPTS + 1)]

    burned = [await invites.invites.count_failure(invite.id, at) for at in answers]
    assert burned == [False] * (MAX_ATTEMPTS - 1) + [True]
    after = await invites.invites.get(invite.id)
    assert after is not None
    assert (after.failed_attempts, after.burned_at) == (MAX_ATTEMPTS, answers[-1])
    assert not after.usable(answers[-1])


async def test_a_burned_invite_keeps_the_date_it_was_burned(invites: Record) -> None:
    invite = await made(invites)
    for n in range(MAX_ATTEMPTS):
        await invites.invites.count_failure(invite.id, NOW + timedelta(minutes=n))
    await invites.invites.count_failure(invite.id, NOW + timedelta(hours=5))

    after = await invites.invites.get(invite.id)
    assert after is not None
    assert after.burned_at == NOW + timedelta(minutes=MAX_ATTEMPTS - 1)
    assert after.failed_attempts == MAX_ATTEMPTS + 1


async def test_a_wrong_answer_for_an_unknown_invite_burns_nothing(invites: Record) -> None:
    other = await made(invites)
    assert await invites.invites.count_failure(999, NOW) is False
    assert await invites.invites.get(other.id) == other


async def test_a_used_invite_can_no_longer_be_used(invites: Record) -> None:
    invite = await made(invites)
    await invites.invites.mark_used(invite.id, NOW + timedelta(minutes=3))

    used = await invites.invites.get(invite.id)
    assert used is not None
    assert used.used_at == NOW + timedelta(minutes=3)
    assert used.burned_at is None
    assert not used.usable(NOW + timedelta(minutes=4))


async def test_a_link_in_progress_is_one_per_address_and_the_newest_invite_wins(
    invites: Record,
) -> None:
    first, second = await made(invites), await made(invites, "g-ben")
    assert await invites.invites.pending_link("telegram", TG) is None

    await invites.invites.start_link("telegram", TG, first.id, NOW)
    await invites.invites.start_link("telegram", "telegram:2002", first.id, NOW)
    assert await invites.invites.pending_link("telegram", TG) == first.id
    await invites.invites.start_link("telegram", TG, second.id, NOW + timedelta(minutes=1))
    assert await invites.invites.pending_link("telegram", TG) == second.id
    assert await invites.invites.pending_link("sms", TG) is None

    await invites.invites.end_link("telegram", TG)
    await invites.invites.end_link("telegram", TG)  # ending it twice is harmless
    assert await invites.invites.pending_link("telegram", TG) is None
    assert await invites.invites.pending_link("telegram", "telegram:2002") == first.id


async def test_a_link_in_progress_needs_an_existing_invite(invites: Record) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        await invites.invites.start_link("telegram", TG, 999, NOW)
    assert await invites.invites.pending_link("telegram", TG) is None


async def test_instants_given_in_another_zone_are_stored_as_utc_text(invites: Record) -> None:
    new_york = NOW.astimezone(timezone(timedelta(hours=-5)))
    token = await invites.invites.create("g-ana", new_york, WEEK)
    invite = await invites.invites.by_token(token)
    assert invite is not None
    await invites.invites.mark_used(invite.id, new_york)

    used = await invites.invites.get(invite.id)
    assert used is not None and used.expires_at == NOW + WEEK and used.used_at == NOW
    assert used.expires_at.utcoffset() == timedelta(0)
    stored = await invites.conn.execute_fetchall(
        "SELECT created_at, expires_at, used_at FROM invite"
    )
    assert [tuple(r) for r in stored] == [
        ("2026-11-23T14:00:00Z", "2026-11-30T14:00:00Z", "2026-11-23T14:00:00Z")
    ]
