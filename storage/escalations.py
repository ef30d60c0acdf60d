"""Escalations: a family's conversation with a person, carried in one staff thread."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import Escalation, EscalationReason
from storage.rows import fetch_all, fetch_one

_COLUMNS = (
    "id, guardian_id, patient_id, family_channel, family_address, family_language, reason,"
    " urgent, status, claimed_by, claimed_at, resolved_by, resolved_at, thread_message_id,"
    " last_family_at, last_staff_reply_at, raised_count, next_check_at, created_at"
)
_INSTANTS = (
    "claimed_at",
    "resolved_at",
    "last_family_at",
    "last_staff_reply_at",
    "next_check_at",
    "created_at",
)


def _escalation(row: aiosqlite.Row) -> Escalation:
    data = {k: row[k] for k in row.keys()}
    for key in _INSTANTS:
        if data[key] is not None:
            data[key] = from_db(data[key])
    data["urgent"] = bool(data["urgent"])
    return Escalation(**data)


class EscalationRepo:
    """Open, claimed and resolved escalations; at most one open per family address."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def get(self, escalation_id: int) -> Escalation | None:
        row = await fetch_one(
            self._conn, f"SELECT {_COLUMNS} FROM escalation WHERE id = ?", (escalation_id,)
        )
        return _escalation(row) if row else None

    async def open_for(self, channel: str, address: str) -> Escalation | None:
        """The family address's escalation that is not resolved yet, if any."""
        row = await fetch_one(
            self._conn,
            f"SELECT {_COLUMNS} FROM escalation WHERE family_channel = ? AND family_address = ?"
            " AND status != 'resolved'",
            (channel, address),
        )
        return _escalation(row) if row else None

    async def by_thread(
        self, channel: str, address: str, thread_provider_id: str
    ) -> Escalation | None:
        """The escalation whose staff thread starts with the message posted as this id."""
        row = await fetch_one(
            self._conn,
            f"SELECT {', '.join('e.' + c.strip() for c in _COLUMNS.split(','))} FROM escalation e"
            " JOIN message m ON m.id = e.thread_message_id"
            " WHERE m.channel = ? AND m.address = ? AND m.provider_message_id = ?",
            (channel, address, thread_provider_id),
        )
        return _escalation(row) if row else None

    async def open(
        self,
        *,
        guardian_id: str | None,
        patient_id: str | None,
        channel: str,
        address: str,
        language: str,
        reason: EscalationReason,
        urgent: bool,
        next_check_at: datetime | None,
        now: datetime,
    ) -> int:
        cur = await self._conn.execute(
            "INSERT INTO escalation (guardian_id, patient_id, family_channel, family_address,"
            " family_language, reason, urgent, status, last_family_at, next_check_at,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?)",
            (
                guardian_id,
                patient_id,
                channel,
                address,
                language,
                reason,
                int(urgent),
                to_db(now),
                to_db(next_check_at) if next_check_at else None,
                to_db(now),
                to_db(now),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def set_thread(self, escalation_id: int, message_id: int) -> None:
        await self._conn.execute(
            "UPDATE escalation SET thread_message_id = ? WHERE id = ?", (message_id, escalation_id)
        )

    async def make_urgent(self, escalation_id: int, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE escalation SET urgent = 1, reason = 'emergency', updated_at = ? WHERE id = ?",
            (to_db(now), escalation_id),
        )

    async def family_wrote(
        self, escalation_id: int, now: datetime, next_check_at: datetime | None
    ) -> None:
        await self._conn.execute(
            "UPDATE escalation SET last_family_at = ?, next_check_at = COALESCE(next_check_at, ?),"
            " updated_at = ? WHERE id = ?",
            (
                to_db(now),
                to_db(next_check_at) if next_check_at else None,
                to_db(now),
                escalation_id,
            ),
        )

    async def claim(
        self, escalation_id: int, staff_id: str, now: datetime, next_check_at: datetime | None
    ) -> None:
        await self._conn.execute(
            "UPDATE escalation SET status = 'claimed', claimed_by = ?, claimed_at = ?,"
            " next_check_at = ?, updated_at = ? WHERE id = ?",
            (
                staff_id,
                to_db(now),
                to_db(next_check_at) if next_check_at else None,
                to_db(now),
                escalation_id,
            ),
        )

    async def unclaim(self, escalation_id: int, now: datetime, next_check_at: datetime) -> None:
        """Back to the coordinators (a reassignment): open again, raised again if not taken."""
        await self._conn.execute(
            "UPDATE escalation SET status = 'open', claimed_by = NULL, claimed_at = NULL,"
            " next_check_at = ?, updated_at = ? WHERE id = ?",
            (to_db(next_check_at), to_db(now), escalation_id),
        )

    async def staff_replied(self, escalation_id: int, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE escalation SET last_staff_reply_at = ?, next_check_at = NULL, updated_at = ?"
            " WHERE id = ?",
            (to_db(now), to_db(now), escalation_id),
        )

    async def resolve(self, escalation_id: int, staff_id: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE escalation SET status = 'resolved', resolved_by = ?, resolved_at = ?,"
            " next_check_at = NULL, updated_at = ? WHERE id = ?",
            (staff_id, to_db(now), to_db(now), escalation_id),
        )

    async def raised(
        self, escalation_id: int, now: datetime, next_check_at: datetime | None
    ) -> None:
        await self._conn.execute(
            "UPDATE escalation SET raised_count = raised_count + 1, next_check_at = ?,"
            " updated_at = ? WHERE id = ?",
            (to_db(next_check_at) if next_check_at else None, to_db(now), escalation_id),
        )

    async def due_for_check(self, now: datetime) -> list[Escalation]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM escalation WHERE status != 'resolved'"
            " AND next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at, id",
            (to_db(now),),
        )
        return [_escalation(row) for row in rows]

    async def waiting(self, limit: int) -> list[Escalation]:
        """Escalations nobody has claimed yet: urgent ones first, then the oldest (from the
        index of unresolved escalations: a handful, whatever the record's size)."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM escalation INDEXED BY escalation_due"
            " WHERE status != 'resolved' AND status = 'open'"
            " ORDER BY urgent DESC, created_at, id LIMIT ?",
            (limit,),
        )
        return [_escalation(row) for row in rows]

    async def unresolved(
        self, *, patient_id: str | None = None, claimed_by: str | None = None
    ) -> list[Escalation]:
        sql = f"SELECT {_COLUMNS} FROM escalation WHERE status != 'resolved'"
        params: list[object] = []
        if patient_id is not None:
            sql += " AND patient_id = ?"
            params.append(patient_id)
        if claimed_by is not None:
            sql += " AND claimed_by = ?"
            params.append(claimed_by)
        rows = await fetch_all(self._conn, sql + " ORDER BY created_at, id", params)
        return [_escalation(row) for row in rows]
