"""The practice row: name, phone, timezone and the rules reminders follow, and where each of
those settings came from."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, time

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import Practice, Row
from storage.rows import fetch_all, fetch_one

#: The practice's settings as an operator names them (``CAREBOT_PRACTICE__<SETTING>``), in the
#: order ``carebot practice`` shows them, with the :class:`Practice` fields each one fills.
SETTINGS: dict[str, tuple[str, ...]] = {
    "name": ("name",),
    "timezone": ("timezone",),
    "phone": ("phone",),
    "business_hours": ("business_hours_start", "business_hours_end"),
    "quiet_hours": ("quiet_hours_start", "quiet_hours_end"),
    "reminder_offsets_hours": ("reminder_offsets_hours",),
    "late_cancel_hours": ("late_cancel_hours",),
}

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

    async def origins(self) -> dict[str, SettingOrigin]:
        """Where each setting's value came from, by setting (a setting saved before origins were
        recorded has none)."""
        rows = await fetch_all(
            self._conn, "SELECT setting, origin, updated_at FROM practice_setting_origin"
        )
        return {
            row["setting"]: SettingOrigin(
                setting=row["setting"], origin=row["origin"], updated_at=from_db(row["updated_at"])
            )
            for row in rows
        }

    async def save(
        self, practice: Practice, now: datetime, origins: Mapping[str, str] | None = None
    ) -> None:
        """Insert or replace the practice's settings, and record the origin of each setting that
        ``origins`` names (the others keep theirs). An origin's date moves only when its
        setting's value or its origin changes: it says since when the record has held that
        value."""
        unknown = set(origins or {}) - set(SETTINGS)
        if unknown:
            raise ValueError(f"not practice settings: {', '.join(sorted(unknown))}")
        before = await self.get() if origins else None
        known = await self.origins() if origins else {}
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
        for setting, origin in (origins or {}).items():
            kept = before is not None and _values(before, setting) == _values(practice, setting)
            if kept and setting in known and known[setting].origin == origin:
                continue
            await self._conn.execute(
                "INSERT INTO practice_setting_origin (setting, origin, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (setting) DO UPDATE SET origin = excluded.origin,"
                " updated_at = excluded.updated_at",
                (setting, origin, to_db(now)),
            )


class SettingOrigin(Row):
    """Where one practice setting's value came from (``environment CAREBOT_PRACTICE__NAME``,
    ``config file /etc/carebot.toml``, ``configuration``, ``default``, ``demo data``), and since
    when the record has held it."""

    setting: str
    origin: str
    updated_at: datetime


def _values(practice: Practice, setting: str) -> tuple[object, ...]:
    return tuple(getattr(practice, field) for field in SETTINGS[setting])
