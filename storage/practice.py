"""The practice row: name, phone, timezone and the rules reminders follow."""

from __future__ import annotations

from datetime import datetime, time

import aiosqlite

from storage.clock import to_db
from storage.models import Practice
from storage.rows import fetch_one

_COLUMNS = (
    "name, phone, timezone, business_hours_start, business_hours_end, quiet_hours_start,"
    " quiet_hours_end, reminder_offsets_hours, late_cancel_hours"
)


class PracticeRepo:
    """Reads and writes the single practice row (id 1)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def get(self) -> Practice | None:
        row = await fetch_one(self._conn, f"SELECT {_COLUMNS} FROM practice WHERE id = 1")
        if row is None:
            return None
        return Practice(
            name=row["name"],
            phone=row["phone"],
            timezone=row["timezone"],
            business_hours_start=time.fromisoformat(row["business_hours_start"]),
            business_hours_end=time.fromisoformat(row["business_hours_end"]),
            quiet_hours_start=time.fromisoformat(row["quiet_hours_start"]),
            quiet_hours_end=time.fromisoformat(row["quiet_hours_end"]),
            reminder_offsets_hours=tuple(
                int(h) for h in row["reminder_offsets_hours"].split(",") if h
            ),
            late_cancel_hours=row["late_cancel_hours"],
        )

    async def save(self, practice: Practice, now: datetime) -> None:
        """Insert or replace the practice's settings (configuration is their source)."""
        await self._conn.execute(
            f"INSERT INTO practice (id, {_COLUMNS}, updated_at)"
            " VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, phone = excluded.phone,"
            " timezone = excluded.timezone,"
            " business_hours_start = excluded.business_hours_start,"
            " business_hours_end = excluded.business_hours_end,"
            " quiet_hours_start = excluded.quiet_hours_start,"
            " quiet_hours_end = excluded.quiet_hours_end,"
            " reminder_offsets_hours = excluded.reminder_offsets_hours,"
            " late_cancel_hours = excluded.late_cancel_hours, updated_at = excluded.updated_at",
            (
                practice.name,
                practice.phone,
                practice.timezone,
                practice.business_hours_start.strftime("%H:%M"),
                practice.business_hours_end.strftime("%H:%M"),
                practice.quiet_hours_start.strftime("%H:%M"),
                practice.quiet_hours_end.strftime("%H:%M"),
                ",".join(str(h) for h in practice.reminder_offsets_hours),
                practice.late_cancel_hours,
                to_db(now),
            ),
        )
