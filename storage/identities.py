"""Channel identities: which guardian or staff member a channel address belongs to."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import ChannelIdentity

_COLUMNS = (
    "id, channel, address, guardian_id, staff_id, verified_at, consent_at, opted_out_at, blocked_at"
)


def _identity(row: aiosqlite.Row) -> ChannelIdentity:
    data = {k: row[k] for k in row.keys()}
    for key in ("verified_at", "consent_at", "opted_out_at", "blocked_at"):
        if data[key] is not None:
            data[key] = from_db(data[key])
    return ChannelIdentity(**data)


class IdentityRepo:
    """UNIQUE (channel, address) -> guardian or staff, with consent and reachability."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def find(self, channel: str, address: str) -> ChannelIdentity | None:
        cur = await self._conn.execute(
            f"SELECT {_COLUMNS} FROM channel_identity WHERE channel = ? AND address = ?",
            (channel, address),
        )
        row = await cur.fetchone()
        return _identity(row) if row else None

    async def link_guardian(
        self, channel: str, address: str, guardian_id: str, now: datetime
    ) -> ChannelIdentity:
        """Link (verified, consenting) an address to a guardian; the address must be free."""
        await self._conn.execute(
            "INSERT INTO channel_identity (channel, address, guardian_id, verified_at,"
            " consent_at, created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (channel, address, guardian_id, to_db(now), to_db(now), to_db(now)),
        )
        found = await self.find(channel, address)
        assert found is not None
        return found

    async def for_guardian(self, guardian_id: str) -> list[ChannelIdentity]:
        cur = await self._conn.execute(
            f"SELECT {_COLUMNS} FROM channel_identity WHERE guardian_id = ? ORDER BY id",
            (guardian_id,),
        )
        return [_identity(row) for row in await cur.fetchall()]

    async def mark_blocked(self, channel: str, address: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE channel_identity SET blocked_at = ? WHERE channel = ? AND address = ?"
            " AND blocked_at IS NULL",
            (to_db(now), channel, address),
        )

    async def clear_blocked(self, identity_id: int) -> None:
        await self._conn.execute(
            "UPDATE channel_identity SET blocked_at = NULL WHERE id = ?", (identity_id,)
        )

    async def verify(self, identity_id: int, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE channel_identity SET verified_at = ?, consent_at = COALESCE(consent_at, ?)"
            " WHERE id = ?",
            (to_db(now), to_db(now), identity_id),
        )
