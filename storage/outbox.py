"""The outbox's side of the message table: delivery states, what is due, recovery after a crash.

States: ``queued`` -> ``sending`` (committed before the platform call) -> ``sent`` ->
``delivered``, or ``failed``; a row found ``sending`` at start-up becomes ``unknown`` and is
resolved (``recovery``: ``found`` at the provider, or ``resent``). Every query here that runs per
round uses a partial index on queued rows (migration 0005).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiosqlite

from storage.clock import from_db, to_db
from storage.models import Button, OutboundMessage
from storage.rows import fetch_all, fetch_one

# Delivery states in their order: a report never moves a message back (reports come in any order).
_RANK = {"queued": 0, "sending": 0, "sent": 1, "unknown": 1, "delivered": 2, "failed": 2}

_OUTBOUND_COLUMNS = (
    "SELECT m.id, m.channel, m.address, m.guardian_id, m.template, m.body, m.attempts,"
    " m.parts_sent, m.provider_message_id, m.author_staff_id, m.sending_at, m.reveals,"
    " CASE WHEN t.status = 'failed' THEN NULL ELSE m.thread_message_id END"
    " AS thread_message_id, t.provider_message_id AS thread_provider_id,"
    " m.edits_message_id, e.provider_message_id AS edits_provider_id, e.status AS edits_status"
    " FROM message m LEFT JOIN message t ON t.id = m.thread_message_id"
    " LEFT JOIN message e ON e.id = m.edits_message_id"
)


def _start_sql(count: int) -> str:
    marks = ",".join("?" * count)
    return (
        f"UPDATE message SET status = 'sending', sending_at = ? WHERE id IN ({marks})"
        " AND status = 'queued' RETURNING id"
    )


@dataclass
class Settlement:
    """What one turn of the outbox writes: the outcomes of the sends that finished (the usual
    ones; a recipient unreachable or a message failed for good goes through the repositories)
    and the next messages to mark ``sending``."""

    #: (message id, provider id of the first part, parts sent)
    sent: list[tuple[int, str, int]] = field(default_factory=list)
    #: (message id, not before, why): back to queued, one attempt more
    retries: list[tuple[int, datetime, str]] = field(default_factory=list)
    #: (message id, parts sent, provider id of the first part): a long message partly out
    parts: list[tuple[int, int, str | None]] = field(default_factory=list)
    #: Not an attempt: these wait for something else (their thread's first post), until then.
    postponed: list[int] = field(default_factory=list)
    postpone_until: datetime | None = None
    #: Messages to mark ``sending`` (those still queued are).
    start: list[int] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether there is anything to write besides the marks."""
        return bool(self.sent or self.retries or self.parts or self.postponed)


def settle(conn: sqlite3.Connection, turn: Settlement, now: datetime) -> set[int]:
    """Write a :class:`Settlement` on a plain sqlite3 connection inside the caller's
    transaction (``Database.write``: one trip to the database thread for the whole turn).
    Returns the ids marked ``sending`` (a STOP may have withdrawn one in between)."""
    stamp = to_db(now)
    if turn.parts:
        conn.executemany(
            "UPDATE message SET parts_sent = ?,"
            " provider_message_id = COALESCE(provider_message_id, ?) WHERE id = ?",
            [(parts, provider, message_id) for message_id, parts, provider in turn.parts],
        )
    if turn.sent:
        # A provider's report may have come first (delivered, failed): never moved back.
        conn.executemany(
            "UPDATE message SET status = CASE WHEN status IN ('delivered', 'failed')"
            " THEN status ELSE 'sent' END, provider_message_id = ?, parts_sent = ?,"
            " sent_at = ?, attempts = attempts + 1,"
            " error = CASE WHEN status = 'failed' THEN error END WHERE id = ?",
            [(provider, parts, stamp, message_id) for message_id, provider, parts in turn.sent],
        )
    if turn.retries:
        conn.executemany(
            "UPDATE message SET status = 'queued', attempts = attempts + 1, not_before = ?,"
            " error = ? WHERE id = ?",
            [(to_db(when), why, message_id) for message_id, when, why in turn.retries],
        )
    if turn.postponed:
        until = to_db(turn.postpone_until or now)
        conn.executemany(
            "UPDATE message SET status = 'queued', not_before = ? WHERE id = ?"
            " AND status IN ('queued', 'sending')",
            [(until, message_id) for message_id in turn.postponed],
        )
    if not turn.start:
        return set()
    rows = conn.execute(_start_sql(len(turn.start)), [stamp, *turn.start]).fetchall()
    return {row[0] for row in rows}


class OutboxRepo:
    """Reads and moves outbound messages for the outbox (bot/outbox.py)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def due(self, channel: str, now: datetime, limit: int) -> list[OutboundMessage]:
        """The next message of each address on one channel, if it is due, oldest first.

        Only an address's head (its first queued message that is due or waiting for a retry)
        is offered, so a message never overtakes an earlier one to the same address that is
        waiting for a retry; a message held for later (quiet hours) does not hold back the
        ones after it.
        """
        when = to_db(now)
        rows = await fetch_all(
            self._conn,
            _OUTBOUND_COLUMNS + " WHERE m.id IN (SELECT MIN(id) FROM message"
            " WHERE channel = ? AND status = 'queued' AND (not_before <= ? OR attempts > 0)"
            " GROUP BY address) AND m.not_before <= ? ORDER BY m.not_before, m.id LIMIT ?",
            (channel, when, when, limit),
        )
        return await self._outbound(rows)

    async def _outbound(self, rows: list[Any]) -> list[OutboundMessage]:
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        button_rows = await fetch_all(
            self._conn,
            f"SELECT message_id, label, token, style FROM message_button WHERE message_id IN"
            f" ({','.join('?' * len(ids))}) ORDER BY message_id, position",
            ids,
        )
        buttons: dict[int, list[Button]] = {}
        for b in button_rows:
            buttons.setdefault(b["message_id"], []).append(
                Button.model_construct(label=b["label"], token=b["token"], style=b["style"])
            )
        return [
            # Rows of our own record, typed by the schema: built without validating each again
            # (a fan-out reads thousands).
            OutboundMessage.model_construct(
                id=row["id"],
                channel=row["channel"],
                address=row["address"],
                guardian_id=row["guardian_id"],
                template=row["template"],
                body=row["body"],
                attempts=row["attempts"],
                buttons=tuple(buttons.get(row["id"], ())),
                thread_message_id=row["thread_message_id"],
                thread_provider_id=row["thread_provider_id"],
                parts_sent=row["parts_sent"],
                provider_message_id=row["provider_message_id"],
                author_staff_id=row["author_staff_id"],
                sending_at=from_db(row["sending_at"]) if row["sending_at"] else None,
                reveals=frozenset(row["reveals"].split(",")) - {""},
                edits_message_id=row["edits_message_id"],
                edits_provider_id=row["edits_provider_id"],
                edits_status=row["edits_status"],
            )
            for row in rows
        ]

    async def start_sending(self, message_ids: list[int], now: datetime) -> set[int]:
        """Mark messages ``sending`` (the caller commits before any platform call); returns
        those still queued (a STOP may have withdrawn one in between)."""
        if not message_ids:
            return set()
        rows = await fetch_all(self._conn, _start_sql(len(message_ids)), [to_db(now), *message_ids])
        return {row[0] for row in rows}

    async def in_flight_to_unknown(self) -> int:
        """After a crash: a message left ``sending`` may or may not have reached the platform."""
        cur = await self._conn.execute(
            "UPDATE message SET status = 'unknown' WHERE status = 'sending'"
        )
        return cur.rowcount

    async def unknown(self, limit: int) -> list[OutboundMessage]:
        """Messages whose fate is unknown (see :meth:`in_flight_to_unknown`), oldest first."""
        rows = await fetch_all(
            self._conn,
            _OUTBOUND_COLUMNS + " WHERE m.status = 'unknown' ORDER BY m.id LIMIT ?",
            (limit,),
        )
        return await self._outbound(rows)

    async def found_at_provider(self, message_id: int, provider_id: str, now: datetime) -> None:
        """An unknown message the provider has: it went out; it is not sent again."""
        await self._conn.execute(
            "UPDATE message SET status = 'sent', provider_message_id = ?, recovery = 'found',"
            " recovered_at = ?, sent_at = COALESCE(sent_at, sending_at) WHERE id = ?"
            " AND status = 'unknown'",
            (provider_id, to_db(now), message_id),
        )

    async def send_again(self, message_id: int, now: datetime) -> None:
        """An unknown message is queued again, flagged: the family may get it twice."""
        await self._conn.execute(
            "UPDATE message SET status = 'queued', recovery = 'resent', recovered_at = ?"
            " WHERE id = ? AND status = 'unknown'",
            (to_db(now), message_id),
        )

    async def queue_state(
        self, channel: str, now: datetime
    ) -> tuple[int, datetime | None, datetime | None]:
        """One channel's queue: how many messages are queued, the earliest ``not_before`` among
        them, and the earliest one still to come (after ``now``). One pass over the index of
        queued messages (``message_queue_due``)."""
        row = await fetch_one(
            self._conn,
            "SELECT COUNT(*), MIN(not_before), MIN(CASE WHEN not_before > ? THEN not_before END)"
            " FROM message WHERE channel = ? AND status = 'queued'",
            (to_db(now), channel),
        )
        if row is None:
            return 0, None, None
        depth, oldest, upcoming = row[0], row[1], row[2]
        return (
            int(depth),
            from_db(oldest) if oldest else None,
            from_db(upcoming) if upcoming else None,
        )

    async def fail_queued_elsewhere(self, channels: list[str], error: str) -> list[int]:
        """Fail what is queued on any channel but these (a channel carebot does not run)."""
        marks = ",".join("?" * len(channels))
        rows = await fetch_all(
            self._conn,
            f"UPDATE message SET status = 'failed', error = ? WHERE status = 'queued'"
            f" AND channel NOT IN ({marks}) RETURNING id",
            [error, *channels],
        )
        return [row[0] for row in rows]

    async def report_status(
        self, provider_id: str, state: str, error_code: str | None
    ) -> str | None:
        """Apply a provider's delivery report (``queued``, ``sent``, ``delivered`` or
        ``failed``, as the adapter translated it); never moves a message backwards. Returns the
        message's address, or None if the id is unknown."""
        row = await fetch_one(
            self._conn,
            "SELECT id, address, status FROM message WHERE provider_message_id = ?"
            " AND direction = 'out'",
            (provider_id,),
        )
        if row is None:
            return None
        # A message back in the queue (a retry, or the rest of a long text's parts still to go)
        # is not out yet, whatever the report on its first part says: it stays queued, or its
        # other parts would never be sent.
        if row["status"] == "queued":
            return str(row["address"])
        if state in _RANK and _RANK[state] > _RANK.get(row["status"], 0):
            await self._conn.execute(
                "UPDATE message SET status = ?, error = COALESCE(?, error) WHERE id = ?",
                (state, f"provider error {error_code}" if error_code else None, row["id"]),
            )
        return str(row["address"])
