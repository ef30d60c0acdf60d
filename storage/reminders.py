"""Reminder rows: what is due, when, for whom; each sent at most once (dedupe key)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import Reminder
from storage.rows import fetch_all, fetch_one

_COLUMNS = (
    "id, appointment_id, guardian_id, offset_hours, appointment_start_at, due_at, send_at,"
    " status, message_id"
)


def _reminder(row: aiosqlite.Row) -> Reminder:
    data = {k: row[k] for k in row.keys()}
    for key in ("appointment_start_at", "due_at", "send_at"):
        data[key] = from_db(data[key])
    return Reminder(**data)


@dataclass(frozen=True)
class PlannedReminder:
    """A reminder planning wants to exist (added unless its dedupe key does)."""

    appointment_id: str
    guardian_id: str
    offset_hours: int
    appointment_start_at: datetime
    due_at: datetime
    send_at: datetime


def dedupe_key(appointment_id: str, guardian_id: str, offset_hours: int, start: datetime) -> str:
    """One reminder per appointment, guardian, offset and start time."""
    return f"{appointment_id}|{guardian_id}|{offset_hours}|{to_db(start)}"


class ReminderRepo:
    """The reminder table. Status moves pending -> sent | withdrawn | expired | undeliverable."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def add(
        self,
        *,
        appointment_id: str,
        guardian_id: str,
        offset_hours: int,
        appointment_start_at: datetime,
        due_at: datetime,
        send_at: datetime,
        now: datetime,
    ) -> bool:
        """Add a pending reminder unless one with the same dedupe key exists."""
        cur = await self._conn.execute(
            "INSERT INTO reminder (appointment_id, guardian_id, offset_hours, appointment_start_at,"
            " due_at, send_at, status, dedupe_key, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            (
                appointment_id,
                guardian_id,
                offset_hours,
                to_db(appointment_start_at),
                to_db(due_at),
                to_db(send_at),
                dedupe_key(appointment_id, guardian_id, offset_hours, appointment_start_at),
                to_db(now),
                to_db(now),
            ),
        )
        return cur.rowcount == 1

    async def add_many(self, reminders: list[PlannedReminder], now: datetime) -> int:
        """Add pending reminders in one statement batch; ones whose dedupe key exists are
        skipped. Returns how many were added."""
        if not reminders:
            return 0
        before = self._conn.total_changes
        await self._conn.executemany(
            "INSERT INTO reminder (appointment_id, guardian_id, offset_hours, appointment_start_at,"
            " due_at, send_at, status, dedupe_key, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING",
            [
                (
                    r.appointment_id,
                    r.guardian_id,
                    r.offset_hours,
                    to_db(r.appointment_start_at),
                    to_db(r.due_at),
                    to_db(r.send_at),
                    dedupe_key(
                        r.appointment_id, r.guardian_id, r.offset_hours, r.appointment_start_at
                    ),
                    to_db(now),
                    to_db(now),
                )
                for r in reminders
            ],
        )
        return self._conn.total_changes - before

    async def for_appointments(self, appointment_ids: list[str]) -> list[Reminder]:
        """Every reminder of these appointments (one query)."""
        if not appointment_ids:
            return []
        marks = ",".join("?" * len(appointment_ids))
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM reminder WHERE appointment_id IN ({marks})",
            appointment_ids,
        )
        return [_reminder(row) for row in rows]

    async def withdraw_other_starts(self, starts: list[tuple[str, datetime]], now: datetime) -> int:
        """Withdraw pending reminders of these appointments made for another start time."""
        before = self._conn.total_changes
        await self._conn.executemany(
            "UPDATE reminder SET status = 'withdrawn', updated_at = ? WHERE appointment_id = ?"
            " AND appointment_start_at <> ? AND status = 'pending'",
            [(to_db(now), appointment_id, to_db(start)) for appointment_id, start in starts],
        )
        return self._conn.total_changes - before

    async def mark_sent_stale(self, starts: list[tuple[str, datetime]], now: datetime) -> int:
        """The messages of reminders sent for another start of these appointments: their
        buttons answer a time that is gone (rows for the dispatcher to change)."""
        before = self._conn.total_changes
        await self._conn.executemany(
            "INSERT INTO stale_buttons (message_id, reason, created_at)"
            " SELECT message_id, 'moved', ? FROM reminder WHERE appointment_id = ?"
            " AND appointment_start_at <> ? AND status = 'sent' AND message_id IS NOT NULL"
            " ON CONFLICT DO NOTHING",
            [(to_db(now), appointment_id, to_db(start)) for appointment_id, start in starts],
        )
        return self._conn.total_changes - before

    async def answered_messages(self, appointment_id: str, start_at: datetime) -> list[int]:
        """The reminder messages sent for this visit at this start, not changed since, every
        visit of which is now answered (confirmed, cancelled, a new time asked for): their
        buttons have nothing left to do. (A message for two children keeps its buttons while
        the other child's visit waits for an answer.)"""
        rows = await fetch_all(
            self._conn,
            "SELECT DISTINCT r.message_id FROM reminder r"
            " WHERE r.appointment_id = ? AND r.appointment_start_at = ? AND r.status = 'sent'"
            " AND r.message_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM message e WHERE e.edits_message_id = r.message_id)"
            " AND NOT EXISTS (SELECT 1 FROM reminder o JOIN appointment a"
            " ON a.id = o.appointment_id WHERE o.message_id = r.message_id"
            " AND a.status = 'booked' AND a.participant_status = 'needs-action'"
            " AND a.reschedule_requested_at IS NULL)",
            (appointment_id, to_db(start_at)),
        )
        return [row[0] for row in rows]

    async def stale_messages(self, limit: int) -> list[int]:
        """Messages whose buttons went stale, oldest first (in key order: no sort, whatever
        an import left)."""
        rows = await fetch_all(
            self._conn,
            "SELECT message_id FROM stale_buttons ORDER BY message_id LIMIT ?",
            (limit,),
        )
        return [row[0] for row in rows]

    async def forget_stale(self, message_ids: list[int]) -> None:
        await self._conn.executemany(
            "DELETE FROM stale_buttons WHERE message_id = ?", [(i,) for i in message_ids]
        )

    async def planned(self) -> tuple[datetime, str] | None:
        """How far ahead the schedule is planned, and under which rules."""
        row = await fetch_one(
            self._conn, "SELECT planned_until, rules FROM reminder_planning WHERE id = 1"
        )
        return (from_db(row[0]), str(row[1])) if row else None

    async def set_planned(self, until: datetime, rules: str, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO reminder_planning (id, planned_until, rules, updated_at)"
            " VALUES (1, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
            " planned_until = excluded.planned_until, rules = excluded.rules,"
            " updated_at = excluded.updated_at",
            (to_db(until), rules, to_db(now)),
        )

    async def for_appointment(self, appointment_id: str) -> list[Reminder]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM reminder WHERE appointment_id = ? ORDER BY due_at, id",
            (appointment_id,),
        )
        return [_reminder(row) for row in rows]

    async def withdraw_pending(
        self, appointment_id: str, now: datetime, *, except_start: datetime | None = None
    ) -> int:
        """Withdraw pending reminders of an appointment (all, or those for another start)."""
        sql = "UPDATE reminder SET status = 'withdrawn', updated_at = ? WHERE appointment_id = ?"
        params: list[object] = [to_db(now), appointment_id]
        if except_start is not None:
            sql += " AND appointment_start_at <> ?"
            params.append(to_db(except_start))
        cur = await self._conn.execute(sql + " AND status = 'pending'", params)
        return cur.rowcount

    async def due(self, now: datetime, limit: int = 500) -> list[Reminder]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM reminder WHERE status = 'pending' AND send_at <= ?"
            " ORDER BY send_at, id LIMIT ?",
            (to_db(now), limit),
        )
        return [_reminder(row) for row in rows]

    async def pending_for_guardian(
        self, guardian_id: str, start_from: datetime, start_to: datetime, due_before: datetime
    ) -> list[Reminder]:
        """A guardian's pending reminders due before ``due_before``, for visits in [from, to)."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM reminder WHERE status = 'pending' AND guardian_id = ?"
            " AND due_at <= ? AND appointment_start_at >= ? AND appointment_start_at < ?"
            " ORDER BY appointment_start_at, id",
            (guardian_id, to_db(due_before), to_db(start_from), to_db(start_to)),
        )
        return [_reminder(row) for row in rows]

    async def backlog(self, now: datetime, late_before: datetime) -> tuple[int, int]:
        """(due, late): pending reminders whose time has come, and those of them whose time
        was before ``late_before`` (an index range, not a table scan)."""
        row = await fetch_one(
            self._conn,
            "SELECT COUNT(*), COALESCE(SUM(send_at < ?), 0) FROM reminder"
            " WHERE status = 'pending' AND send_at <= ?",
            (to_db(late_before), to_db(now)),
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def next_send_at(self) -> datetime | None:
        row = await fetch_one(
            self._conn, "SELECT MIN(send_at) FROM reminder WHERE status = 'pending'"
        )
        return from_db(row[0]) if row and row[0] else None

    async def set_status(
        self, ids: Iterable[int], status: str, now: datetime, message_id: int | None = None
    ) -> None:
        await self._conn.executemany(
            "UPDATE reminder SET status = ?, message_id = ?, updated_at = ? WHERE id = ?"
            " AND status = 'pending'",
            [(status, message_id, to_db(now), i) for i in ids],
        )

    async def postpone(self, reminder_id: int, send_at: datetime, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE reminder SET send_at = ?, updated_at = ? WHERE id = ?",
            (to_db(send_at), to_db(now), reminder_id),
        )

    async def sent_to_address_between(self, address: str, start: datetime, end: datetime) -> bool:
        """Whether a reminder message went (or is queued) to ``address`` in [start, end)."""
        row = await fetch_one(
            self._conn,
            "SELECT 1 FROM reminder r JOIN message m ON m.id = r.message_id"
            " WHERE r.status = 'sent' AND m.address = ? AND m.created_at >= ?"
            " AND m.created_at < ? AND m.status != 'failed' LIMIT 1",
            (address, to_db(start), to_db(end)),
        )
        return row is not None

    async def sent_to_address_since(self, address: str, since: datetime) -> list[datetime]:
        """When reminder messages went (or were queued) to ``address`` since ``since``."""
        rows = await fetch_all(
            self._conn,
            "SELECT DISTINCT m.id, m.created_at FROM reminder r JOIN message m"
            " ON m.id = r.message_id WHERE r.status = 'sent' AND m.address = ?"
            " AND m.created_at >= ? AND m.status != 'failed' ORDER BY m.created_at",
            (address, to_db(since)),
        )
        return [from_db(row[1]) for row in rows]
