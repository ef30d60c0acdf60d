"""Telling staff when what they wrote to a family did not arrive.

A staff member's words to a family (a reply in an escalation's thread, an update for the
family) are sent by the outbox like every other message. When one fails for good (the family
blocked the bot, opted out of texts, the platform refused it), the outbox calls
:func:`tell_authors` in the same transaction, and the author gets a direct message: nothing
fails without the person who wrote it hearing of it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from handlers.core.content import icon, rich
from handlers.core.desk import StaffDesk
from storage.record import Record

log = logging.getLogger(__name__)

_CHANNEL_NAMES = {"telegram": "Telegram", "sms": "text message", "slack": "Slack"}


def _reason(error: str) -> str:
    if error.startswith("recipient blocked"):
        return "the family blocked carebot"
    if error.startswith("recipient opted out"):
        return "the family opted out of these messages"
    return f"the platform refused it ({error})" if error else "the platform refused it"


async def tell_authors(record: Record, desk: StaffDesk, failed: list[int], now: datetime) -> int:
    """Queue a direct message to the staff author of each of these failed messages.

    Returns:
        How many were queued.
    """
    told = 0
    for message in await record.messages.authored(failed):
        staff = await record.people.staff(message.author_staff_id)
        address = desk.address_of(staff) if staff is not None else None
        if address is None:
            continue
        guardian = await record.people.guardian(message.guardian_id or "")
        channel = _CHANNEL_NAMES.get(message.channel, message.channel)
        await record.messages.queue(
            channel=address.split(":", 1)[0],
            address=address,
            body=desk.render(
                rich(
                    icon("warning"),
                    f" Your message to {desk.guardian_name(guardian)} by {channel} was not"
                    f" delivered: {_reason(message.error)}. carebot will not try again; please"
                    " call them.",
                )
            ),
            template="staff",
            guardian_id=None,
            staff_id=staff.id if staff else None,
            buttons=(),
            now=now,
            reveals=frozenset(),
        )
        log.info("message %d failed: its author was told", message.message_id)
        told += 1
    return told
