"""Appointments (FHIR Appointment) and the family's answer to them."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import Appointment, CancellationReason, ParticipantStatus
from storage.rows import fetch_all, fetch_one

_COLUMNS = (
    "id, patient_id, staff_id, start_at, duration_minutes, service, location, status,"
    " participant_status, answered_by_guardian_id, answered_at, cancellation_reason,"
    " reschedule_requested_at"
)
_INSTANTS = ("start_at", "answered_at", "reschedule_requested_at")
_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))
#: The upsert of :meth:`AppointmentRepo.save` and, for many rows at once,
#: :meth:`AppointmentRepo.save_rows` (the VALUES go between the two).
_SAVE_INTO = f"INSERT INTO appointment ({_COLUMNS}, created_at, updated_at) VALUES "
_SAVE_ON_CONFLICT = (
    " ON CONFLICT (id) DO UPDATE SET patient_id = excluded.patient_id,"
    " staff_id = excluded.staff_id, start_at = excluded.start_at,"
    " duration_minutes = excluded.duration_minutes, service = excluded.service,"
    " location = excluded.location, status = excluded.status,"
    " participant_status = excluded.participant_status,"
    " answered_by_guardian_id = excluded.answered_by_guardian_id,"
    " answered_at = excluded.answered_at,"
    " cancellation_reason = excluded.cancellation_reason,"
    " reschedule_requested_at = excluded.reschedule_requested_at,"
    " updated_at = excluded.updated_at"
)
_ROW = "(" + ", ".join("?" * 15) + ")"
#: Rows per statement of :meth:`AppointmentRepo.save_rows`, largest first. SQLite builds the
#: lists of the table's CHECK constraints (status IN (...)) once per statement run: with
#: executemany, once per row, which made an upsert about three times slower (34 against 12 us a
#: row, measured). Only these sizes, so that few statements are prepared and cached (one for
#: each remainder, each with up to 1,500 parameters, grew the process by megabytes).
SAVE_ROWS_PER_STATEMENT = (100, 10, 1)


def _appointment(row: aiosqlite.Row) -> Appointment:
    data = {k: row[k] for k in row.keys()}
    for key in _INSTANTS:
        if data[key] is not None:
            data[key] = from_db(data[key])
    return Appointment.model_validate(data)


class AppointmentRepo:
    """The schedule, and each appointment's state as the family answered it."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def get(self, appointment_id: str) -> Appointment | None:
        row = await fetch_one(
            self._conn, f"SELECT {_COLUMNS} FROM appointment WHERE id = ?", (appointment_id,)
        )
        return _appointment(row) if row else None

    async def save(self, appointment: Appointment, now: datetime) -> None:
        """Insert, or update the scheduling fields of an existing appointment by id."""
        await self._conn.execute(
            f"INSERT INTO appointment ({_COLUMNS}, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET patient_id = excluded.patient_id,"
            " staff_id = excluded.staff_id, start_at = excluded.start_at,"
            " duration_minutes = excluded.duration_minutes, service = excluded.service,"
            " location = excluded.location, status = excluded.status,"
            " participant_status = excluded.participant_status,"
            " answered_by_guardian_id = excluded.answered_by_guardian_id,"
            " answered_at = excluded.answered_at,"
            " cancellation_reason = excluded.cancellation_reason,"
            " reschedule_requested_at = excluded.reschedule_requested_at,"
            " updated_at = excluded.updated_at",
            (
                appointment.id,
                appointment.patient_id,
                appointment.staff_id,
                to_db(appointment.start_at),
                appointment.duration_minutes,
                appointment.service,
                appointment.location,
                appointment.status,
                appointment.participant_status,
                appointment.answered_by_guardian_id,
                to_db(appointment.answered_at) if appointment.answered_at else None,
                appointment.cancellation_reason,
                to_db(appointment.reschedule_requested_at)
                if appointment.reschedule_requested_at
                else None,
                to_db(now),
                to_db(now),
            ),
        )

    async def record_answer(
        self,
        appointment_id: str,
        *,
        participant_status: ParticipantStatus,
        guardian_id: str,
        now: datetime,
        cancellation_reason: CancellationReason | None = None,
    ) -> None:
        """Record a family's answer; a decline with a reason cancels the appointment."""
        status_sql = ", status = 'cancelled'" if cancellation_reason else ""
        await self._conn.execute(
            "UPDATE appointment SET participant_status = ?, answered_by_guardian_id = ?,"
            f" answered_at = ?, cancellation_reason = ?, updated_at = ?{status_sql} WHERE id = ?",
            (
                participant_status,
                guardian_id,
                to_db(now),
                cancellation_reason,
                to_db(now),
                appointment_id,
            ),
        )

    async def request_reschedule(
        self, appointment_id: str, guardian_id: str, now: datetime
    ) -> None:
        await self._conn.execute(
            "UPDATE appointment SET reschedule_requested_at = ?, answered_by_guardian_id = ?,"
            " answered_at = ?, updated_at = ? WHERE id = ?",
            (to_db(now), guardian_id, to_db(now), to_db(now), appointment_id),
        )

    async def upcoming_for_guardian(
        self, guardian_id: str, after: datetime, limit: int = 10
    ) -> list[Appointment]:
        """Booked appointments of this guardian's children starting after ``after``."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {', '.join('a.' + c.strip() for c in _COLUMNS.split(','))}"
            " FROM appointment a JOIN guardian_patient gp ON gp.patient_id = a.patient_id"
            " WHERE gp.guardian_id = ? AND a.status = 'booked' AND a.start_at > ?"
            " ORDER BY a.start_at, a.id LIMIT ?",
            (guardian_id, to_db(after), limit),
        )
        return [_appointment(row) for row in rows]

    async def booked_between(
        self,
        after: tuple[datetime, str],
        until: datetime,
        limit: int,
        patient_ids: list[str] | None = None,
    ) -> list[Appointment]:
        """Booked visits starting after ``after`` (a (start, id) position: keyset paging) and
        no later than ``until``, in start order, at most ``limit`` (of these patients, if
        given)."""
        sql = (
            f"SELECT {_COLUMNS} FROM appointment WHERE status = 'booked'"
            " AND (start_at > ? OR (start_at = ? AND id > ?)) AND start_at <= ?"
        )
        params: list[object] = [to_db(after[0]), to_db(after[0]), after[1], to_db(until)]
        if patient_ids is not None:
            sql += f" AND patient_id IN ({','.join('?' * len(patient_ids))})"
            params += patient_ids
        rows = await fetch_all(self._conn, sql + " ORDER BY start_at, id LIMIT ?", [*params, limit])
        return [_appointment(row) for row in rows]

    async def booked_after(self, after: datetime) -> list[Appointment]:
        """Every booked appointment starting after ``after`` (for reminder planning)."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM appointment WHERE status = 'booked' AND start_at > ?"
            " ORDER BY start_at, id",
            (to_db(after),),
        )
        return [_appointment(row) for row in rows]

    async def between(
        self, start: datetime, end: datetime, staff_id: str | None = None
    ) -> list[Appointment]:
        """Appointments (any status) starting in [start, end), of one clinician or everyone."""
        sql = f"SELECT {_COLUMNS} FROM appointment WHERE start_at >= ? AND start_at < ?"
        params: list[object] = [to_db(start), to_db(end)]
        if staff_id is not None:
            sql += " AND staff_id = ?"
            params.append(staff_id)
        rows = await fetch_all(self._conn, sql + " ORDER BY start_at, id", params)
        return [_appointment(row) for row in rows]

    async def upcoming_for_patient(
        self, patient_id: str, after: datetime, limit: int = 5
    ) -> list[Appointment]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM appointment WHERE patient_id = ? AND status = 'booked'"
            " AND start_at > ? ORDER BY start_at, id LIMIT ?",
            (patient_id, to_db(after), limit),
        )
        return [_appointment(row) for row in rows]

    async def rows_by_id(self, appointment_ids: list[str]) -> dict[str, tuple[object, ...]]:
        """The appointments of these ids that exist, as rows (the columns of
        :func:`appointment_of`, instants as the record's text), by id; one query per 500."""
        found: dict[str, tuple[object, ...]] = {}
        for at in range(0, len(appointment_ids), 500):
            chunk = appointment_ids[at : at + 500]
            rows = await fetch_all(
                self._conn,
                f"SELECT {_COLUMNS} FROM appointment WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            found |= {row[0]: tuple(row) for row in rows}
        return found

    async def save_rows(self, rows: list[tuple[object, ...]], now: datetime) -> None:
        """Insert, or update by id (as :meth:`save`), appointments given as rows (the columns of
        :func:`appointment_of`, instants as the record's text), many to a statement."""
        stamp = to_db(now)
        at = 0
        for size in SAVE_ROWS_PER_STATEMENT:
            sql = _SAVE_INTO + ", ".join([_ROW] * size) + _SAVE_ON_CONFLICT
            while len(rows) - at >= size:
                part = rows[at : at + size]
                at += size
                await self._conn.execute(
                    sql, [value for row in part for value in (*row, stamp, stamp)]
                )


def appointment_of(row: tuple[object, ...]) -> Appointment:
    """An appointment from its row: id, patient_id, staff_id, start_at, duration_minutes,
    service, location, status, participant_status, answered_by_guardian_id, answered_at,
    cancellation_reason, reschedule_requested_at (instants as the record's text)."""
    data = dict(zip(_NAMES, row, strict=True))
    for key in _INSTANTS:
        if data[key] is not None:
            data[key] = from_db(str(data[key]))
    return Appointment.model_validate(data)
