"""The staff side's questions about people: who is this Slack user, whose patient is this."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import aiosqlite

from storage.clock import to_db
from storage.models import DayEntry, Guardian, Patient, Staff
from storage.people import _GUARDIAN, _PATIENT, _STAFF, _guardian, _patient, _staff
from storage.rows import fetch_all, fetch_one

#: What staff may type to find a patient, as the expressions migration 0008 indexes.
_SEARCHED = (
    "lower(p.id)",
    "lower(p.first_name)",
    "lower(p.last_name)",
    "lower(p.first_name || ' ' || p.last_name)",
)
_WHOLE = " OR ".join(f"{e} = :{n}" for e in _SEARCHED for n in ("n", "m"))
_PREFIX = " OR ".join(f"({e} >= :{n} AND {e} < :{n}_after)" for e in _SEARCHED for n in ("n", "m"))


#: SQLite's lower() folds A-Z only, so what was typed is looked up folded both ways: as SQLite
#: folds ("Élodie", "ÉLODIE" -> "Élodie": a name with an accented capital) and as Python does
#: ("SOFÍA" -> "sofía": a name with an accented small letter, typed in capitals).
_SQLITE_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _prefixed(columns: str, alias: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


class StaffRepo:
    """Staff members, their care-team patients, and who may hear about a patient."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def by_slack_user(self, slack_user_id: str) -> Staff | None:
        row = await fetch_one(
            self._conn, f"SELECT {_STAFF} FROM staff WHERE slack_user_id = ?", (slack_user_id,)
        )
        return _staff(row) if row else None

    async def everyone(self) -> list[Staff]:
        rows = await fetch_all(self._conn, f"SELECT {_STAFF} FROM staff ORDER BY name, id")
        return [_staff(row) for row in rows]

    async def coordinators(self) -> list[Staff]:
        """Coordinators (and admins, who can do what coordinators do), by name."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {_STAFF} FROM staff WHERE role IN ('coordinator', 'admin') ORDER BY name, id",
        )
        return [_staff(row) for row in rows]

    async def on_care_team(self, staff_id: str, patient_id: str) -> bool:
        row = await fetch_one(
            self._conn,
            "SELECT 1 FROM care_team WHERE staff_id = ? AND patient_id = ?",
            (staff_id, patient_id),
        )
        return row is not None

    async def patients_of(self, staff_id: str) -> list[Patient]:
        """The clinician's care-team patients, by name."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {_prefixed(_PATIENT, 'p')} FROM patient p"
            " JOIN care_team ct ON ct.patient_id = p.id WHERE ct.staff_id = ?"
            " ORDER BY p.first_name, p.last_name, p.id",
            (staff_id,),
        )
        return [_patient(row) for row in rows]

    async def all_patients(self) -> list[Patient]:
        rows = await fetch_all(
            self._conn, f"SELECT {_PATIENT} FROM patient ORDER BY first_name, last_name, id"
        )
        return [_patient(row) for row in rows]

    async def find_patients(
        self, words: str, *, staff_id: str | None = None, limit: int = 20
    ) -> list[Patient]:
        """Patients whose id, first name, last name or full name is ``words`` (any case; an
        accented capital as stored: "Élodie" or "ÉLODIE", not "élodie"), by name; if none is,
        those where one of them starts with ``words``. With ``staff_id``, only that
        clinician's care-team patients. At most ``limit``.

        Each comparison is on an expression the record indexes (migration 0008), so a search
        reads the matching rows only, never the whole patient table.
        """
        typed = " ".join(words.split())
        if not typed:
            return []
        needles = {"n": typed.lower(), "m": typed.translate(_SQLITE_LOWER)}
        exact = await self._search(_WHOLE, needles, staff_id, limit)
        if exact:
            return exact
        # Every text starting with a needle sorts from it up to it followed by the highest
        # code point (text compares as UTF-8 bytes).
        after = {f"{k}_after": v + "\U0010ffff" for k, v in needles.items()}
        return await self._search(_PREFIX, {**needles, **after}, staff_id, limit)

    async def _search(
        self, where: str, params: Mapping[str, object], staff_id: str | None, limit: int
    ) -> list[Patient]:
        if staff_id is None:
            sql = f"SELECT {_prefixed(_PATIENT, 'p')} FROM patient p WHERE ({where})"
        else:
            # A clinician's own patients first (a care team of a few hundred at most), each
            # then matched: a name's beginning that matches thousands across the practice
            # ("A") reads only the clinician's patients. CROSS JOIN keeps that order.
            sql = (
                f"SELECT {_prefixed(_PATIENT, 'p')} FROM care_team ct CROSS JOIN patient p"
                f" ON p.id = ct.patient_id WHERE ct.staff_id = :staff AND ({where})"
            )
        rows = await fetch_all(
            self._conn,
            sql + " ORDER BY p.first_name, p.last_name, p.id LIMIT :limit",
            {**params, "staff": staff_id, "limit": limit},
        )
        return [_patient(row) for row in rows]

    async def guardians_for_updates(self, patient_id: str) -> list[Guardian]:
        """The patient's guardians who may receive clinicians' updates."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {_prefixed(_GUARDIAN, 'g')} FROM guardian g"
            " JOIN guardian_patient gp ON gp.guardian_id = g.id"
            " WHERE gp.patient_id = ? AND gp.may_receive_updates = 1 ORDER BY g.id",
            (patient_id,),
        )
        return [_guardian(row) for row in rows]

    async def patients_by_id(self, patient_ids: set[str]) -> dict[str, Patient]:
        """Many patients in one query (a day view names dozens)."""
        if not patient_ids:
            return {}
        marks = ",".join("?" * len(patient_ids))
        rows = await fetch_all(
            self._conn, f"SELECT {_PATIENT} FROM patient WHERE id IN ({marks})", list(patient_ids)
        )
        return {row["id"]: _patient(row) for row in rows}

    async def staff_by_id(self, staff_ids: set[str]) -> dict[str, Staff]:
        if not staff_ids:
            return {}
        marks = ",".join("?" * len(staff_ids))
        rows = await fetch_all(
            self._conn, f"SELECT {_STAFF} FROM staff WHERE id IN ({marks})", list(staff_ids)
        )
        return {row["id"]: _staff(row) for row in rows}

    async def day(
        self,
        start: datetime,
        end: datetime,
        staff_id: str | None = None,
        *,
        offset: int = 0,
        limit: int = -1,
    ) -> list[DayEntry]:
        """Appointments starting in [start, end) with their patient's and clinician's names, in
        one query (one clinician's, or everyone's: read from the covering index
        ``appointment_day``), ``limit`` of them from ``offset`` (all by default: -1). The
        clinicians' names come from the staff list (a few dozen rows), not from a join per
        visit."""
        sql = (
            "SELECT a.id, a.start_at, a.status, a.participant_status, a.cancellation_reason,"
            " a.reschedule_requested_at IS NOT NULL, a.service, p.first_name, p.last_name,"
            " a.staff_id FROM appointment a JOIN patient p ON p.id = a.patient_id"
            " WHERE a.start_at >= ? AND a.start_at < ?"
        )
        params: list[object] = [to_db(start), to_db(end)]
        if staff_id is not None:
            sql += " AND a.staff_id = ?"
            params.append(staff_id)
        params += [limit, offset]
        rows = await fetch_all(
            self._conn, sql + " ORDER BY a.start_at, a.id LIMIT ? OFFSET ?", params
        )
        if not rows:
            return []
        names = {
            row[0]: row[1] for row in await fetch_all(self._conn, "SELECT id, name FROM staff")
        }
        return [
            DayEntry(
                id_,
                at,
                status,
                answer,
                reason,
                bool(moved),
                service,
                first,
                last,
                names.get(who, ""),
            )
            for id_, at, status, answer, reason, moved, service, first, last, who in rows
        ]

    async def day_tally(
        self, start: datetime, end: datetime, staff_id: str | None = None
    ) -> list[tuple[str, str, bool, int]]:
        """How many appointments in [start, end) are in each state, as (status,
        participant_status, reschedule requested, count): counted in the index the day view
        reads, without a row or a patient per visit."""
        sql = (
            "SELECT status, participant_status, reschedule_requested_at IS NOT NULL, COUNT(*)"
            " FROM appointment WHERE start_at >= ? AND start_at < ?"
        )
        params: list[object] = [to_db(start), to_db(end)]
        if staff_id is not None:
            sql += " AND staff_id = ?"
            params.append(staff_id)
        rows = await fetch_all(self._conn, sql + " GROUP BY 1, 2, 3", params)
        return [(status, answer, bool(moved), count) for status, answer, moved, count in rows]
