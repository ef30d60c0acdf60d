"""Answers by number on channels without buttons that the bot could not place.

The pipeline turns "2" or "1C" into the button it stands for; a number that is none of the last
message's choices (or a lone "1" for several visits) gets one short clarifying reply, and if the
next answer cannot be placed either, a person takes over (the escalation handler, after this).
"""

from __future__ import annotations

import re

from handlers.context import Context
from handlers.events import Inbound
from handlers.router import Router
from handlers.texts import Msg, _

router = Router()

#: A numbered reply: "2", " 2 ", "2."; for one of several visits "1C", "2 x", "1R".
NUMBER = re.compile(r"\s*(\d{1,2})\s*([cxrCXR])?\s*\.?\s*")


def clarify() -> Msg:
    return _(
        "Sorry, I couldn't match that to a choice. Reply with one of the options in my last"
        " message (for several visits, the number and a letter, like 1C), or HELP."
    )


@router.text()
async def unplaced_number(event: Inbound, ctx: Context) -> bool:
    if not event.numbered_replies or not NUMBER.fullmatch(event.text or ""):
        return False
    last = await ctx.record.messages.last_template_to(event.channel, event.address)
    message = clarify()
    if last == message.msgid:
        return False  # asked once already: a person takes over
    await ctx.reply(message)
    return True
