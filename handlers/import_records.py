"""Per-kind import preparers: patients, guardians, staff, care teams and appointments.

Each preparer checks its rows against the file and the record, and returns the writes a clean
file makes (nothing is written here) with how many of its rows are new.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial
from typing import Any, cast
from zoneinfo import ZoneInfo

from handlers.import_checks import Checker, CsvRow, ImportRejected, RowError
from storage.models import Appointment, Guardian, GuardianLink, Patient, Role, Staff
from storage.record import Record

NO_PRACTICE = (
    "the practice is not set up (its timezone places appointment times): set"
    " CAREBOT_PRACTICE__TIMEZONE (and the other CAREBOT_PRACTICE__ settings) or run"
    " `carebot demo-data`"
)

Write = Callable[[], Awaitable[Any]]
Prepared = tuple[list[Write], int]
_FRESH: dict[str, Any] = {
    "participant_status": "needs-action",
    "answered_by_guardian_id": None,
    "answered_at": None,
    "cancellation_reason": None,
    "reschedule_requested_at": None,
}


async def _patients(check: Checker, record: Record, rows: list[CsvRow], now: datetime) -> Prepared:
    existing = await record.people.patient_ids()
    writes: list[Write] = []
    seen: dict[object, int] = {}
    for row in rows:
        mark = len(check.errors)
        patient_id = check.text(row, "patient_id")
        first, last = check.text(row, "first_name"), check.text(row, "last_name")
        born = check.birth_date(row, "date_of_birth", now)
        language = check.language(row, "language")
        if patient_id:
            check.once(row, "patient_id", patient_id, seen)
        if len(check.errors) == mark:
            patient = Patient(
                id=patient_id,
                first_name=first,
                last_name=last,
                date_of_birth=born,
                language=language,
            )
            writes.append(partial(record.people.save_patient, patient, now))
    return writes, len({r["patient_id"] for r in rows} - existing)


async def _guardians(check: Checker, record: Record, rows: list[CsvRow], now: datetime) -> Prepared:
    patients = await record.people.patient_ids()
    writes: list[Write] = []
    links: dict[object, int] = {}
    first_rows: dict[str, tuple[int, dict[str, Any]]] = {}
    new = 0
    for row in rows:
        mark = len(check.errors)
        guardian_id, patient_id = check.text(row, "guardian_id"), check.text(row, "patient_id")
        check.known(row, "patient_id", patients, "patient", "patients")
        relationship = check.text(row, "relationship")
        person: dict[str, Any] = {
            "first_name": check.text(row, "first_name"),
            "last_name": check.text(row, "last_name"),
            "phone": check.phone(row, "phone"),
            "language": check.language(row, "language"),
            "sms_consent": check.consent(row, "sms_consent"),
        }
        if person["sms_consent"] and not row["phone"]:
            check.fail(row, "phone", "is empty but sms_consent is yes (texts need a phone number)")
        if guardian_id and patient_id:
            check.once(
                row,
                "patient_id",
                (guardian_id, patient_id),
                links,
                f'guardian "{guardian_id}" with patient "{patient_id}"',
            )
        if len(check.errors) > mark:
            continue
        if guardian_id in first_rows:
            line, earlier = first_rows[guardian_id]
            for column in (c for c, value in person.items() if value != earlier[c]):
                check.fail(
                    row,
                    column,
                    f'differs from line {line} for guardian "{guardian_id}"'
                    " (name, phone, language and sms_consent must agree on every row)",
                )
        else:
            first_rows[guardian_id] = (row.line, person)
            current = await record.people.guardian(guardian_id)
            guardian = Guardian(
                id=guardian_id, timezone=current.timezone if current else None, **person
            )
            writes.append(partial(record.people.save_guardian, guardian, now))
        link = GuardianLink(
            guardian_id=guardian_id,
            patient_id=patient_id,
            relationship=relationship,
            may_receive_updates=True,
        )
        writes.append(partial(record.people.link, link))
        new += not await record.people.is_guardian_of(guardian_id, patient_id)
    return writes, new


async def _staff(check: Checker, record: Record, rows: list[CsvRow], now: datetime) -> Prepared:
    current = {i: await record.people.staff(i) for i in await record.people.staff_ids()}
    holders = {s.slack_user_id: s.id for s in current.values() if s and s.slack_user_id}
    in_file = {row["staff_id"] for row in rows}
    seen: dict[object, int] = {}
    seen_slack: dict[object, int] = {}
    clear: list[Write] = []
    saves: list[Write] = []
    for row in rows:
        mark = len(check.errors)
        staff_id, name = check.text(row, "staff_id"), check.text(row, "name")
        role = check.role(row, "role")
        discipline = check.text(row, "discipline", required=False)
        slack = check.text(row, "slack_user_id", required=False) or None
        if staff_id:
            check.once(row, "staff_id", staff_id, seen)
        if slack and check.once(row, "slack_user_id", slack, seen_slack):
            holder = holders.get(slack)
            if holder is not None and staff_id and holder != staff_id and holder not in in_file:
                check.fail(row, "slack_user_id", f'"{slack}" already belongs to staff "{holder}"')
        if len(check.errors) > mark:
            continue
        old = current.get(staff_id)
        if old is not None and old.slack_user_id and old.slack_user_id != slack:
            # Free the old Slack id first, so two staff may swap ids in one file.
            freed = old.model_copy(update={"slack_user_id": None})
            clear.append(partial(record.people.save_staff, freed, now))
        staff = Staff(
            id=staff_id,
            name=name,
            role=cast(Role, role),
            discipline=discipline,
            slack_user_id=slack,
        )
        saves.append(partial(record.people.save_staff, staff, now))
    return clear + saves, len(in_file - set(current))


async def _care_team(check: Checker, record: Record, rows: list[CsvRow], now: datetime) -> Prepared:
    patients, staff = await record.people.patient_ids(), await record.people.staff_ids()
    writes: list[Write] = []
    seen: dict[object, int] = {}
    new = 0
    for row in rows:
        mark = len(check.errors)
        patient_id, staff_id = check.text(row, "patient_id"), check.text(row, "staff_id")
        check.known(row, "patient_id", patients, "patient", "patients")
        check.known(row, "staff_id", staff, "staff member", "staff")
        if patient_id and staff_id:
            check.once(
                row,
                "staff_id",
                (patient_id, staff_id),
                seen,
                f'patient "{patient_id}" with staff "{staff_id}"',
            )
        if len(check.errors) > mark:
            continue
        writes.append(partial(record.people.add_to_care_team, patient_id, staff_id, now))
        new += staff_id not in {s.id for s in await record.people.care_team(patient_id)}
    return writes, new


async def _appointments(
    check: Checker, record: Record, rows: list[CsvRow], now: datetime
) -> Prepared:
    practice = await record.practice.get()
    if practice is None:
        raise ImportRejected([RowError(None, None, NO_PRACTICE)])
    zone = ZoneInfo(practice.timezone)
    patients, staff = await record.people.patient_ids(), await record.people.staff_ids()
    writes: list[Write] = []
    seen: dict[object, int] = {}
    new = 0
    for row in rows:
        mark = len(check.errors)
        appointment_id = check.text(row, "appointment_id")
        patient_id, staff_id = check.text(row, "patient_id"), check.text(row, "staff_id")
        check.known(row, "patient_id", patients, "patient", "patients")
        check.known(row, "staff_id", staff, "staff member", "staff")
        start = check.start(row, "start", zone, now)
        fields: dict[str, Any] = {
            "patient_id": patient_id,
            "staff_id": staff_id,
            "start_at": start,
            "duration_minutes": check.minutes(row, "duration_minutes"),
            "service": check.text(row, "service", required=False),
            "location": check.text(row, "location", required=False),
        }
        if appointment_id:
            check.once(row, "appointment_id", appointment_id, seen)
        if len(check.errors) > mark or start is None:
            continue
        existing = await record.appointments.get(appointment_id)
        if existing is None:
            new += 1
            appointment = Appointment(id=appointment_id, status="booked", **_FRESH, **fields)
        else:
            writes += await _withdraw_stale(record, existing, patient_id, start, now)
            moved = existing.start_at != start or existing.patient_id != patient_id
            if moved and existing.status == "booked":
                fields |= _FRESH  # a moved visit needs a fresh confirmation
            appointment = existing.model_copy(update=fields)
        writes.append(partial(record.appointments.save, appointment, now))
    return writes, new


async def _withdraw_stale(
    record: Record, existing: Appointment, patient_id: str, start: datetime, now: datetime
) -> list[Write]:
    """Pending reminders an updated appointment no longer matches (old start, other family)."""
    writes: list[Write] = []
    if existing.start_at != start:
        writes.append(
            partial(record.reminders.withdraw_pending, existing.id, now, except_start=start)
        )
    if existing.patient_id != patient_id:
        keep = {g.id for g in await record.people.guardians_of(patient_id)}
        stale = [
            r.id
            for r in await record.reminders.for_appointment(existing.id)
            if r.status == "pending" and r.guardian_id not in keep
        ]
        writes.append(partial(record.reminders.set_status, stale, "withdrawn", now))
    return writes


PREPARERS: dict[str, Callable[[Checker, Record, list[CsvRow], datetime], Awaitable[Prepared]]] = {
    "patients": _patients,
    "guardians": _guardians,
    "staff": _staff,
    "care-team": _care_team,
    "appointments": _appointments,
}
