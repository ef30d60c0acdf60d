"""PeopleRepo's contract: patients, guardians and their links, staff, care teams, and the
batch writes and look-ups an import makes."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest

from storage.models import Guardian, GuardianLink, Patient, Staff
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
LATER = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
PHONE = "+15551230077"


def patient(pid: str, first: str, last: str = "Lopez", language: str = "en") -> Patient:
    return Patient(
        id=pid, first_name=first, last_name=last, date_of_birth="2019-03-14", language=language
    )


def guardian(
    gid: str, first: str, phone: str | None = None, consent: bool = False, tz: str | None = None
) -> Guardian:
    return Guardian(
        id=gid,
        first_name=first,
        last_name="Lopez",
        phone=phone,
        language="en",
        sms_consent=consent,
        timezone=tz,
    )


def staff(sid: str, name: str, slack: str | None = None) -> Staff:
    return Staff(id=sid, name=name, role="clinician", discipline="OT", slack_user_id=slack)


def link(gid: str, pid: str, relationship: str = "mother", updates: bool = True) -> GuardianLink:
    return GuardianLink(
        guardian_id=gid, patient_id=pid, relationship=relationship, may_receive_updates=updates
    )


async def rows(record: Record, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await record.conn.execute_fetchall(sql, params)]


async def test_a_saved_patient_reads_back_and_an_unknown_one_is_none(record: Record) -> None:
    assert await record.people.patient_ids() == set()
    maya = patient("p-maya", "Maya")
    await record.people.save_patient(maya, NOW)
    await record.people.save_patient(patient("p-leo", "Leo"), NOW)

    assert await record.people.patient("p-maya") == maya
    assert await record.people.patient("p-nobody") is None
    assert await record.people.patient_ids() == {"p-maya", "p-leo"}


async def test_saving_a_patient_again_updates_it_in_place(record: Record) -> None:
    await record.people.save_patient(patient("p-maya", "Maya"), NOW)
    await record.people.save_patient(patient("p-maya", "Mayra", "Diaz", "es"), LATER)

    assert await record.people.patient("p-maya") == patient("p-maya", "Mayra", "Diaz", "es")
    assert await rows(record, "SELECT created_at, updated_at FROM patient") == [
        ("2026-11-23T14:00:00Z", "2026-11-24T09:30:00Z")
    ]


async def test_a_saved_guardian_reads_back_and_resaving_keeps_their_timezone(
    record: Record,
) -> None:
    await record.people.save_guardian(guardian("g-ana", "Ana", tz="America/Chicago"), NOW)
    ana = await record.people.guardian("g-ana")
    assert ana == guardian("g-ana", "Ana", tz="America/Chicago")
    assert ana is not None and ana.sms_consent is False
    # An import never carries a timezone: the one the family set is kept.
    await record.people.save_guardian(guardian("g-ana", "Anita", consent=True), LATER)
    assert await record.people.guardian("g-ana") == guardian(
        "g-ana", "Anita", consent=True, tz="America/Chicago"
    )
    assert await record.people.guardian("g-nobody") is None
    assert await record.people.guardian_ids() == {"g-ana"}


async def test_a_guardians_number_is_a_verified_sms_identity_whose_consent_follows_theirs(
    record: Record,
) -> None:
    query = (
        "SELECT guardian_id, verified_at, consent_at FROM channel_identity"
        " WHERE channel = 'sms' AND address = ?"
    )
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    assert await rows(record, query, f"sms:{PHONE}") == [
        ("g-ana", "2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z")
    ]
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=False), LATER)
    assert await rows(record, query, f"sms:{PHONE}") == [("g-ana", "2026-11-23T14:00:00Z", None)]
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), LATER)
    assert await rows(record, query, f"sms:{PHONE}") == [
        ("g-ana", "2026-11-23T14:00:00Z", "2026-11-24T09:30:00Z")
    ]
    # No number, no identity.
    await record.people.save_guardian(guardian("g-ben", "Ben"), NOW)
    assert await record.identities.for_guardian("g-ben") == []


async def test_a_number_the_record_no_longer_gives_the_guardian_stops_reaching_them(
    record: Record,
) -> None:
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    await record.people.save_guardian(guardian("g-ana", "Ana", "+15550009999", True), LATER)
    await record.people.save_guardians([guardian("g-ben", "Ben", "+15550008888", True)], NOW)
    await record.people.save_guardians([guardian("g-ben", "Ben")], LATER)

    reachable = {
        i.address
        for gid in ("g-ana", "g-ben")
        for i in await record.identities.for_guardian(gid)
        if i.verified_at and i.consent_at and not i.opted_out_at
    }
    assert reachable == {"sms:+15550009999"}


async def test_an_opt_out_the_number_sent_survives_a_resave(record: Record) -> None:
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    await record.identities.opt_out_address("sms", f"sms:{PHONE}", NOW)
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), LATER)
    await record.people.save_guardians([guardian("g-ana", "Ana", PHONE, consent=True)], LATER)

    identity = await record.identities.find("sms", f"sms:{PHONE}")
    assert identity is not None
    assert identity.opted_out_at == NOW


async def test_a_number_another_guardian_has_is_shared_not_taken(record: Record) -> None:
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    await record.people.save_guardian(guardian("g-ben", "Ben", PHONE, consent=True), NOW)
    # In one batch, the first of the batch owns it.
    await record.people.save_guardians(
        [guardian("g-cara", "Cara", "+15550001111"), guardian("g-dan", "Dan", "+15550001111")],
        NOW,
    )

    owners = "SELECT address, guardian_id FROM channel_identity ORDER BY address"
    assert await rows(record, owners) == [
        ("sms:+15550001111", "g-cara"),
        (f"sms:{PHONE}", "g-ana"),
    ]
    shared = "SELECT address, guardian_id, consent_at FROM shared_number ORDER BY address"
    assert await rows(record, shared) == [
        ("sms:+15550001111", "g-dan", None),
        (f"sms:{PHONE}", "g-ben", "2026-11-23T14:00:00Z"),
    ]


async def test_setting_a_guardians_language_changes_only_that(record: Record) -> None:
    await record.people.save_guardian(guardian("g-ana", "Ana", tz="America/Chicago"), NOW)
    await record.people.set_guardian_language("g-ana", "es", LATER)
    await record.people.set_guardian_language("g-nobody", "es", LATER)  # changes nothing

    ana = await record.people.guardian("g-ana")
    assert ana == guardian("g-ana", "Ana", tz="America/Chicago").model_copy(
        update={"language": "es"}
    )
    assert await record.people.guardian_ids() == {"g-ana"}


async def test_links_give_children_by_first_name_and_guardians_by_id(record: Record) -> None:
    for p in (patient("p-2", "Zoe"), patient("p-1", "Leo"), patient("p-3", "Maya")):
        await record.people.save_patient(p, NOW)
    for g in (guardian("g-b", "Ben"), guardian("g-a", "Ana")):
        await record.people.save_guardian(g, NOW)
    for k in (link("g-a", "p-2"), link("g-a", "p-1"), link("g-b", "p-2", "father")):
        await record.people.link(k)

    assert [c.first_name for c in await record.people.children("g-a")] == ["Leo", "Zoe"]
    assert [g.id for g in await record.people.guardians_of("p-2")] == ["g-a", "g-b"]
    assert await record.people.is_guardian_of("g-b", "p-2") is True
    assert await record.people.is_guardian_of("g-b", "p-1") is False
    assert await record.people.children("g-nobody") == []
    assert await record.people.guardians_of("p-3") == []
    assert await record.people.guardians_of_patients([]) == {}
    many = await record.people.guardians_of_patients(["p-2", "p-3", "p-2", "p-nobody"])
    assert {p: [g.id for g in gs] for p, gs in many.items()} == {
        "p-2": ["g-a", "g-b"],
        "p-3": [],
        "p-nobody": [],
    }


async def test_relinking_changes_the_relationship_and_keeps_the_update_permission(
    record: Record,
) -> None:
    await record.people.save_patient(patient("p-1", "Leo"), NOW)
    await record.people.save_guardian(guardian("g-a", "Ana"), NOW)
    await record.people.link(link("g-a", "p-1", "mother", updates=False))
    await record.people.link(link("g-a", "p-1", "guardian", updates=True))
    await record.people.link_many([link("g-a", "p-1", "aunt", updates=True)])

    assert await rows(record, "SELECT relationship, may_receive_updates FROM guardian_patient") == [
        ("aunt", 0)
    ]


async def test_a_link_to_an_unknown_patient_is_refused(record: Record) -> None:
    await record.people.save_guardian(guardian("g-a", "Ana"), NOW)
    with pytest.raises(sqlite3.IntegrityError):
        await record.people.link(link("g-a", "p-nobody"))
    with pytest.raises(sqlite3.IntegrityError):
        await record.people.add_to_care_team("p-nobody", "s-nobody", NOW)


async def test_staff_and_care_teams_read_back_and_adding_twice_changes_nothing(
    record: Record,
) -> None:
    await record.people.save_patient(patient("p-1", "Leo"), NOW)
    await record.people.save_staff(staff("s-2", "Lee Park", "U2"), NOW)
    await record.people.save_staff(staff("s-1", "Dana Reyes"), NOW)
    await record.people.save_staff(staff("s-2", "Lee Park-Kim", "U3"), LATER)
    for who in ("s-2", "s-1", "s-2"):
        await record.people.add_to_care_team("p-1", who, NOW)

    assert await record.people.staff("s-2") == staff("s-2", "Lee Park-Kim", "U3")
    assert await record.people.staff("s-nobody") is None
    assert await record.people.staff_ids() == {"s-1", "s-2"}
    assert [s.id for s in await record.people.care_team("p-1")] == ["s-1", "s-2"]
    assert await record.people.care_team("p-nobody") == []
    assert await record.people.slack_holders() == {"U3": "s-2"}


async def test_two_staff_members_cannot_hold_one_slack_id(record: Record) -> None:
    await record.people.save_staff(staff("s-1", "Dana Reyes", "U1"), NOW)
    with pytest.raises(sqlite3.IntegrityError):
        await record.people.save_staff(staff("s-2", "Lee Park", "U1"), NOW)
    assert await record.people.staff_ids() == {"s-1"}


async def test_freed_slack_ids_can_move_between_staff_in_one_import(record: Record) -> None:
    await record.people.save_staff_many(
        [staff("s-1", "Dana Reyes", "U1"), staff("s-2", "Lee Park", "U2")], NOW
    )
    swapped = [staff("s-1", "Dana Reyes", "U2"), staff("s-2", "Lee Park", "U1")]
    await record.people.free_slack_ids([(s.id, s.slack_user_id) for s in swapped], LATER)
    await record.people.save_staff_many(swapped, LATER)

    assert await record.people.slack_holders() == {"U2": "s-1", "U1": "s-2"}


async def test_batch_look_ups_find_exactly_what_is_there_past_one_chunk(record: Record) -> None:
    await record.people.save_patients([patient(f"p-{n}", f"Kid{n}") for n in range(1200)], NOW)
    await record.people.save_staff_many([staff("s-1", "Dana Reyes")], NOW)
    await record.people.save_guardians([guardian("g-a", "Ana")], NOW)
    await record.people.link_many([link("g-a", "p-7")])
    await record.people.add_to_care_teams([("p-7", "s-1"), ("p-7", "s-1")], NOW)

    asked = [f"p-{n}" for n in range(0, 1300, 2)]
    assert await record.people.existing_patient_ids(asked) == {f"p-{n}" for n in range(0, 1200, 2)}
    assert await record.people.existing_patient_ids([]) == set()
    assert await record.people.existing_staff_ids(["s-1", "s-2"]) == {"s-1"}
    assert await record.people.existing_links([("g-a", "p-7"), ("g-a", "p-8")]) == {("g-a", "p-7")}
    assert await record.people.existing_care_team([("p-7", "s-1"), ("s-1", "p-7")]) == {
        ("p-7", "s-1")
    }
    assert await rows(record, "SELECT COUNT(*) FROM care_team") == [(1,)]


async def test_a_batch_row_that_changes_nothing_keeps_its_updated_at(record: Record) -> None:
    await record.people.save_patients([patient("p-1", "Leo"), patient("p-2", "Zoe")], NOW)
    await record.people.save_guardians([guardian("g-a", "Ana")], NOW)
    await record.people.save_staff_many([staff("s-1", "Dana Reyes")], NOW)
    await record.people.save_patients([patient("p-1", "Leo"), patient("p-2", "Zoey")], LATER)
    await record.people.save_guardians([guardian("g-a", "Ana")], LATER)
    await record.people.save_staff_many([staff("s-1", "Dana Reyes")], LATER)

    assert await rows(record, "SELECT id, first_name, updated_at FROM patient ORDER BY id") == [
        ("p-1", "Leo", "2026-11-23T14:00:00Z"),
        ("p-2", "Zoey", "2026-11-24T09:30:00Z"),
    ]
    assert await rows(record, "SELECT updated_at FROM guardian") == [("2026-11-23T14:00:00Z",)]
    assert await rows(record, "SELECT updated_at FROM staff") == [("2026-11-23T14:00:00Z",)]


async def test_a_number_passed_to_another_guardian_is_theirs_and_keeps_its_stop(
    record: Record,
) -> None:
    """Ana's old number is given to Ben in a later import: a text from it is Ben's, reminders
    reach Ben there, and the STOP the number sent while it was Ana's still holds."""
    await record.people.save_guardian(guardian("g-ana", "Ana", PHONE, consent=True), NOW)
    await record.identities.opt_out_address("sms", f"sms:{PHONE}", NOW)
    await record.people.save_guardian(guardian("g-ana", "Ana", "+15550009999", True), LATER)
    # Between the two imports the old number is nobody's: a text from it is a stranger's.
    identity, who = await record.identities.find_with_guardian("sms", f"sms:{PHONE}")
    assert identity is not None and who is None
    await record.people.save_guardians([guardian("g-ben", "Ben", PHONE, consent=True)], LATER)
    identity, who = await record.identities.find_with_guardian("sms", f"sms:{PHONE}")
    assert who is not None and who.id == "g-ben"
    assert identity is not None and identity.opted_out_at is not None
    assert identity.consent_at is not None and identity.verified_at is not None
