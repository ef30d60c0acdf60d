"""Answers by number on channels without buttons that the bot could not place.

The pipeline turns "2" or "1C" into the button it stands for. A number that is none of the last
message's choices (or a lone "1" for several visits), or any other text right after a message
that offered choices ("ok", "yes I'll be there"), gets one short clarifying reply; if the next
answer cannot be placed either, a person takes over (the escalation handler, after this).
"""

from __future__ import annotations

import re
import unicodedata

from handlers.context import Context
from handlers.events import FamilyText
from handlers.router import Router
from handlers.texts import Msg, _

router = Router()

#: Words that stand for commands where typing "/next" is not natural (text messages).
WORD_COMMANDS = {
    "next": "/next", "appointments": "/next", "proximas": "/next", "citas": "/next",
    "language": "/language", "idioma": "/language", "english": "/language en",
    "espanol": "/language es",
}  # fmt: skip


def word_command(text: str | None) -> str | None:
    """The command a bare word on a text channel stands for ("NEXT" -> "/next"), if any."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    word = " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())
    return WORD_COMMANDS.get(word.strip(".!?"))


#: A numbered reply: "2", " 2 ", "2."; for one of several visits "1C", "2 x", "1R".
NUMBER = re.compile(r"\s*(\d{1,2})\s*([cxrCXR])?\s*\.?\s*")


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
