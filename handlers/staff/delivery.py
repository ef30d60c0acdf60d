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

from handlers.core.content import Content, icon, rich
from handlers.core.context import Outgoing
from handlers.core.desk import StaffDesk
from handlers.core.texts import Msg, Translator, _
from storage.record import Record

log = logging.getLogger(__name__)

_CHANNEL_NAMES: dict[str, Content] = {
    "telegram": "Telegram",
    "sms": _("text message"),
    "slack": "Slack",
}


def _reason(error: str) -> Msg:
    if error.startswith("recipient blocked"):
        return _("the family blocked carebot")
    if error.startswith("recipient opted out"):
        return _("the family opted out of these messages")
    # The platform's own words (an error code, in English) stay as they are.
    return (
        _("the platform refused it ({error})", error=error)
        if error
        else _("the platform refused it")
    )


async def tell_authors(
    record: Record,
    desk: StaffDesk,
    failed: list[int],
    now: datetime,
    translator: Translator,
) -> int:
    """Queue a direct message to the staff author of each of these failed messages, in the
    author's language.

    Returns:
        How many were queued.
    """
    practice = await record.practice.get()
    if practice is None:
        raise RuntimeError("the record has no practice; start-up saves it first")
    out = Outgoing(
        record,
        now,
        practice,
        translator,
        staff_render=desk.render,
        staff_channel_language=desk.language,
    )
    told = 0
    for message in await record.messages.authored(failed):
        staff = await record.people.staff(message.author_staff_id)
        address = desk.address_of(staff) if staff is not None else None
        if staff is None or address is None:
            continue
        guardian = await record.people.guardian(message.guardian_id or "")
        text = rich(
            icon("warning"),
            " ",
            _(
                "Your message to {guardian} by {channel} was not delivered: {reason}. carebot"
                " will not try again; please call them.",
                guardian=desk.guardian_name(guardian),
                channel=_CHANNEL_NAMES.get(message.channel, message.channel),
                reason=_reason(message.error),
            ),
        )
        await out.to_staff(address, text, staff=staff)
        log.info("message %d failed: its author was told", message.message_id)
        told += 1
    return told
