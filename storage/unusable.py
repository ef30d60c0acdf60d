"""Authentic requests carebot could not use: kept so that nothing is dropped unseen."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.clock import to_db


class UnusableRequestRepo:
    """``unusable_request`` rows: the channel, when, why and how big; never the body."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def record(
        self, channel: str, reason: str, size: int, event_id: str | None, now: datetime
    ) -> int:
        cur = await self._conn.execute(
            "INSERT INTO unusable_request (channel, received_at, reason, event_id, size)"
            " VALUES (?, ?, ?, ?, ?)",
            (channel, to_db(now), reason[:200], event_id, size),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid
