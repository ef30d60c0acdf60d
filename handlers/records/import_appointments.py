"""The appointments import: each visit checked against the record's patients and staff, then
written a batch at a time with its reminders brought in line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.records.import_checks import Checker, CsvRow, ImportRejected, RowError
from handlers.records.import_kinds import Context, Kind, Values
from handlers.records.import_spill import Seen
from handlers.reminders.planning import plan_appointments, plan_horizon
from storage.appointments import appointment_of
from storage.clock import from_db, to_db
from storage.record import Record

NO_PRACTICE = (
    "the practice is not set up (its timezone places appointment times): set"
    " CAREBOT_PRACTICE__TIMEZONE (and the other CAREBOT_PRACTICE__ settings) or run"
    " 'carebot demo-data'"
)
#: A visit's answer before the family gives one: participant_status, answered_by_guardian_id,
#: answered_at, cancellation_reason, reschedule_requested_at.
_FRESH: tuple[Any, ...] = ("needs-action", None, None, None, None)


class Appointments(Kind):
    # appointment_id, patient_id, staff_id, start (record text), minutes, service, location
    width = 7

    async def context(self, record: Record, now: datetime) -> Context:
        practice = await record.practice.get()
        if practice is None:
            raise ImportRejected([RowError(None, None, NO_PRACTICE)])
        return Context(
            now=now,
            practice=practice,
            zone=ZoneInfo(practice.timezone),
            patients=await record.people.patient_ids(),
            staff=await record.people.staff_ids(),
        )

    def check(self, check: Checker, row: CsvRow, ctx: Context, seen: Seen) -> Values | None:
        assert ctx.zone is not None
        mark = len(check.errors)
        appointment_id = check.text(row, "appointment_id")
        patient_id, staff_id = check.text(row, "patient_id"), check.text(row, "staff_id")
        check.known(row, "patient_id", ctx.patients, "patient", "patients")
        check.known(row, "staff_id", ctx.staff, "staff member", "staff")
        start = check.instant(row, "start", ctx.zone, ctx.now)
        minutes = check.minutes(row, "duration_minutes")
        service = check.text(row, "service", required=False)
        location = check.text(row, "location", required=False)
        if appointment_id:
            check.once_later(row, "appointment_id", appointment_id, seen)
        if len(check.errors) > mark or start is None:
            return None
        return (appointment_id, patient_id, staff_id, start[1], minutes, service, location)

    def heavy(self, ctx: Context) -> Callable[[Values], bool] | None:
        after, until = self._window(ctx)
        return lambda row: after < row[3] <= until

    @staticmethod
    def _window(ctx: Context) -> tuple[str, str]:
        """The planning window as record text (UTC text sorts as time does)."""
        assert ctx.practice is not None
        return to_db(ctx.now), to_db(ctx.now + plan_horizon(ctx.practice))

    async def new_rows(self, record: Record, rows: list[Values]) -> int:
        return len(rows) - len(await record.appointments.rows_by_id([r[0] for r in rows]))

    async def write(self, record: Record, rows: list[Values], ctx: Context) -> int:
        """Upsert a batch: a moved visit (or one given to another patient) needs a fresh
        confirmation and loses its pending reminders for the old start (or of guardians not
        the new patient's); answers and cancellations of the others are kept; a row that
        changes nothing is not written. The batch's visits inside the planning window are then
        planned (the running bot plans the others as they enter it)."""
        assert ctx.practice is not None
        now = ctx.now
        after, until = self._window(ctx)
        existing = await record.appointments.rows_by_id([r[0] for r in rows])
        saves: list[Values] = []
        plan: list[Values] = []
        moved: list[tuple[str, datetime]] = []
        other_patient: dict[str, str] = {}
        for row in rows:
            appointment_id, patient_id, _, start = row[:4]
            old = existing.get(appointment_id)
            if old is None:
                new = (*row, "booked", *_FRESH)
            else:
                # old: the row's seven columns, then status and the family's answer
                status, answer = old[7], old[8:]
                if old[3] != start:
                    moved.append((appointment_id, from_db(start)))
                if old[1] != patient_id:
                    other_patient[appointment_id] = patient_id
                if (old[3] != start or old[1] != patient_id) and status == "booked":
                    answer = _FRESH  # a moved visit needs a fresh confirmation
                new = (*row, status, *answer)
                if new == old:
                    if after < start <= until:
                        plan.append(new)  # unchanged: its reminders are still reconciled
                    continue
            saves.append(new)
            if after < start <= until:
                plan.append(new)
        # Pending reminders an updated appointment no longer matches: its old start...
        await record.reminders.withdraw_other_starts(moved, now)
        # ... and the buttons of those already sent answer a time that is gone.
        await record.reminders.mark_sent_stale(moved, now)
        # ... and guardians not related to its new patient.
        if other_patient:
            keep = await record.people.guardians_of_patients(list(other_patient.values()))
            stale = [
                r.id
                for r in await record.reminders.for_appointments(list(other_patient))
                if r.status == "pending"
                and r.guardian_id not in {g.id for g in keep[other_patient[r.appointment_id]]}
            ]
            await record.reminders.set_status(stale, "withdrawn", now)
        await record.appointments.save_rows(saves, now)
        await plan_appointments(record, ctx.practice, [appointment_of(r) for r in plan], now)
        return len(rows) - len(existing)
