"""Messages: the conversation history, the outbox, and inbound de-duplication."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, Protocol

import aiosqlite

from storage.clock import to_db
from storage.models import Button
from storage.rows import fetch_all, fetch_one


class ViewRequestRow(Protocol):
    """What :meth:`MessageRepo.record_staff_requests` needs of a request (read only)."""

    @property
    def channel(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def slack_user_id(self) -> str: ...
    @property
    def body(self) -> str: ...
    @property
    def provider_message_id(self) -> str | None: ...
    @property
    def at(self) -> str: ...


@dataclass(frozen=True)
class FailedForAuthor:
    """A message a staff member wrote that failed for good (they are told)."""

    message_id: int
    channel: str
    guardian_id: str | None
    author_staff_id: str
    error: str


_INSERT_STAFF_REQUEST = (
    "INSERT INTO message (direction, channel, address, guardian_id, staff_id, body,"
    " status, provider_message_id, not_before, created_at, event_id)"
    " VALUES ('in', ?, ?, NULL, (SELECT id FROM staff WHERE slack_user_id = ?), ?,"
    " 'received', ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _staff_request_row(r: ViewRequestRow) -> tuple[object, ...]:
    return (r.channel, r.address, r.slack_user_id, r.body, r.provider_message_id, r.at, r.at,
            r.event_id)  # fmt: skip


class ActivityRow(NamedTuple):
    """One message as an activity log shows it."""

    id: int
    created_at: str
    direction: str
    channel: str
    status: str
    error: str | None
    edits_message_id: int | None
    who: str
    body: str
    address: str


@dataclass(frozen=True)
class SentMessage:
    """An outbound message as a later change of it needs it."""

    id: int
    address: str
    guardian_id: str | None
    body: str
    reveals: frozenset[str]
    template: str
    #: The staff member it was written to (a direct message), if one.
    staff_id: str | None = None


#: The columns of a :class:`SentMessage`, in its order.
_SENT = "id, address, guardian_id, body, reveals, template, staff_id"


def _sent_message(row: Any) -> SentMessage:
    return SentMessage(
        id=row[0],
        address=row[1],
        guardian_id=row[2],
        body=row[3],
        reveals=frozenset(row[4].split(",")) - {""},
        template=row[5],
        staff_id=row[6],
    )


class MessageRepo:
    """Every message in and out. An outbound message is a row before it is ever sent."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def claim_event(self, channel: str, event_id: str, now: datetime) -> bool:
        """Record a provider event id; False if it was already handled (a redelivery)."""
        cur = await self._conn.execute(
            "INSERT INTO inbound_event (channel, event_id, received_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (channel, event_id, to_db(now)),
        )
        return cur.rowcount == 1

    async def forget_events_before(self, before: datetime) -> int:
        """Drop old event ids (providers redeliver for hours, not weeks)."""
        cur = await self._conn.execute(
            "DELETE FROM inbound_event WHERE received_at < ?", (to_db(before),)
        )
        return cur.rowcount

    async def record_inbound(
        self,
        *,
        channel: str,
        address: str,
        body: str,
        guardian_id: str | None,
        staff_id: str | None,
        provider_message_id: str | None,
        now: datetime,
    ) -> int:
        cur = await self._conn.execute(
            "INSERT INTO message (direction, channel, address, guardian_id, staff_id, body,"
            " status, provider_message_id, not_before, created_at)"
            " VALUES ('in', ?, ?, ?, ?, ?, 'received', ?, ?, ?)",
            (
                channel,
                address,
                guardian_id,
                staff_id,
                body,
                provider_message_id,
                to_db(now),
                to_db(now),
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def record_staff_requests(self, requests: list[ViewRequestRow]) -> set[str]:
        """Record staff members' read-only requests (in the caller's transaction); return the
        event ids that were new. The staff id is resolved in the insert itself."""
        if not requests:
            return set()
        if len(requests) == 1:
            r = requests[0]
            cur = await self._conn.execute(_INSERT_STAFF_REQUEST, _staff_request_row(r))
            return {r.event_id} if cur.rowcount == 1 else set()
        channel = requests[0].channel
        ids = sorted({r.event_id for r in requests})
        marks = ",".join("?" * len(ids))
        seen = {
            row[0]
            for row in await fetch_all(
                self._conn,
                f"SELECT event_id FROM message WHERE channel = ? AND event_id IN ({marks})",
                [channel, *ids],
            )
        }
        fresh: dict[str, ViewRequestRow] = {}
        for request in requests:
            if request.event_id not in seen and request.event_id not in fresh:
                fresh[request.event_id] = request
        await self._conn.executemany(
            _INSERT_STAFF_REQUEST, [_staff_request_row(r) for r in fresh.values()]
        )
        return set(fresh)

    async def queue(
        self,
        *,
        channel: str,
        address: str,
        body: str,
        template: str,
        guardian_id: str | None,
        staff_id: str | None,
        buttons: tuple[Button, ...],
        now: datetime,
        reveals: frozenset[str],
        not_before: datetime | None = None,
        thread_message_id: int | None = None,
        author_staff_id: str | None = None,
        edits_message_id: int | None = None,
    ) -> int:
        """Queue an outbound message (and its buttons); the outbox sends it.

        ``reveals``: what the message is made of, by name (``child``, ``date``...): the outbox
        refuses it on a channel that may not carry one of them. ``thread_message_id`` posts it
        as a reply in the thread that message started; ``author_staff_id`` is the staff member
        who wrote it (told if it fails for good). ``edits_message_id``: this row is the new
        text and buttons of that message, sent before (the outbox edits it in place).
        """
        if any("," in name for name in reveals):
            raise ValueError("the names of what a message reveals may not hold a comma")
        cur = await self._conn.execute(
            "INSERT INTO message (direction, channel, address, guardian_id, staff_id, template,"
            " body, status, not_before, created_at, thread_message_id, author_staff_id, reveals,"
            " edits_message_id)"
            " VALUES ('out', ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
            (
                channel,
                address,
                guardian_id,
                staff_id,
                template,
                body,
                to_db(not_before or now),
                to_db(now),
                thread_message_id,
                author_staff_id,
                ",".join(sorted(reveals)),
                edits_message_id,
            ),
        )
        message_id = cur.lastrowid
        assert message_id is not None
        if buttons:
            await self._conn.executemany(
                "INSERT INTO message_button (message_id, position, label, token, style)"
                " VALUES (?, ?, ?, ?, ?)",
                [(message_id, i, b.label, b.token, b.style) for i, b in enumerate(buttons)],
            )
        return message_id

    async def sent_as(self, channel: str, provider_message_id: str) -> SentMessage | None:
        """The outbound message a provider knows by this id (e.g. the Telegram message whose
        button was pressed), with what it said and revealed; None if carebot sent none."""
        row = await fetch_one(
            self._conn,
            f"SELECT {_SENT} FROM message"
            " WHERE provider_message_id = ? AND channel = ? AND direction = 'out'"
            " ORDER BY id LIMIT 1",
            (provider_message_id, channel),
        )
        return _sent_message(row) if row else None

    async def live_answer_buttons(self, message_id: int, except_appointment: str) -> list[Button]:
        """The message's answer buttons (confirm, cancel, reschedule) for visits other than
        ``except_appointment`` that still wait for an answer at the time they were issued for:
        what a message for several children keeps once one child's visit is answered."""
        rows = await fetch_all(
            self._conn,
            "SELECT b.label, b.token, b.style FROM message_button b"
            " JOIN action_token t ON t.token = b.token"
            " JOIN appointment a ON a.id = t.appointment_id"
            " WHERE b.message_id = ? AND t.appointment_id <> ?"
            " AND t.action IN ('confirm', 'cancel', 'reschedule')"
            " AND t.appointment_start_at = a.start_at AND a.status = 'booked'"
            " AND a.participant_status = 'needs-action' AND a.reschedule_requested_at IS NULL"
            " ORDER BY b.position",
            (message_id, except_appointment),
        )
        return [Button(label=r[0], token=r[1], style=r[2]) for r in rows]

    async def sent_message(self, message_id: int) -> SentMessage | None:
        """An outbound message by its id, with what it said and revealed."""
        row = await fetch_one(
            self._conn,
            f"SELECT {_SENT} FROM message WHERE id = ? AND direction = 'out'",
            (message_id,),
        )
        return _sent_message(row) if row else None

    async def latest(self, limit: int) -> list[ActivityRow]:
        """The latest messages in and out, newest first (the sandbox console's activity)."""
        rows = await fetch_all(
            self._conn,
            "SELECT m.id, m.created_at, m.direction, m.channel, m.status, m.error,"
            " m.edits_message_id, COALESCE(g.first_name, s.name, '') AS who, m.body, m.address"
            " FROM message m LEFT JOIN guardian g ON g.id = m.guardian_id"
            " LEFT JOIN staff s ON s.id = m.staff_id ORDER BY m.id DESC LIMIT ?",
            (limit,),
        )
        return [ActivityRow(*row) for row in rows]

    async def last_template_to(self, channel: str, address: str) -> str | None:
        """The template (first message id) of the latest message sent to an address."""
        row = await fetch_one(
            self._conn,
            "SELECT template FROM message WHERE channel = ? AND address = ? AND direction = 'out'"
            " ORDER BY id DESC LIMIT 1",
            (channel, address),
        )
        return row[0] if row else None

    async def last_offered_choices(self, channel: str, address: str) -> bool:
        """Whether the latest message sent to an address offered choices (had buttons)."""
        row = await fetch_one(
            self._conn,
            "SELECT EXISTS (SELECT 1 FROM message_button WHERE message_id = (SELECT MAX(id)"
            " FROM message WHERE channel = ? AND address = ? AND direction = 'out'))",
            (channel, address),
        )
        return bool(row[0]) if row else False

    async def latest_buttons(self, channel: str, address: str) -> list[str]:
        """The button tokens of the latest message with buttons sent to an address, in order
        (what "1", "2", "3" answer on a channel without buttons)."""
        rows = await fetch_all(
            self._conn,
            "SELECT b.token FROM message_button b WHERE b.message_id = (SELECT MAX(m.id)"
            " FROM message m JOIN message_button mb ON mb.message_id = m.id"
            " WHERE m.channel = ? AND m.address = ? AND m.direction = 'out'"
            " AND m.status != 'failed') ORDER BY b.position",
            (channel, address),
        )
        return [row[0] for row in rows]

    async def provider_id(self, message_id: int) -> str | None:
        row = await fetch_one(
            self._conn, "SELECT provider_message_id FROM message WHERE id = ?", (message_id,)
        )
        return row[0] if row else None

    async def history(self, guardian_id: str, limit: int = 20) -> list[tuple[str, str, str]]:
        """(direction, channel, body) of a guardian's latest messages, oldest first."""
        rows = await fetch_all(
            self._conn,
            "SELECT direction, channel, body FROM message WHERE guardian_id = ?"
            " ORDER BY id DESC LIMIT ?",
            (guardian_id, limit),
        )
        return [(r[0], r[1], r[2]) for r in reversed(rows)]

    async def mark_failed(self, message_id: int, error: str) -> None:
        await self._conn.execute(
            "UPDATE message SET status = 'failed', attempts = attempts + 1, error = ? WHERE id = ?",
            (error, message_id),
        )

    async def fail_queued_to(self, channel: str, address: str, error: str) -> list[int]:
        """Fail everything still queued to an address that can no longer be reached."""
        rows = await fetch_all(
            self._conn,
            "UPDATE message SET status = 'failed', error = ? WHERE status = 'queued'"
            " AND channel = ? AND address = ? RETURNING id",
            (error, channel, address),
        )
        return [row[0] for row in rows]

    async def authored(self, message_ids: list[int]) -> list[FailedForAuthor]:
        """Of these (failed) messages, those a staff member wrote, for telling them."""
        if not message_ids:
            return []
        marks = ",".join("?" * len(message_ids))
        rows = await fetch_all(
            self._conn,
            f"SELECT id, channel, guardian_id, author_staff_id, error FROM message"
            f" WHERE id IN ({marks}) AND author_staff_id IS NOT NULL ORDER BY id",
            message_ids,
        )
        return [
            FailedForAuthor(
                message_id=r["id"],
                channel=r["channel"],
                guardian_id=r["guardian_id"],
                author_staff_id=r["author_staff_id"],
                error=r["error"] or "",
            )
            for r in rows
        ]

    async def status(self, message_id: int) -> str | None:
        row = await fetch_one(self._conn, "SELECT status FROM message WHERE id = ?", (message_id,))
        return row[0] if row else None
