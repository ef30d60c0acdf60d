"""Per-kind imports: patients, guardians, staff and care teams here, appointments in
:mod:`handlers.records.import_appointments`; and the same checks and writes for a small table
held in memory (the demo's: :data:`PREPARERS`).

Each kind checks one row at a time (pass 1: nothing is written; the row's values, as the writer
needs them, are kept in the :class:`~handlers.records.import_spill.Spill`), then writes a batch of
checked rows at a time (pass 2, one short transaction per batch, in
:func:`handlers.records.imports.import_csv`). What a row is checked against (the known patient
and staff ids, who holds which Slack id) is read from the record first: the size of the record,
not of the file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from handlers.core.texts import DEFAULT_LANGUAGE
from handlers.records.import_appointments import NO_PRACTICE, Appointments
from handlers.records.import_checks import Checker, CsvRow
from handlers.records.import_kinds import Context, Kind, Values
from handlers.records.import_spill import Seen, SeenInMemory, key_of
from handlers.reminders.planning import PLAN_BATCH, plan_appointments, plan_horizon
from storage.models import Guardian, GuardianLink, Patient, Practice, Role, Staff
from storage.record import Record

__all__ = ["KIND", "NO_PRACTICE", "PREPARERS", "kind_of", "plan_page"]

Write = Callable[[], Awaitable[Any]]
Prepared = tuple[list[Write], int]


class Patients(Kind):
    width = 5

    def check(self, check: Checker, row: CsvRow, ctx: Context, seen: Seen) -> Values | None:
        mark = len(check.errors)
        patient_id = check.text(row, "patient_id")
        first, last = check.text(row, "first_name"), check.text(row, "last_name")
        born = check.birth_date(row, "date_of_birth", ctx.now)
        language = check.language(row, "language")
        if patient_id:
            check.once_later(row, "patient_id", patient_id, seen)
        if len(check.errors) > mark:
            return None
        return (patient_id, first, last, born, language)

    async def new_rows(self, record: Record, rows: list[Values]) -> int:
        return len(rows) - len(await record.people.existing_patient_ids([r[0] for r in rows]))

    async def write(self, record: Record, rows: list[Values], ctx: Context) -> int:
        new = await self.new_rows(record, rows)
        patients = [
            Patient(id=i, first_name=f, last_name=la, date_of_birth=b, language=lang)
            for i, f, la, b, lang in rows
        ]
        await record.people.save_patients(patients, ctx.now)
        return new


class Guardians(Kind):
    # guardian_id, patient_id, relationship, first, last, phone, language, consent, first row
    width = 9
    batch = 500

    async def context(self, record: Record, now: datetime) -> Context:
        return Context(
            now=now,
            practice=await record.practice.get(),
            patients=await record.people.patient_ids(),
        )

    def __init__(self) -> None:
        #: guardian id -> (line, person) of its first row, to check that later rows agree.
        self._first: dict[str, tuple[int, dict[str, Any]]] = {}

    def check(self, check: Checker, row: CsvRow, ctx: Context, seen: Seen) -> Values | None:
        mark = len(check.errors)
        guardian_id, patient_id = check.text(row, "guardian_id"), check.text(row, "patient_id")
        check.known(row, "patient_id", ctx.patients, "patient", "patients")
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
                seen,
                f'guardian "{guardian_id}" with patient "{patient_id}"',
            )
        if len(check.errors) > mark:
            return None
        first_row = guardian_id not in self._first
        if first_row:
            self._first[guardian_id] = (row.line, person)
        else:
            line, earlier = self._first[guardian_id]
            for column in (c for c, value in person.items() if value != earlier[c]):
                check.fail(
                    row,
                    column,
                    f'differs from line {line} for guardian "{guardian_id}"'
                    " (name, phone, language and sms_consent must agree on every row)",
                )
        return (
            guardian_id,
            patient_id,
            relationship,
            person["first_name"],
            person["last_name"],
            person["phone"],
            person["language"],
            int(person["sms_consent"]),
            int(first_row),
        )

    async def new_rows(self, record: Record, rows: list[Values]) -> int:
        pairs = [(r[0], r[1]) for r in rows]
        return len(pairs) - len(await record.people.existing_links(pairs))

    async def write(self, record: Record, rows: list[Values], ctx: Context) -> int:
        new = await self.new_rows(record, rows)
        guardians = [
            Guardian(
                id=r[0],
                first_name=r[3],
                last_name=r[4],
                phone=r[5],
                language=r[6],
                sms_consent=bool(r[7]),
                timezone=None,  # a guardian's timezone is never imported (kept if set)
            )
            for r in rows
            if r[8]
        ]
        await record.people.save_guardians(guardians, ctx.now)
        links = [
            GuardianLink(
                guardian_id=r[0], patient_id=r[1], relationship=r[2], may_receive_updates=True
            )
            for r in rows
        ]
        await record.people.link_many(links)
        return new

    def replan(self, rows: list[Values]) -> list[str]:
        return sorted({r[1] for r in rows})


class StaffKind(Kind):
    # staff_id, name, role, discipline, slack_user_id, language (None: the file has no
    # language column, and a stored language is kept)
    width = 6
    batch = 500

    async def context(self, record: Record, now: datetime) -> Context:
        holders = await record.people.slack_holders()
        return Context(now=now, staff=await record.people.staff_ids(), slack_holders=holders)

    def check(self, check: Checker, row: CsvRow, ctx: Context, seen: Seen) -> Values | None:
        mark = len(check.errors)
        staff_id, name = check.text(row, "staff_id"), check.text(row, "name")
        role = check.role(row, "role")
        discipline = check.text(row, "discipline", required=False)
        slack = check.text(row, "slack_user_id", required=False) or None
        language = None
        if "language" in row.values:
            language = check.language(row, "language", required=False)
        if staff_id:
            check.once(row, "staff_id", staff_id, seen)
        if slack and check.once(row, "slack_user_id", ("slack", slack), seen, f'"{slack}"'):
            holder = ctx.slack_holders.get(slack)
            if holder is not None and staff_id and holder != staff_id:
                ctx.claims.append((row, slack, holder))
        if len(check.errors) > mark:
            return None
        return (staff_id, name, role, discipline, slack, language)

    def finish(self, check: Checker, ctx: Context, seen: Seen) -> None:
        # A Slack id is free to take if its holder is in the file too (with another id or
        # none: the same id twice is reported as a repeat).
        for row, slack, holder in ctx.claims:
            if not seen.has(key_of(holder)):
                check.fail(row, "slack_user_id", f'"{slack}" already belongs to staff "{holder}"')

    async def new_rows(self, record: Record, rows: list[Values]) -> int:
        return len(rows) - len(await record.people.existing_staff_ids([r[0] for r in rows]))

    def phases(self) -> tuple[Callable[[Record, list[Values], Context], Awaitable[int]], ...]:
        # Every old Slack id is freed before any is taken, so two staff may swap ids in a file.
        return (self.free_slack_ids, self.write)

    async def free_slack_ids(self, record: Record, rows: list[Values], ctx: Context) -> int:
        new = await self.new_rows(record, rows)
        await record.people.free_slack_ids([(r[0], r[4]) for r in rows], ctx.now)
        return new

    async def write(self, record: Record, rows: list[Values], ctx: Context) -> int:
        staff = [
            Staff(
                id=i,
                name=n,
                role=cast(Role, role),
                discipline=d,
                slack_user_id=s,
                language=lang or DEFAULT_LANGUAGE,
            )
            for i, n, role, d, s, lang in rows
        ]
        await record.people.save_staff_many(
            staff, ctx.now, with_language=any(r[5] is not None for r in rows)
        )
        return 0


class CareTeam(Kind):
    width = 2

    async def context(self, record: Record, now: datetime) -> Context:
        return Context(
            now=now,
            patients=await record.people.patient_ids(),
            staff=await record.people.staff_ids(),
        )

    def check(self, check: Checker, row: CsvRow, ctx: Context, seen: Seen) -> Values | None:
        mark = len(check.errors)
        patient_id, staff_id = check.text(row, "patient_id"), check.text(row, "staff_id")
        check.known(row, "patient_id", ctx.patients, "patient", "patients")
        check.known(row, "staff_id", ctx.staff, "staff member", "staff")
        if patient_id and staff_id:
            check.once_later(
                row,
                "staff_id",
                (patient_id, staff_id),
                seen,
                f'patient "{patient_id}" with staff "{staff_id}"',
            )
        if len(check.errors) > mark:
            return None
        return (patient_id, staff_id)

    async def new_rows(self, record: Record, rows: list[Values]) -> int:
        pairs = [(r[0], r[1]) for r in rows]
        return len(pairs) - len(await record.people.existing_care_team(pairs))

    async def write(self, record: Record, rows: list[Values], ctx: Context) -> int:
        new = await self.new_rows(record, rows)
        await record.people.add_to_care_teams([(r[0], r[1]) for r in rows], ctx.now)
        return new


KIND: dict[str, Kind] = {
    "patients": Patients(),
    "guardians": Guardians(),
    "staff": StaffKind(),
    "care-team": CareTeam(),
    "appointments": Appointments(),
}


def kind_of(name: str) -> Kind:
    """A fresh :class:`Kind` (a kind may remember what it saw in one file)."""
    return type(KIND[name])()


async def _prepare(
    name: str, check: Checker, record: Record, rows: list[CsvRow], now: datetime
) -> Prepared:
    """Check a small table held in memory (the demo's) and return its one write, all in the
    caller's transaction: the same checks and writes as an import of ``name``."""
    kind = kind_of(name)
    ctx = await kind.context(record, now)
    seen = SeenInMemory()
    checked = [v for row in rows if (v := kind.check(check, row, ctx, seen)) is not None]
    check.settle(seen)
    kind.finish(check, ctx, seen)
    new = await kind.new_rows(record, checked) if not check.errors else 0

    async def write() -> None:
        for phase in kind.phases():
            await phase(record, checked, ctx)
        patients = kind.replan(checked)
        position: tuple[datetime, str] | None = (now, "")
        while patients and ctx.practice is not None and position is not None:
            _, position = await plan_page(record, ctx.practice, patients, now, position)

    return [write], new


async def plan_page(
    record: Record,
    practice: Practice,
    patient_ids: list[str],
    now: datetime,
    after: tuple[datetime, str],
    limit: int = PLAN_BATCH,
) -> tuple[int, tuple[datetime, str] | None]:
    """Plan the next ``limit`` booked visits of these patients inside the planning window,
    after ``after`` (a (start, id) position). Returns the reminders added and the position to
    go on from (None: no more)."""
    until = now + plan_horizon(practice)
    batch = await record.appointments.booked_between(after, until, limit, patient_ids=patient_ids)
    added = await plan_appointments(record, practice, batch, now)
    if len(batch) < limit:
        return added, None
    return added, (batch[-1].start_at, batch[-1].id)


def _prepares(
    name: str,
) -> Callable[[Checker, Record, list[CsvRow], datetime], Awaitable[Prepared]]:
    async def prepare(
        check: Checker, record: Record, rows: list[CsvRow], now: datetime
    ) -> Prepared:
        return await _prepare(name, check, record, rows, now)

    return prepare


#: For a small table held in memory (the demo): check rows, return the writes and how many
#: rows are new; nothing is written until the writes are awaited (in the caller's transaction).
PREPARERS: dict[str, Callable[[Checker, Record, list[CsvRow], datetime], Awaitable[Prepared]]] = {
    name: _prepares(name) for name in KIND
}
