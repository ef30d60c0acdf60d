"""Channel identities: which guardian or staff member a channel address belongs to."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import ChannelIdentity, Guardian
from storage.rows import fetch_all, fetch_one

_COLUMNS = (
    "id, channel, address, guardian_id, staff_id, verified_at, consent_at, opted_out_at, blocked_at"
)


def _identity(row: aiosqlite.Row) -> ChannelIdentity:
    data = {k: row[k] for k in ChannelIdentity.model_fields}
    for key in ("verified_at", "consent_at", "opted_out_at", "blocked_at"):
        if data[key] is not None:
            data[key] = from_db(data[key])
    return ChannelIdentity(**data)


class IdentityRepo:
    """UNIQUE (channel, address) -> guardian or staff, with consent and reachability."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def find(self, channel: str, address: str) -> ChannelIdentity | None:
        row = await fetch_one(
            self._conn,
            f"SELECT {_COLUMNS} FROM channel_identity WHERE channel = ? AND address = ?",
            (channel, address),
        )
        return _identity(row) if row else None

    async def find_with_guardian(
        self, channel: str, address: str
    ) -> tuple[ChannelIdentity | None, Guardian | None]:
        """The identity of an address and, if it is a verified guardian's, that guardian."""
        row = await fetch_one(
            self._conn,
            f"SELECT {', '.join('i.' + c.strip() for c in _COLUMNS.split(','))},"
            " g.first_name, g.last_name, g.phone, g.language, g.sms_consent, g.timezone"
            " FROM channel_identity i LEFT JOIN guardian g ON g.id = i.guardian_id"
            " WHERE i.channel = ? AND i.address = ?",
            (channel, address),
        )
        if row is None:
            return None, None
        identity = _identity(row)
        if identity.guardian_id is None or identity.verified_at is None:
            return identity, None
        guardian = Guardian(
            id=identity.guardian_id,
            first_name=row["first_name"],
            last_name=row["last_name"],
            phone=row["phone"],
            language=row["language"],
            sms_consent=bool(row["sms_consent"]),
            timezone=row["timezone"],
        )
        return identity, guardian

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
        rows = await fetch_all(
            self._conn,
            f"SELECT {_COLUMNS} FROM channel_identity WHERE guardian_id = ? ORDER BY id",
            (guardian_id,),
        )
        return [_identity(row) for row in rows]

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

    async def opt_out(self, identity_id: int, now: datetime) -> None:
        """The person asked for no more messages here (e.g. STOP): recorded at once."""
        await self._conn.execute(
            "UPDATE channel_identity SET opted_out_at = COALESCE(opted_out_at, ?) WHERE id = ?",
            (to_db(now), identity_id),
        )

    async def opt_in(self, identity_id: int, now: datetime) -> None:
        """The person asked to receive messages again (e.g. START): consent as of now."""
        await self._conn.execute(
            "UPDATE channel_identity SET opted_out_at = NULL, consent_at = ? WHERE id = ?",
            (to_db(now), identity_id),
        )

    async def opt_out_address(self, channel: str, address: str, now: datetime) -> None:
        """A provider reported the address unsubscribed (Twilio 21610)."""
        await self._conn.execute(
            "UPDATE channel_identity SET opted_out_at = COALESCE(opted_out_at, ?)"
            " WHERE channel = ? AND address = ?",
            (to_db(now), channel, address),
        )

    async def shared_with(self, guardian_id: str) -> list[ChannelIdentity]:
        """Identities of numbers this guardian shares with their owner, where this guardian
        consented (the identity row is the owner's: its opt-out and blocks hold for both)."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {', '.join('ci.' + c.strip() for c in _COLUMNS.split(','))}"
            " FROM shared_number sn JOIN channel_identity ci"
            " ON ci.channel = sn.channel AND ci.address = sn.address"
            " WHERE sn.guardian_id = ? AND sn.consent_at IS NOT NULL ORDER BY ci.id",
            (guardian_id,),
        )
        return [_identity(row) for row in rows]

    async def shares(self, channel: str, address: str, guardian_id: str) -> bool:
        """Whether this guardian shares the number (is listed on it besides its owner)."""
        row = await fetch_one(
            self._conn,
            "SELECT 1 FROM shared_number WHERE channel = ? AND address = ? AND guardian_id = ?",
            (channel, address, guardian_id),
        )
        return row is not None
