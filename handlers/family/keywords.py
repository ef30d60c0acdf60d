"""Carrier keywords on channels whose carriers act on them (SMS): STOP, START, HELP.

Matched on the whole message, in English and Spanish, before anything else reads it. An opt-out
is recorded at once, anything still queued to the number is withdrawn, and one confirmation goes
out with nothing after it. START (UNSTOP, YES) opts back in; HELP (INFO, AYUDA) answers with the
practice's name and phone.
"""

from __future__ import annotations

import logging
import unicodedata

from handlers.core.context import Context
from handlers.core.events import FamilyText
from handlers.core.router import Router
from handlers.core.texts import _
from handlers.family.escalations import raise_escalation

log = logging.getLogger(__name__)
router = Router()

OPT_OUT = {
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout", "opt out",
    "opt-out", "alto", "parar", "para", "no mas", "no mas mensajes", "baja", "cancelar",
}  # fmt: skip
OPT_IN = {"start", "unstop", "yes", "si", "comenzar", "iniciar"}
HELP = {"help", "info", "ayuda"}
WRONG_NUMBER = {"wrong number", "wrong #", "numero equivocado", "numero incorrecto"}
SPANISH = {"alto", "parar", "para", "no mas", "no mas mensajes", "baja", "cancelar", "si",
           "comenzar", "iniciar", "ayuda", "numero equivocado", "numero incorrecto"}  # fmt: skip


def keyword(text: str | None) -> str:
    """The message reduced for keyword matching: lower case, no accents or punctuation."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace(".", " ").replace("!", " ").split())


@router.text(linked_only=False)
async def carrier_keywords(event: FamilyText, ctx: Context) -> bool:
    if not event.carrier_keywords:
        return False
    # The provider's word wins (a practice may add its own opt-out words at Twilio).
    word = event.carrier_answered or keyword(event.text)
    if word not in OPT_OUT | OPT_IN | HELP | WRONG_NUMBER:
        return False
    if word in SPANISH:
        ctx.set_language("es")
    # The carriers' rules ask for exactly these answers, once: none if the provider answered.
    ctx.may_answer_opted_out = event.carrier_answered is None
    ctx.silent = event.carrier_answered is not None
    practice = ctx.practice
    if word in HELP:
        await ctx.reply(
            _(
                "{practice}: appointment reminders and messages. For help call {phone}. Reply"
                " STOP to unsubscribe.",
                practice=practice.name,
                phone=practice.phone,
            )
        )
        return True
    identity = ctx.identity
    if word in WRONG_NUMBER:
        await _wrong_number(event, ctx)
        return True
    if word in OPT_OUT:
        withdrawn = await ctx.record.messages.fail_queued_to(
            event.channel, event.address, "recipient opted out"
        )
        if identity is not None:
            await ctx.record.identities.opt_out(identity.id, ctx.now)
            await _audit(ctx, "identity.opted_out", identity.id)
        log.info("opt-out event=%s withdrawn=%d", event.event_id, len(withdrawn))
        await ctx.reply(
            _(
                "You're unsubscribed from {practice} messages and will get nothing more. Reply"
                " START to subscribe again.",
                practice=practice.name,
            )
        )
        return True
    if identity is not None:
        await ctx.record.identities.opt_in(identity.id, ctx.now)
        await _audit(ctx, "identity.opted_in", identity.id)
    await ctx.reply(
        _(
            "You're subscribed to {practice} messages again. Reply STOP to unsubscribe, HELP"
            " for help.",
            practice=practice.name,
        )
    )
    return True


async def _wrong_number(event: FamilyText, ctx: Context) -> None:
    """Someone who is not the family has this number: stop writing to it, and tell a person
    (the record's phone number needs fixing)."""
    await ctx.record.messages.fail_queued_to(event.channel, event.address, "wrong number")
    if ctx.identity is not None:
        await ctx.record.identities.opt_out(ctx.identity.id, ctx.now)
        await _audit(ctx, "identity.wrong_number", ctx.identity.id)
    await ctx.reply(
        _(
            "Sorry for the trouble. We won't text this number again. ({practice})",
            practice=ctx.practice.name,
        )
    )
    await raise_escalation(
        ctx,
        "not-understood",
        event.text,
        tell_family=False,
        note=_("says this is the wrong number: texts to it are stopped; fix the phone number"),
    )


async def _audit(ctx: Context, action: str, identity_id: int) -> None:
    await ctx.audit(action, "channel_identity", str(identity_id))
