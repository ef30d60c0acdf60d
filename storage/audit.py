"""The audit trail: append-only, who did what to which record. Never message text."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import aiosqlite

from storage.clock import to_db
from storage.rows import fetch_all

ActorType = Literal["guardian", "staff", "system", "operator"]


class AuditRepo:
    """Appends audit events; nothing here updates or deletes."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def record(
        self,
        *,
        actor_type: ActorType,
        actor_id: str,
        action: str,
        entity_type: str,
        entity_id: str,
        now: datetime,
        detail: str = "",
    ) -> None:
        await self._conn.execute(
            "INSERT INTO audit_event (at, actor_type, actor_id, action, entity_type, entity_id,"
            " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (to_db(now), actor_type, actor_id, action, entity_type, entity_id, detail),
        )

    async def actions_for(self, entity_type: str, entity_id: str) -> list[tuple[str, str, str]]:
        """(actor_type, actor_id, action) for one record, oldest first."""
        rows = await fetch_all(
            self._conn,
            "SELECT actor_type, actor_id, action FROM audit_event"
            " WHERE entity_type = ? AND entity_id = ? ORDER BY id",
            (entity_type, entity_id),
        )
        return [(r[0], r[1], r[2]) for r in rows]
