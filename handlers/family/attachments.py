"""A message without words (a photo, a sticker, a voice note, a picture-only MMS, a blank text).

carebot reads only text, and never keeps or forwards what a family attached (it could be
clinical, and the chat channels may not carry it). The family hears that it was not seen and
how to reach a person. A photo with a caption is handled as its caption. A text with no words
and nothing attached (a carrier stripped the media, a phone sent it blank) is answered the same
way: there is nothing in it for a person to read, so it is never escalated.
"""

from __future__ import annotations

from handlers.core.context import Context
from handlers.core.events import FamilyText
from handlers.core.router import Router
from handlers.core.texts import _

router = Router()


@router.text(linked_only=False)
async def attachment_only(event: FamilyText, ctx: Context) -> bool:
    if (event.text or "").strip():
        return False
    await ctx.reply(
        _(
            "Sorry, I can only read text, so I couldn't see what you sent. Please write it in"
            " words, or call {practice} at {phone}.",
            practice=ctx.practice.name,
            phone=ctx.practice.phone,
        )
    )
    return True
