"""CSV import of the care record: patients, guardians, staff, care teams and appointments.

All rows or none: every row is checked first and every problem is reported with its line and
column; only a clean file is written, in one transaction. Re-importing updates rows by id.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError

from handlers.reminders import plan_reminders
from storage.db import Database
from storage.models import Appointment, Guardian, GuardianLink, Patient, Role, Staff
from storage.record import Record

log = logging.getLogger(__name__)

#: The columns each kind's header must name (INTERFACE.md); other columns are ignored.
COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id", "first_name", "last_name", "date_of_birth", "language"),
    "guardians": (
        "guardian_id",
        "patient_id",
        "first_name",
        "last_name",
        "relationship",
        "phone",
        "language",
        "sms_consent",
    ),
    "staff": ("staff_id", "name", "role", "discipline", "slack_user_id"),
    "care-team": ("patient_id", "staff_id"),
    "appointments": (
        "appointment_id",
        "patient_id",
        "staff_id",
        "start",
        "duration_minutes",
        "service",
        "location",
    ),
}
#: The kinds of import, in the order a new practice imports them.
KINDS: tuple[str, ...] = tuple(COLUMNS)
E164 = re.compile(r"^\+[1-9]\d{7,14}$")
ROLES = ("clinician", "coordinator", "admin")
_YES, _NO = ("yes", "y", "true"), ("no", "n", "false")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NO_PRACTICE = (
    "the practice is not set up (its timezone places appointment times): set"
    " CAREBOT_PRACTICE__TIMEZONE (and the other CAREBOT_PRACTICE__ settings) or run"
    " `carebot demo-data`"
)


@dataclass(frozen=True)
class RowError:
    """One problem in an import file.

    Attributes:
        line: the file's line number (the header is line 1); None for the file as a whole.
        column: the column's name, or None when the problem is the whole row or file.
        message: what is wrong, in plain English.
    """

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        where += [f"column {self.column}"] if self.column else []
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ImportRejected(Exception):
    """The file was not imported; ``errors`` says why (every problem found, in file order)."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(
            "; ".join(str(e) for e in errors[:3]) + ("; ..." if len(errors) > 3 else "")
        )
        self.errors = errors


@dataclass(frozen=True)
class ImportReport:
    """What an import did. A row is "updated" when the record it names already existed."""

    kind: str
    rows: int
    inserted: int
    updated: int


@dataclass(frozen=True)
class CsvRow:
    """One data row: its first line number and its values by (lower-cased) column name."""

    line: int
    values: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


Write = Callable[[], Awaitable[Any]]


class Checker:
    """Reads typed values out of rows, collecting a :class:`RowError` for each bad one."""

    def __init__(self) -> None:
        self.errors: list[RowError] = []

    def fail(self, row: CsvRow, column: str | None, message: str) -> None:
        self.errors.append(RowError(row.line, column, message))

    def text(self, row: CsvRow, column: str, required: bool = True) -> str:
        value = row[column]
        if required and not value:
            self.fail(row, column, "is empty (a value is required)")
        return value

    def date(self, row: CsvRow, column: str) -> str:
        value = self.text(row, column)
        if value:
            try:
                if not _DATE.match(value):
                    raise ValueError(value)
                date.fromisoformat(value)
            except ValueError:
                self.fail(row, column, f'"{value}" is not a date (YYYY-MM-DD)')
        return value

    def phone(self, row: CsvRow, column: str) -> str | None:
        value = self.text(row, column, required=False).replace(" ", "")
        if value and not E164.match(value):
            self.fail(
                row,
                column,
                f'"{row[column]}" is not a phone number (expected E.164 like +15551234567)',
            )
        return value or None

    def language(self, row: CsvRow, column: str) -> str:
        value = self.text(row, column)
        if not value:
            return value
        try:
            Locale.parse(value, sep="-")
        except (ValueError, TypeError, UnknownLocaleError):
            self.fail(row, column, f'"{value}" is not a language tag (BCP 47, like en or es-MX)')
        primary, dash, rest = value.partition("-")
        return primary.lower() + dash + rest

    def consent(self, row: CsvRow, column: str) -> bool:
        value = self.text(row, column).lower()
        if value and value not in _YES + _NO:
            self.fail(row, column, f'"{row[column]}" is not yes or no')
        return value in _YES

    def role(self, row: CsvRow, column: str) -> str:
        value = self.text(row, column).lower()
        if value and value not in ROLES:
            self.fail(
                row, column, f'"{row[column]}" is not a role (clinician, coordinator or admin)'
            )
        return value

    def minutes(self, row: CsvRow, column: str) -> int:
        value = self.text(row, column)
        if value and not (value.isdigit() and int(value) > 0):
            self.fail(row, column, f'"{value}" is not a positive whole number of minutes')
            return 0
        return int(value) if value else 0

    def start(self, row: CsvRow, column: str, zone: ZoneInfo) -> datetime | None:
        """An ISO 8601 date and time; without an offset it is the practice's local time."""
        value = self.text(row, column)
        if not value:
            return None
        try:
            parsed = datetime.fromisoformat(value) if len(value) > 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            self.fail(
                row,
                column,
                f'"{value}" is not a date and time (ISO 8601, like'
                " 2026-11-25T15:30 or 2026-11-25T15:30-05:00)",
            )
            return None
        if parsed.tzinfo is None:
            local = parsed.replace(tzinfo=zone)
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
                self.fail(
                    row,
                    column,
                    f'"{value}" does not exist in {zone.key} (the clocks go forward at that hour)',
                )
                return None
            parsed = local
        return parsed.astimezone(UTC).replace(microsecond=0)

    def known(self, row: CsvRow, column: str, ids: set[str], what: str, kind: str) -> None:
        """Report a reference to a record that does not exist."""
        value = row[column]
        if value and value not in ids:
            self.fail(row, column, f'no {what} "{value}" in the record (import {kind} first)')

    def once(
        self, row: CsvRow, column: str, key: object, seen: dict[object, int], what: str = ""
    ) -> bool:
        """Report a key already used on an earlier line of this file; True if first use."""
        if key in seen:
            what = what or f'"{row[column]}"'
            self.fail(row, column, f"{what} already appears on line {seen[key]}")
            return False
        seen[key] = row.line
        return True


async def import_csv(db: Database, kind: str, path: Path, now: datetime) -> ImportReport:
    """Import one CSV file of ``kind`` into the care record, all rows or none.

    Args:
        db: the open care record.
        kind: one of :data:`KINDS`.
        path: the CSV file (UTF-8, with or without a byte order mark; header row required).
        now: the current instant (for timestamps and reminder planning).

    Returns:
        How many rows were read, and how many of them were new or updates.

    Raises:
        ImportRejected: the kind, the file or any row is bad; nothing was written.
    """
    rows = await read_rows(kind, path)
    async with db.transaction() as conn:
        record = Record(conn)
        checker = Checker()
        writes, inserted = await PREPARERS[kind](checker, record, rows, now)
        if checker.errors:
            raise ImportRejected(checker.errors)
        for write in writes:
            await write()
        if kind in ("guardians", "appointments"):
            practice = await record.practice.get()
            if practice is not None:
                await plan_reminders(record, practice, now)
        await record.audit.record(
            actor_type="operator",
            actor_id="",
            action=f"import.{kind}",
            entity_type="import",
            entity_id=path.name,
            now=now,
            detail=f"rows={len(rows)}",
        )
    log.info("import %s from %s: %d rows, %d new", kind, path.name, len(rows), inserted)
    return ImportReport(kind, len(rows), inserted, len(rows) - inserted)


async def read_rows(kind: str, path: Path) -> list[CsvRow]:
    """The data rows of a CSV file, after checking the kind, the encoding and the header."""
    if kind not in COLUMNS:
        raise ImportRejected(
            [RowError(None, None, f'unknown kind "{kind}": expected one of {", ".join(KINDS)}')]
        )
    try:
        data = await asyncio.to_thread(path.read_bytes)
    except OSError as exc:
        message = f"cannot read {path}: {exc.strerror or exc}"
        raise ImportRejected([RowError(None, None, message)]) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected([RowError(line, None, "the file is not UTF-8 text")]) from None
    wanted = COLUMNS[kind]
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows: list[CsvRow] = []
    first_line = 1
    try:
        for fields in reader:
            if any(f.strip() for f in fields):
                if header is None:
                    header = [f.strip().lower() for f in fields]
                    _check_header(header, wanted, first_line)
                else:
                    values = dict(reversed(list(zip(header, map(str.strip, fields), strict=False))))
                    rows.append(CsvRow(first_line, {c: values.get(c, "") for c in wanted}))
            first_line = reader.line_num + 1
    except csv.Error as exc:
        raise ImportRejected([RowError(reader.line_num, None, f"not valid CSV ({exc})")]) from None
    if header is None:
        raise ImportRejected(
            [
                RowError(
                    1, None, f"the file is empty: expected a header row with {', '.join(wanted)}"
                )
            ]
        )
    return rows


def _check_header(header: list[str], wanted: tuple[str, ...], line: int) -> None:
    missing = [c for c in wanted if c not in header]
    if missing:
        # The first error (the one a command line shows last) says what the header needs.
        errors = [RowError(line, c, "missing from the header") for c in missing]
        hint = f"{errors[0].message} (the header must name {', '.join(wanted)})"
        errors[0] = RowError(line, missing[0], hint)
        raise ImportRejected(errors)


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
        born, language = check.date(row, "date_of_birth"), check.language(row, "language")
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
            if holder is not None and holder != staff_id and holder not in in_file:
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
        start = check.start(row, "start", zone)
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
