"""One-time invites that link a family's chat account to a guardian, and links in progress."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import aiosqlite
from pydantic import BaseModel, ConfigDict

from storage.clock import from_db, to_db
from storage.rows import fetch_one

MAX_ATTEMPTS = 5


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class Invite(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    guardian_id: str
    expires_at: datetime
    failed_attempts: int
    used_at: datetime | None
    burned_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and self.burned_at is None and now < self.expires_at


def _invite(row: aiosqlite.Row) -> Invite:
    return Invite(
        id=row["id"],
        guardian_id=row["guardian_id"],
        expires_at=from_db(row["expires_at"]),
        failed_attempts=row["failed_attempts"],
        used_at=from_db(row["used_at"]) if row["used_at"] else None,
        burned_at=from_db(row["burned_at"]) if row["burned_at"] else None,
    )


_COLUMNS = "id, guardian_id, expires_at, failed_attempts, used_at, burned_at"


class InviteRepo:
    """Invites are stored as hashes: the token exists only in the link given to the family."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def create(self, guardian_id: str, now: datetime, valid_for: timedelta) -> str:
        """Create an invite and return its token (32 URL-safe characters)."""
        token = secrets.token_urlsafe(24)
        await self._conn.execute(
            "INSERT INTO invite (guardian_id, token_hash, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (guardian_id, hash_token(token), to_db(now), to_db(now + valid_for)),
        )
        return token

    async def by_token(self, token: str) -> Invite | None:
        row = await fetch_one(
            self._conn, f"SELECT {_COLUMNS} FROM invite WHERE token_hash = ?", (hash_token(token),)
        )
        return _invite(row) if row else None

    async def get(self, invite_id: int) -> Invite | None:
        row = await fetch_one(
            self._conn, f"SELECT {_COLUMNS} FROM invite WHERE id = ?", (invite_id,)
        )
        return _invite(row) if row else None

    async def count_failure(self, invite_id: int, now: datetime) -> bool:
        """Count a wrong answer; returns True if that burned the invite."""
        await self._conn.execute(
            "UPDATE invite SET failed_attempts = failed_attempts + 1 WHERE id = ?", (invite_id,)
        )
        await self._conn.execute(
            "UPDATE invite SET burned_at = ? WHERE id = ? AND failed_attempts >= ?"
            " AND burned_at IS NULL",
            (to_db(now), invite_id, MAX_ATTEMPTS),
        )
        invite = await self.get(invite_id)
        return invite is not None and invite.burned_at is not None

    async def mark_used(self, invite_id: int, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE invite SET used_at = ? WHERE id = ?", (to_db(now), invite_id)
        )

    async def start_link(self, channel: str, address: str, invite_id: int, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO pending_link (channel, address, invite_id, started_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (channel, address) DO UPDATE SET invite_id = excluded.invite_id,"
            " started_at = excluded.started_at",
            (channel, address, invite_id, to_db(now)),
        )

    async def pending_link(self, channel: str, address: str) -> int | None:
        row = await fetch_one(
            self._conn,
            "SELECT invite_id FROM pending_link WHERE channel = ? AND address = ?",
            (channel, address),
        )
        return row[0] if row else None

    async def end_link(self, channel: str, address: str) -> None:
        await self._conn.execute(
            "DELETE FROM pending_link WHERE channel = ? AND address = ?", (channel, address)
        )
