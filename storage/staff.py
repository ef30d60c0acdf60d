"""The staff side's questions about people: who is this Slack user, whose patient is this."""

from __future__ import annotations

import aiosqlite

from storage.models import Guardian, Patient, Staff
from storage.people import _GUARDIAN, _PATIENT, _STAFF, _guardian, _patient, _staff
from storage.rows import fetch_all, fetch_one


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

    async def find_patients(self, words: str) -> list[Patient]:
        """Patients whose id, first name, last name or full name matches ``words`` (any case)."""
        needle = " ".join(words.split()).lower()
        rows = await fetch_all(
            self._conn,
            f"SELECT {_PATIENT} FROM patient WHERE lower(id) = ? OR lower(first_name) = ?"
            " OR lower(last_name) = ? OR lower(first_name || ' ' || last_name) = ?"
            " ORDER BY first_name, last_name, id",
            (needle, needle, needle, needle),
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
