"""Opaque action tokens behind buttons: a button carries only a random token."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import ActionToken
from storage.rows import fetch_one


@dataclass(frozen=True)
class TokenSpec:
    """What one button will do (see :meth:`ActionTokenRepo.issue_many`)."""

    action: str
    appointment_id: str | None = None
    appointment_start_at: datetime | None = None
    value: str = ""


class ActionTokenRepo:
    """What a button does lives here; a client can only hand back a token it was given."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def issue(
        self,
        *,
        action: str,
        guardian_id: str,
        now: datetime,
        appointment_id: str | None = None,
        appointment_start_at: datetime | None = None,
        value: str = "",
    ) -> str:
        token = secrets.token_urlsafe(12)
        await self._conn.execute(
            "INSERT INTO action_token (token, action, guardian_id, appointment_id,"
            " appointment_start_at, value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                token,
                action,
                guardian_id,
                appointment_id,
                to_db(appointment_start_at) if appointment_start_at else None,
                value,
                to_db(now),
            ),
        )
        return token

    async def issue_many(
        self, wanted: list[TokenSpec], guardian_id: str, now: datetime
    ) -> list[str]:
        """Tokens for several buttons of one message, in one statement batch, in order."""
        tokens = [secrets.token_urlsafe(12) for _ in wanted]
        await self._conn.executemany(
            "INSERT INTO action_token (token, action, guardian_id, appointment_id,"
            " appointment_start_at, value, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    token,
                    spec.action,
                    guardian_id,
                    spec.appointment_id,
                    to_db(spec.appointment_start_at) if spec.appointment_start_at else None,
                    spec.value,
                    to_db(now),
                )
                for token, spec in zip(tokens, wanted, strict=True)
            ],
        )
        return tokens

    async def get(self, token: str) -> ActionToken | None:
        if len(token) > 64:
            return None
        row = await fetch_one(
            self._conn,
            "SELECT token, action, guardian_id, appointment_id, appointment_start_at, value"
            " FROM action_token WHERE token = ?",
            (token,),
        )
        if row is None:
            return None
        data = {k: row[k] for k in row.keys()}
        if data["appointment_start_at"]:
            data["appointment_start_at"] = from_db(data["appointment_start_at"])
        return ActionToken(**data)
