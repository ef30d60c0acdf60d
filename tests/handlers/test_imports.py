"""CSV import: every kind lands in the record, bad files write nothing, re-imports update by id."""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from handlers.records import imports
from handlers.records.demo import DEMO_PRACTICE
from handlers.records.import_records import Appointments
from handlers.records.imports import COLUMNS, KINDS, ImportRejected, RowError, import_csv
from handlers.reminders.planning import plan_reminders
from storage.clock import FakeClock
from storage.db import Database
from storage.record import Record

TABLES = (
    "patient",
    "guardian",
    "guardian_patient",
    "staff",
    "care_team",
    "appointment",
    "reminder",
    "audit_event",
)

PATIENTS = """patient_id,first_name,last_name,date_of_birth,language
p-maya,Maya,Lopez,2019-03-14,en
p-leo,Leo,García,2017-05-02,ES-mx
"""
GUARDIANS = """guardian_id,patient_id,first_name,last_name,relationship,phone,language,sms_consent
g-ana,p-maya,Ana,Lopez,mother,+15550100101,en,yes
g-ana,p-leo,Ana,Lopez,mother,+15550100101,en,Y
g-tom,p-leo,Tom,García,father,,es,no
"""
STAFF = """staff_id,name,role,discipline,slack_user_id
s-dana,Dana Rivera,clinician,speech-language pathology,U0TEST01
s-tam,Tamara Brooks,Coordinator,,
"""
CARE_TEAM = """patient_id,staff_id
p-maya,s-dana
p-maya,s-tam
p-leo,s-dana
"""
# Friday 27 November 2026 (EST): 3:30 pm local is 20:30Z; the second start carries its offset.
APPOINTMENTS = """appointment_id,patient_id,staff_id,start,duration_minutes,service,location
a-1,p-maya,s-dana,2026-11-27T15:30,45,speech-language pathology,Clinic room 2
a-2,p-leo,s-dana,2026-11-27T16:15:00-05:00,45,speech-language pathology,Clinic room 2
"""


def csv_file(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


async def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the record's tables, to prove a rejected import wrote nothing."""
    tables: dict[str, list[tuple[object, ...]]] = {}
    async with db.read() as conn:
        for table in TABLES:
            cur = await conn.execute(f"SELECT * FROM {table} ORDER BY rowid")
            tables[table] = [tuple(row) for row in await cur.fetchall()]
    return tables


async def rejected(db: Database, kind: str, path: Path, now: datetime) -> list[str]:
    with pytest.raises(ImportRejected) as caught:
        await import_csv(db, kind, path, now)
    return [str(error) for error in caught.value.errors]


@pytest.fixture
async def pdb(db: Database, clock: FakeClock) -> Database:
    """The record with the practice saved (America/New_York)."""
    async with db.transaction() as conn:
        await Record(conn).practice.save(DEMO_PRACTICE, clock.now())
    return db


@pytest.fixture
async def seeded(pdb: Database, clock: FakeClock, tmp_path: Path) -> Database:
    """Everything imported, in the documented order."""
    for kind, text in zip(
        KINDS, (PATIENTS, GUARDIANS, STAFF, CARE_TEAM, APPOINTMENTS), strict=True
    ):
        await import_csv(pdb, kind, csv_file(tmp_path, f"{kind}.csv", text), clock.now())
    return pdb


async def test_every_kind_lands_in_the_record(
    pdb: Database, clock: FakeClock, tmp_path: Path
) -> None:
    reports = [
        await import_csv(pdb, kind, csv_file(tmp_path, f"{kind}.csv", text), clock.now())
        for kind, text in zip(
            KINDS, (PATIENTS, GUARDIANS, STAFF, CARE_TEAM, APPOINTMENTS), strict=True
        )
    ]
    assert [(r.kind, r.rows, r.inserted, r.updated) for r in reports] == [
        ("patients", 2, 2, 0),
        ("guardians", 3, 3, 0),
        ("staff", 2, 2, 0),
        ("care-team", 3, 3, 0),
        ("appointments", 2, 2, 0),
    ]
    async with pdb.read() as conn:
        record = Record(conn)
        leo = await record.people.patient("p-leo")
        assert leo is not None and leo.last_name == "García" and leo.language == "es-mx"
        assert leo.date_of_birth == "2017-05-02"
        ana = await record.people.guardian("g-ana")
        assert ana is not None and ana.phone == "+15550100101" and ana.sms_consent
        assert [p.id for p in await record.people.children("g-ana")] == ["p-leo", "p-maya"]
        tom = await record.people.guardian("g-tom")
        assert tom is not None and tom.phone is None and not tom.sms_consent
        assert [g.id for g in await record.people.guardians_of("p-leo")] == ["g-ana", "g-tom"]
        tam = await record.people.staff("s-tam")
        assert tam is not None and tam.role == "coordinator" and tam.slack_user_id is None
        dana = await record.people.staff("s-dana")
        assert dana is not None and dana.slack_user_id == "U0TEST01"
        assert [s.id for s in await record.people.care_team("p-maya")] == ["s-dana", "s-tam"]
        a1, a2 = await record.appointments.get("a-1"), await record.appointments.get("a-2")
        assert a1 is not None and a2 is not None
        assert a1.start_at == datetime(2026, 11, 27, 20, 30, tzinfo=UTC)
        assert a2.start_at == datetime(2026, 11, 27, 21, 15, tzinfo=UTC)
        assert (a1.status, a1.participant_status, a1.duration_minutes) == (
            "booked",
            "needs-action",
            45,
        )
        assert a1.location == "Clinic room 2" and a1.service == "speech-language pathology"
        # Reminders were planned for both of Leo's guardians.
        assert {r.guardian_id for r in await record.reminders.for_appointment("a-2")} == {
            "g-ana",
            "g-tom",
        }
        assert await record.audit.actions_for("import", "patients.csv") == [
            ("operator", "", "import.patients")
        ]


async def test_bom_crlf_extra_columns_and_header_case(
    pdb: Database, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        "Patient_ID, first_name ,last_name,date_of_birth,language,notes\r\n"
        "p-maya,Maya,Lopez,2019-03-14,en,likes dinosaurs\r\n\r\n"
    )
    path = csv_file(tmp_path, "patients.csv", text, encoding="utf-8-sig")
    report = await import_csv(pdb, "patients", path, clock.now())
    assert report.rows == 1
    async with pdb.read() as conn:
        maya = await Record(conn).people.patient("p-maya")
    assert maya is not None and maya.first_name == "Maya"


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        pytest.param(
            "guardians",
            "guardian_id,patient_id,first_name,last_name,relationship,phone,language,sms_consent\n"
            "g-new,p-maya,Eve,Lopez,aunt,+15550100120,en,yes\n"
            "g-new2,p-nobody,Eve,Lopez,aunt,+15550100121,en,yes\n",
            [
                'line 3, column patient_id: no patient "p-nobody" in the record'
                " (import patients first)"
            ],
            id="unknown-patient",
        ),
        pytest.param(
            "guardians",
            "guardian_id,patient_id,first_name,last_name,relationship,phone,language,sms_consent\n"
            "g-new,p-maya,Eve,Lopez,aunt,555-0101,en,no\n",
            [
                'line 2, column phone: "555-0101" is not a phone number (like +15551234567,'
                " or (555) 123-4567 in the practice's country, US)"
            ],
            id="malformed-phone",
        ),
        pytest.param(
            "patients",
            "patient_id,first_name,last_name,date_of_birth,language\n"
            "p-new,Ava,Stone,2020-01-31,en\n"
            "p-bad,Ben,Stone,2019-13-01,en\n",
            ['line 3, column date_of_birth: "2019-13-01" is not a date (MM/DD/YYYY or YYYY-MM-DD)'],
            id="row-2-good-row-3-bad-date",
        ),
        pytest.param(
            "patients",
            "patient_id,first_name,last_name,language\np-new,Ava,Stone,en\n",
            [
                "line 1, column date_of_birth: missing from the header (the header must name"
                " patient_id, first_name, last_name, date_of_birth, language)"
            ],
            id="missing-column",
        ),
        pytest.param(
            "staff",
            "staff_id,name,role,discipline,slack_user_id\ns-new,Sam Lee,therapist,,\n",
            ['line 2, column role: "therapist" is not a role (clinician, coordinator or admin)'],
            id="bad-role",
        ),
        pytest.param(
            "appointments",
            "appointment_id,patient_id,staff_id,start,duration_minutes,service,location\n"
            "a-new,p-maya,s-ghost,2026-11-30T10:00,45,,\n",
            [
                'line 2, column staff_id: no staff member "s-ghost" in the record'
                " (import staff first)"
            ],
            id="unknown-staff",
        ),
        pytest.param(
            "care-team",
            "patient_id,staff_id\np-maya,s-dana\np-maya,s-dana\n",
            [
                'line 3, column staff_id: patient "p-maya" with staff "s-dana" already appears'
                " on line 2"
            ],
            id="duplicate-pair",
        ),
    ],
)
async def test_a_bad_row_is_reported_and_nothing_is_written(
    seeded: Database, clock: FakeClock, tmp_path: Path, kind: str, text: str, expected: list[str]
) -> None:
    before = await dump(seeded)
    path = csv_file(tmp_path, "bad.csv", text)
    assert await rejected(seeded, kind, path, clock.now()) == expected
    assert await dump(seeded) == before


async def test_every_problem_is_reported_not_just_the_first(
    pdb: Database, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        "patient_id,first_name,last_name,date_of_birth,language\n"
        "p-1,Ava,Stone,2020-02-30,en\n"
        "p-2,,Stone,2020-01-01,klingon-x\n"
        "p-1,Ava,Stone,2020-01-01,en\n"
    )
    before = await dump(pdb)
    errors = await rejected(pdb, "patients", csv_file(tmp_path, "p.csv", text), clock.now())
    assert errors == [
        'line 2, column date_of_birth: "2020-02-30" is not a date (MM/DD/YYYY or YYYY-MM-DD)',
        "line 3, column first_name: is empty (a value is required)",
        'line 3, column language: "klingon-x" is not a language tag (BCP 47, like en or es-MX)',
        'line 4, column patient_id: "p-1" already appears on line 2',
    ]
    assert await dump(pdb) == before


async def test_whole_file_problems(pdb: Database, clock: FakeClock, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "x.csv", "patient_id\n")
    assert (await rejected(pdb, "families", path, clock.now()))[0] == (
        'unknown kind "families": expected one of patients, guardians, staff, care-team,'
        " appointments"
    )
    assert await rejected(pdb, "care-team", path, clock.now()) == [
        "line 1, column staff_id: missing from the header (the header must name patient_id,"
        " staff_id)"
    ]
    header_only = csv_file(tmp_path, "h.csv", "\ufeffpatient_id,notes\n")
    assert (await rejected(pdb, "patients", header_only, clock.now()))[1:] == [
        f"line 1, column {c}: missing from the header"
        for c in ("last_name", "date_of_birth", "language")
    ]
    missing = await rejected(pdb, "patients", tmp_path / "nope.csv", clock.now())
    assert missing[0].startswith("cannot read ") and "nope.csv" in missing[0]
    empty = await rejected(pdb, "staff", csv_file(tmp_path, "e.csv", "\n"), clock.now())
    assert empty == [
        "line 1: the file is empty: expected a header row with staff_id, name, role,"
        " discipline, slack_user_id"
    ]
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        "patient_id,first_name,last_name,date_of_birth,language\n"
        "p-1,Sofía,G,2020-01-01,es\n".encode("latin-1")
    )
    assert await rejected(pdb, "patients", latin, clock.now()) == [
        "line 2: the file is not UTF-8 text"
    ]
    assert str(RowError(None, None, "whole file")) == "whole file"
    assert str(RowError(7, None, "whole row")) == "line 7: whole row"


async def test_a_guardian_must_agree_with_itself_across_rows(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        "guardian_id,patient_id,first_name,last_name,relationship,phone,language,sms_consent\n"
        "g-new,p-maya,Eve,Lopez,aunt,+15550100120,en,yes\n"
        "g-new,p-leo,Eve,Lopez,aunt,+15550100129,en,yes\n"
        "g-x,p-leo,Al,Lopez,uncle,+15550100130,en,maybe\n"
    )
    errors = await rejected(seeded, "guardians", csv_file(tmp_path, "g.csv", text), clock.now())
    assert errors == [
        'line 3, column phone: differs from line 2 for guardian "g-new" (name, phone, language'
        " and sms_consent must agree on every row)",
        'line 4, column sms_consent: "maybe" is not yes or no',
    ]


async def test_phone_numbers_are_read_as_people_write_them(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    """The practice is in the US (its phone's country code): a number without one is a US
    number; every way of writing it is stored as E.164."""
    text = (
        "guardian_id,patient_id,first_name,last_name,relationship,phone,language,sms_consent\n"
        "g-p1,p-maya,Eve,Lopez,aunt,(555) 010-2031,en,yes\n"
        "g-p2,p-maya,Al,Lopez,uncle,555.010.2032,en,yes\n"
        "g-p3,p-leo,Bo,Lopez,uncle,+1 555 010 2033,en,yes\n"
        "g-p4,p-leo,Cy,Lopez,aunt,1-555-010-2034,en,yes\n"
        "g-p5,p-leo,Di,Lopez,aunt,+44 20 7946 0958,en,yes\n"
    )
    await import_csv(seeded, "guardians", csv_file(tmp_path, "g.csv", text), clock.now())
    async with seeded.read() as conn:
        rows = await conn.execute_fetchall(
            "SELECT id, phone FROM guardian WHERE id LIKE 'g-p%' ORDER BY id"
        )
    assert [tuple(r) for r in rows] == [
        ("g-p1", "+15550102031"), ("g-p2", "+15550102032"), ("g-p3", "+15550102033"),
        ("g-p4", "+15550102034"), ("g-p5", "+442079460958"),
    ]  # fmt: skip
    bad = text.splitlines()[0] + "\ng-p6,p-leo,Ed,Lopez,aunt,call me,en,yes\n"
    assert await rejected(seeded, "guardians", csv_file(tmp_path, "b.csv", bad), clock.now()) == [
        'line 2, column phone: "call me" is not a phone number (like +15551234567, or'
        " (555) 123-4567 in the practice's country, US)"
    ]


async def test_dates_in_the_practices_own_order_and_languages_without_texts_named(
    seeded: Database,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A US practice writes 3/14/2019; a language carebot has no texts in (fr) is kept, and
    the command says those families are written to in English."""
    text = (
        "patient_id,first_name,last_name,date_of_birth,language\n"
        "p-d1,Zoe,Martin,3/14/2019,fr\n"
        "p-d2,Ivy,Chen,2021-07-04,en\n"
        "p-d3,Al,Roy,13/14/2019,fr-CA\n"
    )
    errors = await rejected(seeded, "patients", csv_file(tmp_path, "p.csv", text), clock.now())
    assert errors == [
        'line 4, column date_of_birth: "13/14/2019" is not a date (MM/DD/YYYY or YYYY-MM-DD)'
    ]
    good = text.replace("13/14/2019", "12/01/2019")
    report = await import_csv(seeded, "patients", csv_file(tmp_path, "p.csv", good), clock.now())
    assert report.fallbacks == {"fr": 1, "fr-CA": 1}
    async with seeded.read() as conn:
        rows = await conn.execute_fetchall(
            "SELECT id, date_of_birth, language FROM patient WHERE id LIKE 'p-d%' ORDER BY id"
        )
    assert [tuple(r) for r in rows] == [
        ("p-d1", "2019-03-14", "fr"), ("p-d2", "2021-07-04", "en"), ("p-d3", "2019-12-01", "fr-CA"),
    ]  # fmt: skip
    monkeypatch.setenv("CAREBOT_DATABASE", str(seeded.path))
    for name, value in (("NAME", "Bright Steps"), ("PHONE", "+1 555 010 2030"),
                        ("TIMEZONE", "America/New_York")):  # fmt: skip
        monkeypatch.setenv(f"CAREBOT_PRACTICE__{name}", value)
    await seeded.close()
    code = await asyncio.to_thread(main, ["import", "patients", str(tmp_path / "p.csv")])
    out, _err = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[-1] == (
        "note: carebot has no texts yet in fr (1 row), fr-CA (1 row): those families are"
        " written to in English (the language stays in the record)"
    )


async def test_reimport_updates_by_id(seeded: Database, clock: FakeClock, tmp_path: Path) -> None:
    patients = PATIENTS.replace("Maya,Lopez", "Maya,López-Ruiz") + "p-ivy,Ivy,Chen,2021-07-04,en\n"
    report = await import_csv(
        seeded, "patients", csv_file(tmp_path, "p2.csv", patients), clock.now()
    )
    assert (report.rows, report.inserted, report.updated) == (3, 1, 2)
    # Two staff swap Slack ids in one file: allowed, and the ids stay unique.
    staff = (
        "staff_id,name,role,discipline,slack_user_id\n"
        "s-dana,Dana Rivera,clinician,speech-language pathology,U0TEST02\n"
        "s-tam,Tamara Brooks,admin,,U0TEST01\n"
    )
    await import_csv(seeded, "staff", csv_file(tmp_path, "s2.csv", staff), clock.now())
    async with seeded.read() as conn:
        record = Record(conn)
        maya = await record.people.patient("p-maya")
        assert maya is not None and maya.last_name == "López-Ruiz"
        assert await record.people.patient_ids() == {"p-maya", "p-leo", "p-ivy"}
        tam = await record.people.staff("s-tam")
        assert tam is not None and (tam.role, tam.slack_user_id) == ("admin", "U0TEST01")
        dana = await record.people.staff("s-dana")
        assert dana is not None and dana.slack_user_id == "U0TEST02"


async def test_a_slack_id_held_by_someone_else_is_refused(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    staff = "staff_id,name,role,discipline,slack_user_id\ns-new,Sam Lee,admin,,U0TEST01\n"
    assert await rejected(seeded, "staff", csv_file(tmp_path, "s.csv", staff), clock.now()) == [
        'line 2, column slack_user_id: "U0TEST01" already belongs to staff "s-dana"'
    ]


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("2026-11-25T15:30", datetime(2026, 11, 25, 20, 30, tzinfo=UTC)),
        ("2026-11-25 15:30:00", datetime(2026, 11, 25, 20, 30, tzinfo=UTC)),
        ("2026-11-25T15:30-08:00", datetime(2026, 11, 25, 23, 30, tzinfo=UTC)),
        ("2026-11-25T20:30:00Z", datetime(2026, 11, 25, 20, 30, tzinfo=UTC)),
        ("2026-07-01T09:00", datetime(2026, 7, 1, 13, 0, tzinfo=UTC)),  # EDT, UTC-4
    ],
)
async def test_a_start_without_offset_is_practice_time(
    seeded: Database, clock: FakeClock, tmp_path: Path, start: str, expected: datetime
) -> None:
    text = APPOINTMENTS.splitlines()[0] + f"\na-9,p-maya,s-dana,{start},30,,\n"
    await import_csv(seeded, "appointments", csv_file(tmp_path, "a.csv", text), clock.now())
    async with seeded.read() as conn:
        appointment = await Record(conn).appointments.get("a-9")
    assert appointment is not None and appointment.start_at == expected


async def test_bad_starts_and_durations(seeded: Database, clock: FakeClock, tmp_path: Path) -> None:
    text = APPOINTMENTS.splitlines()[0] + (
        "\na-7,p-maya,s-dana,2026-11-25,30,,\n"
        "a-8,p-maya,s-dana,2027-03-14T02:30,30,,\n"
        "a-9,p-maya,s-dana,2026-11-25T15:30,0,,\n"
    )
    errors = await rejected(seeded, "appointments", csv_file(tmp_path, "a.csv", text), clock.now())
    assert errors == [
        'line 2, column start: "2026-11-25" is not a date and time (ISO 8601, like'
        " 2026-11-25T15:30 or 2026-11-25T15:30-05:00)",
        'line 3, column start: "2027-03-14T02:30" does not exist in America/New_York (the'
        " clocks go forward at that hour)",
        'line 4, column duration_minutes: "0" is not a positive whole number of minutes',
    ]


async def test_appointments_need_the_practice(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "a.csv", APPOINTMENTS)
    [error] = await rejected(db, "appointments", path, clock.now())
    assert "CAREBOT_PRACTICE__TIMEZONE" in error and "carebot demo-data" in error


async def test_a_moved_appointment_is_reminded_afresh_and_others_untouched(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    now = clock.now()
    async with seeded.transaction() as conn:
        record = Record(conn)
        await record.appointments.record_answer(
            "a-1", participant_status="accepted", guardian_id="g-ana", now=now
        )
        await record.appointments.record_answer(
            "a-2", participant_status="accepted", guardian_id="g-ana", now=now
        )
        old = await record.reminders.for_appointment("a-1")
        untouched = (
            await record.appointments.get("a-2"),
            await record.reminders.for_appointment("a-2"),
        )
    assert {(r.offset_hours, r.status) for r in old} == {(72, "pending"), (24, "pending")}
    # a-1 moves from Friday 3:30 pm to Monday 10 am; a-2 is not in the file.
    moved = APPOINTMENTS.splitlines()[0] + "\na-1,p-maya,s-dana,2026-11-30T10:00,45,,Telehealth\n"
    clock.set(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    report = await import_csv(
        seeded, "appointments", csv_file(tmp_path, "m.csv", moved), clock.now()
    )
    assert (report.inserted, report.updated) == (0, 1)
    new_start = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    async with seeded.read() as conn:
        record = Record(conn)
        a1 = await record.appointments.get("a-1")
        assert a1 is not None and a1.start_at == new_start and a1.location == "Telehealth"
        assert (a1.status, a1.participant_status, a1.answered_by_guardian_id, a1.answered_at) == (
            "booked",
            "needs-action",
            None,
            None,
        )
        reminders = await record.reminders.for_appointment("a-1")
        assert {
            (r.appointment_start_at, r.status) for r in reminders if r.id in {o.id for o in old}
        } == {(datetime(2026, 11, 27, 20, 30, tzinfo=UTC), "withdrawn")}
        # Monday is past the planning window (72 h + 48 h): nothing is pending for it yet.
        assert [r for r in reminders if r.status == "pending"] == []
        assert (
            await record.appointments.get("a-2"),
            await record.reminders.for_appointment("a-2"),
        ) == untouched
    # Once the new start is inside the window, planning gives it fresh reminders.
    clock.set(datetime(2026, 11, 26, 16, 0, tzinfo=UTC))
    async with seeded.transaction() as conn:
        record = Record(conn)
        practice = await record.practice.get()
        assert practice is not None
        await plan_reminders(record, practice, clock.now())
        fresh = [r for r in await record.reminders.for_appointment("a-1") if r.status == "pending"]
    assert {(r.offset_hours, r.appointment_start_at) for r in fresh} == {
        (72, new_start),
        (24, new_start),
    }


async def test_a_reimport_keeps_answers_and_cancellations(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    now = clock.now()
    async with seeded.transaction() as conn:
        record = Record(conn)
        await record.appointments.record_answer(
            "a-1", participant_status="accepted", guardian_id="g-ana", now=now
        )
        await record.appointments.record_answer(
            "a-2",
            participant_status="declined",
            guardian_id="g-tom",
            now=now,
            cancellation_reason="sick",
        )
    # Same start for a-1 (new room): the confirmation stands. a-2 moves but stays cancelled.
    text = APPOINTMENTS.replace(
        "45,speech-language pathology,Clinic room 2\na-2", "45,,Room 5\na-2"
    )
    text = text.replace("2026-11-27T16:15:00-05:00", "2026-11-30T16:15")
    await import_csv(seeded, "appointments", csv_file(tmp_path, "r.csv", text), clock.now())
    async with seeded.read() as conn:
        record = Record(conn)
        a1, a2 = await record.appointments.get("a-1"), await record.appointments.get("a-2")
        assert a1 is not None and (a1.location, a1.participant_status) == ("Room 5", "accepted")
        assert a1.answered_by_guardian_id == "g-ana"
        assert a2 is not None and (a2.status, a2.cancellation_reason) == ("cancelled", "sick")
        assert a2.start_at == datetime(2026, 11, 30, 21, 15, tzinfo=UTC)
        assert not [
            r for r in await record.reminders.for_appointment("a-2") if r.status == "pending"
        ]


#: A row of each kind that the seeded record accepts, to break one column at a time.
GOOD_ROWS = {
    "patients": "p-new,Ava,Stone,2020-01-31,en",
    "guardians": "g-new,p-maya,Eve,Lopez,aunt,+15550100120,en,yes",
    "staff": "s-new,Sam Lee,clinician,speech-language pathology,U0TEST09",
    "care-team": "p-leo,s-tam",
    "appointments": "a-new,p-maya,s-dana,2026-11-30T10:00,45,speech,Clinic room 1",
}


@pytest.mark.parametrize(
    ("kind", "column"),
    [(kind, column) for kind in KINDS for column in COLUMNS[kind]],
)
async def test_a_control_character_in_any_field_is_refused(
    seeded: Database, clock: FakeClock, tmp_path: Path, kind: str, column: str
) -> None:
    values = dict(zip(COLUMNS[kind], GOOD_ROWS[kind].split(","), strict=True))
    await import_csv(  # the good row itself imports
        seeded,
        kind,
        csv_file(tmp_path, "good.csv", ",".join(COLUMNS[kind]) + "\n" + GOOD_ROWS[kind] + "\n"),
        clock.now(),
    )
    before = await dump(seeded)
    values[column] = values[column][:1] + "\x00" + values[column][1:]
    text = ",".join(COLUMNS[kind]) + "\n" + ",".join(values.values()) + "\n"
    shown = values[column].replace("\x00", "\\x00")
    assert await rejected(seeded, kind, csv_file(tmp_path, "nul.csv", text), clock.now()) == [
        f'line 2, column {column}: "{shown}" contains a control character (U+0000); a field'
        " takes printable text on one line"
    ]
    assert await dump(seeded) == before


async def test_control_characters_tabs_and_line_breaks_in_names_are_refused(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        "patient_id,first_name,last_name,date_of_birth,language\n"
        "p-1,Ma\tya,Lopez,2019-03-14,en\n"
        'p-2,"Ivy\nRose",Chen,2021-07-04,en\n'
        "p-3,Noa,Le\x1b[31mv\x85i,2020-01-01,en\n"
        "p-4,Zoë,O’Brien-Nakamura,2020-01-01,en\n"  # letters and punctuation are fine
    )
    before = await dump(seeded)
    errors = await rejected(seeded, "patients", csv_file(tmp_path, "p.csv", text), clock.now())
    assert errors == [
        'line 2, column first_name: "Ma\\tya" contains a control character (U+0009); a field'
        " takes printable text on one line",
        'line 3, column first_name: "Ivy\\nRose" contains a control character (U+000A); a field'
        " takes printable text on one line",
        'line 5, column last_name: "Le\\x1b[31mv\\x85i" contains a control character'
        " (U+001B, U+0085); a field takes printable text on one line",
    ]
    assert await dump(seeded) == before


@pytest.mark.parametrize(
    ("born", "expected"),
    [
        ("2999-01-01", '"2999-01-01" is after today (a date of birth cannot be)'),
        ("2026-11-25", '"2026-11-25" is after today (a date of birth cannot be)'),
        ("1899-12-31", '"1899-12-31" is before 1900 (not a date of birth)'),
        ("0019-03-14", '"0019-03-14" is before 1900 (not a date of birth)'),
    ],
)
async def test_an_impossible_date_of_birth_is_refused(
    pdb: Database, clock: FakeClock, tmp_path: Path, born: str, expected: str
) -> None:
    text = PATIENTS + f"p-bad,Ben,Stone,{born},en\n"
    before = await dump(pdb)
    errors = await rejected(pdb, "patients", csv_file(tmp_path, "p.csv", text), clock.now())
    assert errors == [f"line 4, column date_of_birth: {expected}"]
    assert await dump(pdb) == before


async def test_dates_of_birth_a_practice_has_are_taken(
    pdb: Database, clock: FakeClock, tmp_path: Path
) -> None:
    # Today (23 November, and already the 24th somewhere on Earth), 1900, and an adult client.
    text = PATIENTS.splitlines()[0] + (
        "\np-today,New,Born,2026-11-23,en\np-east,Early,Born,2026-11-24,en\n"
        "p-old,Ada,Old,1900-01-01,en\np-adult,Sam,Ortiz,1931-06-30,es\n"
    )
    report = await import_csv(pdb, "patients", csv_file(tmp_path, "p.csv", text), clock.now())
    assert report.inserted == 4


async def test_impossible_durations_and_starts_are_refused(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    # now is Monday 23 November 2026.
    text = APPOINTMENTS.splitlines()[0] + (
        "\na-7,p-maya,s-dana,2026-11-25T15:30,1441,,\n"
        "a-8,p-maya,s-dana,2031-11-24T10:00,45,,\n"
        "a-9,p-maya,s-dana,2006-11-22T10:00,45,,\n"
        "a-10,p-maya,s-dana,0026-11-25T15:30,45,,\n"
        "a-11,p-maya,s-dana,2026-11-25T15:30,²,,\n"
    )
    before = await dump(seeded)
    errors = await rejected(seeded, "appointments", csv_file(tmp_path, "a.csv", text), clock.now())
    assert errors == [
        'line 2, column duration_minutes: "1441" minutes is longer than a day (at most 1440)',
        'line 3, column start: "2031-11-24T10:00" is more than 5 years from now (a typo in the'
        " year?)",
        'line 4, column start: "2006-11-22T10:00" is more than 20 years ago (a typo in the year?)',
        'line 5, column start: "0026-11-25T15:30" is more than 20 years ago (a typo in the year?)',
        'line 6, column duration_minutes: "²" is not a positive whole number of minutes',
    ]
    assert await dump(seeded) == before


async def test_long_visits_far_ahead_and_history_are_taken(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    # A full-day intensive, a visit booked almost five years out, a visit years ago.
    text = APPOINTMENTS.splitlines()[0] + (
        "\na-7,p-maya,s-dana,2026-11-25T08:00,1440,,\n"
        "a-8,p-maya,s-dana,2031-11-21T10:00,45,,\n"
        "a-9,p-maya,s-dana,2010-02-01T10:00,45,,\n"
        "a-10,p-maya,s-dana,2026-11-26T10:00,٤٥,,\n"
    )
    report = await import_csv(
        seeded, "appointments", csv_file(tmp_path, "a.csv", text), clock.now()
    )
    assert report.inserted == 4
    async with seeded.read() as conn:
        a10 = await Record(conn).appointments.get("a-10")
    assert a10 is not None and a10.duration_minutes == 45


def test_problems_are_reported_in_file_order_whatever_order_they_were_found() -> None:
    found = [RowError(5, "b", "late"), RowError(2, "a", "early"), RowError(None, None, "file")]
    assert [str(e) for e in ImportRejected(found).errors] == [
        "file",
        "line 2, column a: early",
        "line 5, column b: late",
    ]


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``carebot`` run in this process on a record with the demo practice's settings."""
    for name in list(os.environ):
        if name.upper().startswith("CAREBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CAREBOT_DATABASE", str(tmp_path / "cli.db"))
    monkeypatch.setenv("CAREBOT_PRACTICE__NAME", DEMO_PRACTICE.name)
    monkeypatch.setenv("CAREBOT_PRACTICE__PHONE", DEMO_PRACTICE.phone)
    monkeypatch.setenv("CAREBOT_PRACTICE__TIMEZONE", DEMO_PRACTICE.timezone)
    return tmp_path


def test_the_command_prints_every_problem_in_file_order_then_a_summary(
    cli: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "patient_id,first_name,last_name,date_of_birth,language\n"
        "p-1,Ava,Stone,2020-02-30,en\n"
        "p-2,Ben,Stone,2020-01-01,en\n"
        "p-3,Cy,Stone,2020-01-01,en\n"
        "p-4,,Stone,2999-01-01,en\n"
    )
    code = main(["import", "patients", str(csv_file(cli, "p.csv", text))])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert [line for line in err.splitlines() if line.startswith("carebot")] == [
        'carebot: line 2, column date_of_birth: "2020-02-30" is not a date (MM/DD/YYYY or'
        " YYYY-MM-DD)",
        "carebot: line 5, column first_name: is empty (a value is required)",
        'carebot: line 5, column date_of_birth: "2999-01-01" is after today (a date of birth'
        " cannot be)",
        "carebot: 3 problems; nothing was imported",
    ]
    # Nothing was imported: the good rows 3 and 4 are not in the record either.
    assert main(["import", "patients", str(csv_file(cli, "ok.csv", PATIENTS))]) == 0
    assert "imported 2 patients rows: 2 new, 0 updated" in capsys.readouterr().out


def test_one_problem_is_one_problem(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = "patient_id,first_name,last_name,date_of_birth,language\np-1,A\x00,S,2020-01-01,en\n"
    code = main(["import", "patients", str(csv_file(cli, "p.csv", text))])
    err = capsys.readouterr().err
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("carebot")] == [
        'carebot: line 2, column first_name: "A\\x00" contains a control character (U+0000);'
        " a field takes printable text on one line",
        "carebot: 1 problem; nothing was imported",
    ]


# Streaming, batches and what a crash leaves (issue 11).

APPOINTMENT_HEADER = APPOINTMENTS.splitlines()[0]


def visits(count: int, first: int = 0) -> str:
    """``count`` appointment rows for the seeded record: every 30 minutes of practice time from
    Tuesday 24 November 2026, 8 am (the first days' visits inside the planning window)."""
    start = datetime(2026, 11, 24, 8, 0)
    patients, rooms = ("p-maya", "p-leo"), ("Clinic room 1", "Telehealth")
    return "".join(
        f"a-{first + i:06d},{patients[i % 2]},s-dana,"
        f"{(start + timedelta(minutes=30 * i)).isoformat(timespec='minutes')},"
        f"{(30, 45, 60)[i % 3]},speech,{rooms[i % 2]}\n"
        for i in range(count)
    )


async def import_run_rows(db: Database) -> list[tuple[object, ...]]:
    async with db.read() as conn:
        cur = await conn.execute("SELECT kind, file, rows, written, finished_at FROM import_run")
        return [tuple(row) for row in await cur.fetchall()]


async def test_a_file_of_thousands_of_rows_lands_completely_and_again_changes_nothing(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "year.csv", APPOINTMENT_HEADER + "\n" + visits(4000))
    report = await import_csv(seeded, "appointments", path, clock.now())
    assert (report.rows, report.inserted, report.updated) == (4000, 4000, 0)
    assert report.batches >= 3
    async with seeded.read() as conn:
        cur = await conn.execute(
            "SELECT id, patient_id, start_at, duration_minutes, location, status,"
            " participant_status FROM appointment WHERE id LIKE 'a-0%' ORDER BY id"
        )
        rows = [tuple(row) for row in await cur.fetchall()]
        planned = await Record(conn).reminders.for_appointments([r[0] for r in rows[:300]])
    assert len(rows) == 4000
    assert rows[0] == ("a-000000", "p-maya", "2026-11-24T13:00:00Z", 30, "Clinic room 1",
                       "booked", "needs-action")  # fmt: skip
    assert rows[-1][:3] == ("a-003999", "p-leo", "2027-02-15T20:30:00Z")
    # The visits inside the planning window (until Saturday 28 November, 2 pm UTC) have their
    # reminders from the import itself; those after it are left to the running bot.
    window_end = "2026-11-28T14:00:00Z"
    assert {r.appointment_id for r in planned} == {r[0] for r in rows[:300] if r[2] <= window_end}
    runs = await import_run_rows(seeded)
    assert runs[-1] == ("appointments", "year.csv", 4000, 4000, "2026-11-23T14:00:00Z")
    assert all(run[4] is not None for run in runs)
    before = await dump(seeded)
    again = await import_csv(seeded, "appointments", path, clock.now())
    assert (again.rows, again.inserted, again.updated) == (4000, 0, 4000)
    after = await dump(seeded)
    # Nothing changed (not even a row's updated_at) but the audit trail of the import itself.
    assert {t: rows for t, rows in after.items() if t != "audit_event"} == {
        t: rows for t, rows in before.items() if t != "audit_event"
    }
    assert len(after["audit_event"]) == len(before["audit_event"]) + 1


async def test_pass_two_writes_in_batches_and_a_family_commits_between_them(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    path = csv_file(tmp_path, "big.csv", APPOINTMENT_HEADER + "\n" + visits(5000))
    statements: list[str] = []
    await seeded._conn.set_trace_callback(statements.append)  # the writer's every statement
    task = asyncio.create_task(import_csv(seeded, "appointments", path, clock.now()))
    presses = 0
    while not task.done():
        # A family confirming a-1 (not in the file), again and again, while the file imports.
        async with seeded.transaction() as conn:
            await Record(conn).appointments.record_answer(
                "a-1", participant_status="accepted", guardian_id="g-ana", now=clock.now()
            )
        presses += 1
        await asyncio.sleep(0.005)
    report = await task
    await seeded._conn.set_trace_callback(None)
    transactions: list[str] = []  # "import" or "family", in commit order
    for statement in statements:
        if statement == "BEGIN IMMEDIATE":
            kind = ""
        elif statement.startswith("INSERT INTO appointment"):
            kind = "import"
        elif statement.startswith("UPDATE appointment SET participant_status"):
            kind = "family"
        elif statement == "COMMIT" and kind:
            transactions.append(kind)
    batches = [i for i, kind in enumerate(transactions) if kind == "import"]
    assert len(batches) == report.batches >= 3
    # The family's answer was committed between two batches of the import, not only before
    # or after it.
    assert any(
        kind == "family" and batches[0] < i < batches[-1] for i, kind in enumerate(transactions)
    )
    async with seeded.read() as conn:
        a1 = await Record(conn).appointments.get("a-1")
        cur = await conn.execute("SELECT count(*) FROM appointment")
        assert (await cur.fetchone())[0] == 5002
    assert a1 is not None and a1.participant_status == "accepted" and presses > 1


async def test_a_bad_last_row_of_a_large_file_writes_nothing(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    text = (
        APPOINTMENT_HEADER + "\n" + visits(3000) + "a-last,p-maya,s-ghost,2026-12-01T10:00,45,,\n"
    )
    before = await dump(seeded)
    runs = await import_run_rows(seeded)
    errors = await rejected(seeded, "appointments", csv_file(tmp_path, "a.csv", text), clock.now())
    assert errors == [
        'line 3002, column staff_id: no staff member "s-ghost" in the record (import staff first)'
    ]
    assert await dump(seeded) == before
    assert await import_run_rows(seeded) == runs  # pass 2 never began


async def test_an_id_repeated_far_apart_in_a_large_file_is_found(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    rows = visits(2500).splitlines()
    text = "\n".join([APPOINTMENT_HEADER, *rows, rows[10].replace("2026-11-24", "2026-12-24")])
    errors = await rejected(
        seeded, "appointments", csv_file(tmp_path, "a.csv", text + "\n"), clock.now()
    )
    assert errors == ['line 2502, column appointment_id: "a-000010" already appears on line 12']


async def test_moved_inside_the_window_is_reminded_at_once_beyond_it_only_withdrawn(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    async with seeded.read() as conn:
        record = Record(conn)
        old = {a: await record.reminders.for_appointment(a) for a in ("a-1", "a-2")}
    assert all(r.status == "pending" for rs in old.values() for r in rs)
    # Now is Monday 23 November, 2 pm UTC: the window (72 h + 48 h) ends Saturday 2 pm UTC.
    # a-1 moves from Friday to Thursday 10 am (inside it), a-2 to Wednesday 2 December.
    text = APPOINTMENT_HEADER + (
        "\na-1,p-maya,s-dana,2026-11-26T10:00,45,,Clinic room 2"
        "\na-2,p-leo,s-dana,2026-12-02T16:15,45,,Clinic room 2\n"
    )
    await import_csv(seeded, "appointments", csv_file(tmp_path, "m.csv", text), clock.now())
    thursday, wednesday = (
        datetime(2026, 11, 26, 15, 0, tzinfo=UTC),
        datetime(2026, 12, 2, 21, 15, tzinfo=UTC),
    )
    async with seeded.read() as conn:
        record = Record(conn)
        a1 = await record.reminders.for_appointment("a-1")
        a2 = await record.reminders.for_appointment("a-2")
    assert {(r.id, r.status) for r in a1 if r.id in {o.id for o in old["a-1"]}} == {
        (o.id, "withdrawn") for o in old["a-1"]
    }
    assert {
        (r.guardian_id, r.offset_hours, r.appointment_start_at) for r in a1 if r.status == "pending"
    } == {
        ("g-ana", 72, thursday),
        ("g-ana", 24, thursday),
    }
    assert {r.status for r in a2} == {"withdrawn"}
    assert not [r for r in a2 if r.appointment_start_at == wednesday]


async def test_an_import_that_died_is_said_and_running_it_again_completes_it(
    seeded: Database,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = csv_file(tmp_path, "year.csv", APPOINTMENT_HEADER + "\n" + visits(4000))
    written = Appointments.write
    calls = 0

    async def dies_in_batch_three(self: Appointments, *args: object) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise KeyboardInterrupt  # the process is stopped mid-way
        return await written(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Appointments, "write", dies_in_batch_three)
    with pytest.raises(KeyboardInterrupt):
        await import_csv(seeded, "appointments", path, clock.now())
    monkeypatch.undo()
    async with seeded.read() as conn:
        cur = await conn.execute("SELECT count(*) FROM appointment WHERE id LIKE 'a-0%'")
        done = (await cur.fetchone())[0]
    # The first two batches are in, and the run says how far it got.
    assert 0 < done < 4000
    [run] = [r for r in await import_run_rows(seeded) if r[1] == "year.csv"]
    assert run == ("appointments", "year.csv", 4000, done, None)
    # The next import (of anything) says so; importing the same file again completes it.
    caplog.set_level(logging.WARNING, logger="handlers.records.imports")
    report = await import_csv(seeded, "appointments", path, clock.now())
    assert [(r.kind, r.file, r.rows, r.written) for r in report.unfinished] == [
        ("appointments", "year.csv", 4000, done)
    ]
    assert (report.inserted, report.updated) == (4000 - done, done)
    assert (
        f"the import of appointments from year.csv started 2026-11-23T14:00:00+00:00 did not"
        f" finish ({done} of 4000 rows written, or it is still running): importing that file"
        " again completes it"
    ) in caplog.messages
    async with seeded.read() as conn:
        cur = await conn.execute("SELECT count(*) FROM appointment WHERE id LIKE 'a-0%'")
        assert (await cur.fetchone())[0] == 4000
    caplog.clear()
    assert (await import_csv(seeded, "patients", csv_file(tmp_path, "p.csv", PATIENTS),
                             clock.now())).unfinished == ()  # fmt: skip
    assert not [m for m in caplog.messages if "did not finish" in m]


@pytest.mark.parametrize("chunk", [2, 5, 1 << 20])
async def test_the_file_is_decoded_as_it_is_read(
    pdb: Database,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chunk: int,
) -> None:
    # Read a few bytes at a time, a byte order mark, a CRLF and every multi-byte character are
    # split across reads; a byte that is not UTF-8 far down is reported with its line.
    monkeypatch.setattr(imports, "CHUNK_BYTES", chunk)
    header = "patient_id,first_name,last_name,date_of_birth,language\r\n"
    rows = "".join(f"p-{i},Zoë 🦖,Nuñez-García,2020-01-01,es\r\n" for i in range(300))
    path = tmp_path / "p.csv"
    path.write_bytes(codecs.BOM_UTF8 + (header + rows).encode())
    report = await import_csv(pdb, "patients", path, clock.now())
    assert (report.rows, report.inserted) == (300, 300)
    async with pdb.read() as conn:
        last = await Record(conn).people.patient("p-299")
    assert last is not None and (last.first_name, last.last_name) == ("Zoë 🦖", "Nuñez-García")
    path.write_bytes((header + rows).encode() + "p-x,Sofía,G,2020-01-01,es\n".encode("latin-1"))
    assert await rejected(pdb, "patients", path, clock.now()) == [
        "line 302: the file is not UTF-8 text"
    ]


async def test_staff_may_add_their_language_and_a_file_without_it_keeps_it(
    seeded: Database, clock: FakeClock, tmp_path: Path
) -> None:
    """The staff file's optional language column: Dana reads carebot in Spanish from then on;
    a later file without the column (the practice's usual export) leaves it as it is, one
    with an empty value means English; a tag that is not a language is refused by line."""
    with_language = (
        "staff_id,name,role,discipline,slack_user_id,language\n"
        "s-dana,Dana Rivera,clinician,speech-language pathology,U0TEST01,es-MX\n"
        "s-tam,Tamara Brooks,coordinator,,,\n"
    )
    report = await import_csv(
        seeded, "staff", csv_file(tmp_path, "s1.csv", with_language), clock.now()
    )
    assert (report.inserted, report.updated) == (0, 2)
    async with seeded.read() as conn:
        dana = await Record(conn).people.staff("s-dana")
        tam = await Record(conn).people.staff("s-tam")
    assert dana is not None and dana.language == "es-MX"
    assert tam is not None and tam.language == "en"

    await import_csv(seeded, "staff", csv_file(tmp_path, "s2.csv", STAFF), clock.now())
    async with seeded.read() as conn:
        dana = await Record(conn).people.staff("s-dana")
    assert dana is not None and dana.language == "es-MX"

    bad = with_language.replace("es-MX", "Spanish!")
    assert await rejected(seeded, "staff", csv_file(tmp_path, "s3.csv", bad), clock.now()) == [
        'line 2, column language: "Spanish!" is not a language tag (BCP 47, like en or es-MX)'
    ]
