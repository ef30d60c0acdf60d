"""IdentityRepo's contract: which guardian or staff member a channel address is, and whether
that address may be written to (verified, consenting, not opted out, not blocked)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.clock import to_db
from storage.models import ChannelIdentity, Guardian, Staff
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
TG = "telegram:1001"
PHONE = "+15551230077"


def guardian(gid: str, first: str, phone: str | None = None, consent: bool = False) -> Guardian:
    return Guardian(
        id=gid,
        first_name=first,
        last_name="Rivera",
        phone=phone,
        language="es",
        sms_consent=consent,
        timezone="America/Chicago",
    )


@pytest.fixture
async def family(record: Record) -> Record:
    """Guardians Ana and Ben, and a staff member Dana."""
    await record.people.save_guardian(guardian("g-ana", "Ana"), NOW)
    await record.people.save_guardian(guardian("g-ben", "Ben"), NOW)
    await record.people.save_staff(
        Staff(id="s-dana", name="Dana Reyes", role="clinician", discipline="", slack_user_id="U1"),
        NOW,
    )
    return record


async def unverified(
    record: Record, address: str, guardian_id: str | None = None, staff_id: str | None = None
) -> int:
    """An identity row as a channel adapter leaves it before a link: neither verified nor
    consenting."""
    cursor = await record.conn.execute(
        "INSERT INTO channel_identity (channel, address, guardian_id, staff_id, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (address.split(":")[0], address, guardian_id, staff_id, to_db(NOW)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


async def test_an_unknown_address_has_no_identity(family: Record) -> None:
    assert await family.identities.find("telegram", TG) is None
    assert await family.identities.find_with_guardian("telegram", TG) == (None, None)
    assert await family.identities.for_guardian("g-ana") == []


async def test_a_linked_address_is_a_verified_consenting_identity_of_the_guardian(
    family: Record,
) -> None:
    linked = await family.identities.link_guardian("telegram", TG, "g-ana", NOW)

    assert linked == ChannelIdentity(
        id=linked.id,
        channel="telegram",
        address=TG,
        guardian_id="g-ana",
        staff_id=None,
        verified_at=NOW,
        consent_at=NOW,
        opted_out_at=None,
        blocked_at=None,
    )
    assert await family.identities.find("telegram", TG) == linked
    # The same address on another channel is another identity (none here).
    assert await family.identities.find("sms", TG) is None


async def test_an_address_already_linked_is_refused_and_stays_its_owners(family: Record) -> None:
    await family.identities.link_guardian("telegram", TG, "g-ana", NOW)
    with pytest.raises(sqlite3.IntegrityError):
        await family.identities.link_guardian("telegram", TG, "g-ben", LATER)
    with pytest.raises(sqlite3.IntegrityError):
        await family.identities.link_guardian("telegram", "telegram:1002", "g-nobody", NOW)

    found = await family.identities.find("telegram", TG)
    assert found is not None and found.guardian_id == "g-ana" and found.verified_at == NOW
    assert await family.identities.find("telegram", "telegram:1002") is None


async def test_the_guardian_comes_with_an_identity_only_once_it_is_verified(
    family: Record,
) -> None:
    ana_id = await unverified(family, TG, guardian_id="g-ana")
    await unverified(family, "slack:U1", staff_id="s-dana")

    identity, who = await family.identities.find_with_guardian("telegram", TG)
    assert identity is not None and identity.id == ana_id and who is None
    staff_identity, nobody = await family.identities.find_with_guardian("slack", "slack:U1")
    assert staff_identity is not None and staff_identity.staff_id == "s-dana" and nobody is None

    await family.identities.verify(ana_id, NOW)
    identity, who = await family.identities.find_with_guardian("telegram", TG)
    assert identity is not None and identity.verified_at == NOW
    assert who == guardian("g-ana", "Ana")


async def test_a_guardians_identities_are_listed_in_the_order_they_were_made(
    family: Record,
) -> None:
    await family.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    await family.identities.link_guardian("telegram", TG, "g-ana", LATER)
    await family.identities.link_guardian("telegram", "telegram:2002", "g-ben", LATER)

    mine = await family.identities.for_guardian("g-ana")
    assert [(i.channel, i.address) for i in mine] == [("sms", f"sms:{PHONE}"), ("telegram", TG)]
    assert mine[0].id < mine[1].id
    assert [i.address for i in await family.identities.for_guardian("g-ben")] == ["telegram:2002"]


async def test_verifying_moves_the_verified_date_and_keeps_earlier_consent(
    family: Record,
) -> None:
    identity_id = await unverified(family, TG, guardian_id="g-ana")
    await family.identities.verify(identity_id, NOW)
    await family.identities.verify(identity_id, LATER)

    found = await family.identities.find("telegram", TG)
    assert found is not None
    assert (found.verified_at, found.consent_at) == (LATER, NOW)


async def test_blocking_keeps_the_first_date_until_it_is_cleared(family: Record) -> None:
    identity = await family.identities.link_guardian("telegram", TG, "g-ana", NOW)
    await family.identities.mark_blocked("telegram", TG, NOW)
    await family.identities.mark_blocked("telegram", TG, LATER)
    await family.identities.mark_blocked("telegram", "telegram:404", LATER)  # nobody: no-op

    blocked = await family.identities.find("telegram", TG)
    assert blocked is not None and blocked.blocked_at == NOW
    await family.identities.clear_blocked(identity.id)
    cleared = await family.identities.find("telegram", TG)
    assert cleared is not None and cleared.blocked_at is None
    await family.identities.mark_blocked("telegram", TG, LATER)
    again = await family.identities.find("telegram", TG)
    assert again is not None and again.blocked_at == LATER


async def test_an_opt_out_keeps_its_first_date_and_an_opt_in_consents_afresh(
    family: Record,
) -> None:
    identity = await family.identities.link_guardian("telegram", TG, "g-ana", NOW)
    await family.identities.opt_out(identity.id, NOW + timedelta(hours=1))
    await family.identities.opt_out(identity.id, LATER)
    out = await family.identities.find("telegram", TG)
    assert out is not None
    assert (out.opted_out_at, out.consent_at) == (NOW + timedelta(hours=1), NOW)

    await family.identities.opt_in(identity.id, LATER)
    back = await family.identities.find("telegram", TG)
    assert back is not None
    assert (back.opted_out_at, back.consent_at, back.verified_at) == (None, LATER, NOW)


async def test_a_providers_opt_out_marks_only_that_address(family: Record) -> None:
    await family.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    await family.identities.link_guardian("telegram", TG, "g-ana", NOW)
    await family.identities.opt_out_address("sms", f"sms:{PHONE}", LATER)
    await family.identities.opt_out_address("sms", f"sms:{PHONE}", LATER + timedelta(days=1))
    await family.identities.opt_out_address("sms", "sms:+15550000000", LATER)  # nobody's

    sms, telegram = await family.identities.for_guardian("g-ana")
    assert sms.opted_out_at == LATER
    assert telegram.opted_out_at is None


async def test_a_shared_number_reaches_only_the_sharers_who_consented(family: Record) -> None:
    await family.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    await family.people.save_guardian(guardian("g-ben", "Ben", PHONE, consent=True), NOW)
    await family.people.save_guardian(guardian("g-cara", "Cara", PHONE, consent=False), NOW)
    owners = await family.identities.for_guardian("g-ana")

    # The row is the owner's: Ben reaches the number through it, Cara (no consent) does not.
    assert await family.identities.shared_with("g-ben") == owners
    assert await family.identities.shared_with("g-cara") == []
    assert await family.identities.shared_with("g-ana") == []
    assert await family.identities.for_guardian("g-ben") == []
    assert await family.identities.shares("sms", f"sms:{PHONE}", "g-cara") is True
    assert await family.identities.shares("sms", f"sms:{PHONE}", "g-ana") is False
    assert await family.identities.shares("sms", "sms:+15550000000", "g-ben") is False


async def test_an_instant_in_another_zone_is_stored_as_utc_text(family: Record) -> None:
    new_york = NOW.astimezone(timezone(timedelta(hours=-5)))
    linked = await family.identities.link_guardian("telegram", TG, "g-ana", new_york)
    await family.identities.opt_out(linked.id, new_york)

    found = await family.identities.find("telegram", TG)
    assert found is not None and found.opted_out_at == NOW
    assert found.opted_out_at.utcoffset() == timedelta(0)
    stored = await family.conn.execute_fetchall(
        "SELECT verified_at, consent_at, opted_out_at, created_at FROM channel_identity"
    )
    assert [tuple(r) for r in stored] == [("2026-11-23T14:00:00Z",) * 4]
