"""CSV import of the care record: patients, guardians, staff, care teams and appointments.

All rows or none: every row is checked first and every problem is reported with its line and
column; only a clean file is written, in one transaction. Re-importing updates rows by id.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from handlers.import_checks import E164, ROLES, Checker, CsvRow, ImportRejected, RowError
from handlers.import_records import NO_PRACTICE, PREPARERS
from handlers.reminders import plan_reminders
from storage.db import Database
from storage.record import Record

__all__ = [
    "COLUMNS",
    "E164",
    "KINDS",
    "NO_PRACTICE",
    "PREPARERS",
    "ROLES",
    "Checker",
    "CsvRow",
    "ImportRejected",
    "ImportReport",
    "RowError",
    "import_csv",
    "read_rows",
]

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


@dataclass(frozen=True)
class ImportReport:
    """What an import did. A row is "updated" when the record it names already existed."""

    kind: str
    rows: int
    inserted: int
    updated: int


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
        # The first error says what the header needs.
        errors = [RowError(line, c, "missing from the header") for c in missing]
        hint = f"{errors[0].message} (the header must name {', '.join(wanted)})"
        errors[0] = RowError(line, missing[0], hint)
        raise ImportRejected(errors)
