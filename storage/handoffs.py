"""Clinicians' updates and handoffs between clinicians."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import CareUpdate, Handoff
from storage.rows import fetch_all, fetch_one

_UPDATE = "id, patient_id, staff_id, audience, body, created_at"
_HANDOFF = (
    "id, patient_id, from_staff_id, to_staff_id, summary, open_items, effective_date,"
    " tell_family, status, acknowledged_at, ack_due_at, raised_at, created_at, post_message_id"
)


def _update(row: aiosqlite.Row) -> CareUpdate:
    data = {k: row[k] for k in row.keys()}
    data["created_at"] = from_db(data["created_at"])
    return CareUpdate(**data)


def _handoff(row: aiosqlite.Row) -> Handoff:
    data = {k: row[k] for k in row.keys()}
    for key in ("acknowledged_at", "ack_due_at", "raised_at", "created_at"):
        if data[key] is not None:
            data[key] = from_db(data[key])
    data["tell_family"] = bool(data["tell_family"])
    return Handoff(**data)


class CareUpdateRepo:
    """Updates clinicians wrote about a patient: for the family, or for the care team only."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def add(
        self,
        patient_id: str,
        staff_id: str,
        audience: Literal["family", "care-team"],
        body: str,
        now: datetime,
    ) -> int:
        cur = await self._conn.execute(
            "INSERT INTO care_update (patient_id, staff_id, audience, body, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (patient_id, staff_id, audience, body, to_db(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def recent(self, patient_id: str, limit: int = 5) -> list[CareUpdate]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {_UPDATE} FROM care_update WHERE patient_id = ?"
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            (patient_id, limit),
        )
        return [_update(row) for row in rows]


class HandoffRepo:
    """Handoffs from one clinician to another, pending until the receiver acknowledges."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def get(self, handoff_id: int) -> Handoff | None:
        row = await fetch_one(
            self._conn, f"SELECT {_HANDOFF} FROM handoff WHERE id = ?", (handoff_id,)
        )
        return _handoff(row) if row else None

    async def add(
        self,
        *,
        patient_id: str,
        from_staff_id: str,
        to_staff_id: str,
        summary: str,
        open_items: str,
        effective_date: str,
        tell_family: bool,
        ack_due_at: datetime,
        now: datetime,
    ) -> int:
        cur = await self._conn.execute(
            "INSERT INTO handoff (patient_id, from_staff_id, to_staff_id, summary, open_items,"
            " effective_date, tell_family, status, ack_due_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            (
                patient_id,
                from_staff_id,
                to_staff_id,
                summary,
                open_items,
                effective_date,
                int(tell_family),
                to_db(ack_due_at),
                to_db(now),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def acknowledge(self, handoff_id: int, now: datetime) -> bool:
        """Mark acknowledged; False if it already was (a second press does nothing)."""
        cur = await self._conn.execute(
            "UPDATE handoff SET status = 'acknowledged', acknowledged_at = ?"
            " WHERE id = ? AND status = 'pending'",
            (to_db(now), handoff_id),
        )
        return cur.rowcount == 1

    async def overdue(self, now: datetime) -> list[Handoff]:
        """Pending handoffs past their acknowledgement deadline, not yet raised."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {_HANDOFF} FROM handoff WHERE status = 'pending' AND ack_due_at <= ?"
            " AND raised_at IS NULL ORDER BY ack_due_at, id",
            (to_db(now),),
        )
        return [_handoff(row) for row in rows]

    async def posted_as(self, handoff_id: int, message_id: int) -> None:
        """The direct message that asks the receiver to acknowledge (edited once they do)."""
        await self._conn.execute(
            "UPDATE handoff SET post_message_id = ? WHERE id = ?", (message_id, handoff_id)
        )

    async def mark_raised(self, handoff_id: int, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE handoff SET raised_at = ? WHERE id = ?", (to_db(now), handoff_id)
        )

    async def pending_for(self, staff_id: str) -> list[Handoff]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {_HANDOFF} FROM handoff WHERE to_staff_id = ? AND status = 'pending'"
            " ORDER BY created_at, id",
            (staff_id,),
        )
        return [_handoff(row) for row in rows]
