"""StaffRepo's contract: who a Slack user is, which patients a clinician (or a coordinator) may
see and find, who may hear about a patient, and the day view and its tally."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from storage.clock import to_db
from storage.models import DayEntry, Guardian, GuardianLink, Patient, Staff
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
NEW_YORK = timezone(timedelta(hours=-5))

PATIENTS = {
    "p-maya": ("Maya", "Lopez"),
    "p-leo": ("Leo", "Lopez"),
    "p-maya2": ("Maya", "Adams"),
    "p-ana": ("Ana", "Smith"),
    "p-anabel": ("Anabel", "Jones"),
    "p-elodie": ("Élodie", "Martin"),
}
STAFF = [
    Staff(id="s-dana", name="Dana Reyes", role="clinician", discipline="OT", slack_user_id="U1"),
    Staff(id="s-lee", name="Lee Park", role="clinician", discipline="SLP", slack_user_id="U2"),
    Staff(id="s-rosa", name="Rosa Diaz", role="coordinator", discipline="", slack_user_id="U9"),
    Staff(id="s-ada", name="Ada Brooks", role="admin", discipline="", slack_user_id=None),
]


def names(patients: list[Patient]) -> list[str]:
    return [p.id for p in patients]


@pytest.fixture
async def practice(record: Record) -> Record:
    """Six patients, two clinicians (Dana: Maya and Leo Lopez; Lee: Ana), a coordinator and an
    admin."""
    for pid, (first, last) in PATIENTS.items():
        patient = Patient(
            id=pid, first_name=first, last_name=last, date_of_birth="2019-03-14", language="en"
        )
        await record.people.save_patient(patient, NOW)
    for member in STAFF:
        await record.people.save_staff(member, NOW)
    for pid, sid in (("p-maya", "s-dana"), ("p-leo", "s-dana"), ("p-ana", "s-lee")):
        await record.people.add_to_care_team(pid, sid, NOW)
    return record


async def visit(
    record: Record,
    aid: str,
    start: datetime,
    staff_id: str = "s-dana",
    patient_id: str = "p-maya",
    status: str = "booked",
    answer: str = "needs-action",
    moved: bool = False,
) -> None:
    await record.conn.execute(
        "INSERT INTO appointment (id, patient_id, staff_id, start_at, duration_minutes, service,"
        " status, participant_status, reschedule_requested_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, 45, 'OT eval', ?, ?, ?, ?, ?)",
        (aid, patient_id, staff_id, to_db(start), status, answer, to_db(NOW) if moved else None)
        + (to_db(NOW), to_db(NOW)),
    )


async def test_a_staff_member_is_found_by_slack_id_and_a_stranger_is_none(
    practice: Record,
) -> None:
    assert await practice.staff.by_slack_user("U2") == STAFF[1]
    assert await practice.staff.by_slack_user("U404") is None


async def test_everyone_is_listed_by_name_and_coordinators_include_admins(
    practice: Record,
) -> None:
    assert [s.name for s in await practice.staff.everyone()] == [
        "Ada Brooks",
        "Dana Reyes",
        "Lee Park",
        "Rosa Diaz",
    ]
    assert [s.id for s in await practice.staff.coordinators()] == ["s-ada", "s-rosa"]


async def test_an_empty_record_has_no_staff_and_no_patients(record: Record) -> None:
    assert await record.staff.everyone() == []
    assert await record.staff.coordinators() == []
    assert await record.staff.all_patients() == []


async def test_a_clinician_has_only_their_care_team_patients_by_name(practice: Record) -> None:
    assert names(await practice.staff.patients_of("s-dana")) == ["p-leo", "p-maya"]
    assert await practice.staff.on_care_team("s-dana", "p-maya") is True
    assert await practice.staff.on_care_team("s-dana", "p-ana") is False
    assert await practice.staff.patients_of("s-rosa") == []
    assert await practice.staff.patients_of("s-nobody") == []


async def test_all_patients_are_listed_by_first_then_last_name(practice: Record) -> None:
    everyone = names(await practice.staff.all_patients())
    assert sorted(everyone) == sorted(PATIENTS)
    # (Where "Élodie" sorts is the backend's collation: not part of the contract.)
    assert [p for p in everyone if p != "p-elodie"] == [
        "p-ana",
        "p-anabel",
        "p-leo",
        "p-maya2",
        "p-maya",
    ]


async def test_a_whole_match_wins_over_names_that_only_start_with_the_words(
    practice: Record,
) -> None:
    find = practice.staff.find_patients
    assert names(await find("ana")) == ["p-ana"]
    assert names(await find("An")) == ["p-ana", "p-anabel"]
    assert names(await find("  MAYA   lopez ")) == ["p-maya"]
    assert names(await find("maya")) == ["p-maya2", "p-maya"]
    assert names(await find("P-LEO")) == ["p-leo"]
    assert names(await find("lop")) == ["p-leo", "p-maya"]
    assert await find("zed") == []
    assert await find("   ") == []


async def test_a_clinicians_search_finds_only_their_care_team(practice: Record) -> None:
    find = practice.staff.find_patients
    assert await find("ana", staff_id="s-dana") == []
    assert names(await find("an", staff_id="s-lee")) == ["p-ana"]
    assert names(await find("maya", staff_id="s-dana")) == ["p-maya"]


async def test_a_search_gives_at_most_limit_patients_in_name_order(practice: Record) -> None:
    assert names(await practice.staff.find_patients("p-", limit=2)) == ["p-ana", "p-anabel"]


async def test_a_name_with_an_accented_capital_is_found_as_typed(practice: Record) -> None:
    assert names(await practice.staff.find_patients("Élodie")) == ["p-elodie"]
    assert names(await practice.staff.find_patients("ÉLODIE martin")) == ["p-elodie"]
    assert names(await practice.staff.find_patients("Élo")) == ["p-elodie"]


async def test_only_guardians_allowed_updates_hear_about_a_patient(practice: Record) -> None:
    for gid, updates in (("g-b", True), ("g-c", False), ("g-a", True)):
        guardian = Guardian(
            id=gid,
            first_name=gid,
            last_name="Lopez",
            phone=None,
            language="en",
            sms_consent=False,
            timezone=None,
        )
        await practice.people.save_guardian(guardian, NOW)
        await practice.people.link(
            GuardianLink(
                guardian_id=gid,
                patient_id="p-maya",
                relationship="parent",
                may_receive_updates=updates,
            )
        )
    assert [g.id for g in await practice.staff.guardians_for_updates("p-maya")] == ["g-a", "g-b"]
    assert await practice.staff.guardians_for_updates("p-leo") == []


async def test_patients_and_staff_by_id_leave_out_unknown_ids(practice: Record) -> None:
    found = await practice.staff.patients_by_id({"p-maya", "p-ana", "p-nobody"})
    assert sorted(found) == ["p-ana", "p-maya"]
    assert found["p-maya"].first_name == "Maya"
    staff = await practice.staff.staff_by_id({"s-lee", "s-nobody"})
    assert staff == {"s-lee": STAFF[1]}
    assert await practice.staff.patients_by_id(set()) == {}
    assert await practice.staff.staff_by_id(set()) == {}


async def test_a_day_lists_the_visits_starting_in_its_half_open_window_in_order(
    practice: Record,
) -> None:
    await visit(practice, "a-3", NOW + timedelta(hours=1), "s-lee", "p-ana", moved=True)
    await visit(practice, "a-2", NOW, answer="accepted")
    await visit(practice, "a-1", NOW, "s-lee", "p-ana", status="cancelled")
    await visit(practice, "a-end", NOW + timedelta(hours=2))
    await visit(practice, "a-before", NOW - timedelta(seconds=1))

    # The same window given in New York time: instants, not wall times, are compared.
    day = await practice.staff.day(NOW.astimezone(NEW_YORK), NOW + timedelta(hours=2))
    assert [e.appointment_id for e in day] == ["a-1", "a-2", "a-3"]
    assert day[2] == DayEntry(
        "a-3",
        "2026-11-23T15:00:00Z",
        "booked",
        "needs-action",
        None,
        True,
        "OT eval",
        "Ana",
        "Smith",
        "Lee Park",
    )
    assert day[0].status == "cancelled"
    assert day[1].reschedule_requested is False
    assert await practice.staff.day(NOW + timedelta(days=1), NOW + timedelta(days=2)) == []


async def test_a_clinicians_day_has_only_their_visits_and_pages(practice: Record) -> None:
    for n in range(5):
        await visit(practice, f"a-{n}", NOW + timedelta(minutes=10 * n))
    await visit(practice, "a-lee", NOW, "s-lee", "p-ana")
    end = NOW + timedelta(hours=3)

    mine = await practice.staff.day(NOW, end, "s-dana")
    assert [e.appointment_id for e in mine] == [f"a-{n}" for n in range(5)]
    assert {e.staff_name for e in mine} == {"Dana Reyes"}
    page = await practice.staff.day(NOW, end, "s-dana", offset=1, limit=2)
    assert [e.appointment_id for e in page] == ["a-1", "a-2"]
    assert len(await practice.staff.day(NOW, end)) == 6


async def test_a_day_tally_counts_the_windows_visits_by_state(practice: Record) -> None:
    await visit(practice, "a-1", NOW)
    await visit(practice, "a-2", NOW + timedelta(minutes=30))
    await visit(practice, "a-3", NOW, answer="accepted", moved=True)
    await visit(practice, "a-4", NOW, "s-lee", "p-ana", status="cancelled")
    await visit(practice, "a-later", NOW + timedelta(days=1))
    end = NOW + timedelta(hours=8)

    assert sorted(await practice.staff.day_tally(NOW, end)) == [
        ("booked", "accepted", True, 1),
        ("booked", "needs-action", False, 2),
        ("cancelled", "needs-action", False, 1),
    ]
    assert sorted(await practice.staff.day_tally(NOW, end, "s-lee")) == [
        ("cancelled", "needs-action", False, 1)
    ]
    assert await practice.staff.day_tally(NOW - timedelta(days=1), NOW) == []
