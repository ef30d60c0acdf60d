"""Answers by number on channels without buttons that the bot could not place.

The pipeline turns "2" or "1C" into the button it stands for. A number that is none of the last
message's choices (or a lone "1" for several visits), or any other text right after a message
that offered choices ("ok", "yes I'll be there"), gets one short clarifying reply; if the next
answer cannot be placed either, a person takes over (the escalation handler, after this).
"""

from __future__ import annotations

from handlers.core.context import Context
from handlers.core.events import FamilyText
from handlers.core.numbers import NUMBER
from handlers.core.router import Router
from handlers.core.texts import Msg, _

router = Router()


def clarify() -> Msg:
    return _(
        "Sorry, I couldn't match that to a choice. Reply with one of the options in my last"
        " message (for several visits, the number and a letter, like 1C), or HELP."
    )


@router.text()
async def unplaced_number(event: FamilyText, ctx: Context) -> bool:
    if not event.numbered_replies:
        return False
    if not NUMBER.fullmatch(event.text or "") and not (
        await ctx.record.messages.last_offered_choices(event.channel, event.address)
    ):
        return False  # not an answer to a question of ours: a person reads it
    last = await ctx.record.messages.last_template_to(event.channel, event.address)
    message = clarify()
    if last == message.msgid:
        return False  # asked once already: a person takes over
    await ctx.reply(message)
    return True
