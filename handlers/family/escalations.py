"""What the bot cannot handle goes to a person: escalations, and the emergency safety net.

A family's free text the bot cannot place, "talk to a person", a reschedule request, or a message
that signals an emergency opens an escalation: a post in the coordinators' channel with the
context a coordinator needs and buttons Claim / Reassign / Resolve. While it is open, the
family's further messages land in its thread and staff replies in the thread reach the family.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from datetime import timedelta

from handlers.core.content import Content, lines
from handlers.core.context import Context
from handlers.core.desk import (
    URGENT_RESPONSE_MINUTES,
    business_deadline,
    in_business_hours,
    next_opening,
)
from handlers.core.events import ButtonPressed, FamilyText
from handlers.core.router import Router
from handlers.core.texts import When, _
from handlers.staff.posts import escalation_post, family_line, urgent_head
from storage.models import Escalation, EscalationReason

log = logging.getLogger(__name__)

#: Runs before every other text handler: safety first, for anyone who writes.
urgent_router = Router()
router = Router()

# Accent-free, lower-case phrases; matched on word boundaries.
EMERGENCY_PHRASES = (
    # English
    "emergency", "911", "suicide", "suicidal", "kill myself", "kill himself", "kill herself",
    "killing myself", "want to die", "wants to die", "hurt myself", "hurt himself",
    "hurt herself", "hurting himself", "hurting herself", "self harm", "self-harm", "overdose",
    "not breathing", "can't breathe", "cant breathe", "seizure", "unconscious", "bleeding",
    "abuse", "abused", "hitting me", "unsafe", "in danger",
    # Spanish
    "emergencia", "urgencia", "suicidio", "suicidarme", "suicidarse", "matarme", "matarse",
    "quiero morir", "quiere morir", "hacerme dano", "hacerse dano", "lastimarme", "lastimarse",
    "sobredosis", "no respira", "no puede respirar", "convulsion", "convulsiones",
    "inconsciente", "sangrando", "abuso", "abusando", "peligro", "me pega",
)  # fmt: skip
PERSON_PHRASES = (
    "person", "human", "someone", "somebody", "representative", "agent", "operator",
    "talk to", "speak to", "speak with", "call me",
    "persona", "humano", "alguien", "hablar con", "representante", "agente", "llamenme",
    "llameme",
)  # fmt: skip


def _normalize(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![\w'])")


_EMERGENCY = _pattern(EMERGENCY_PHRASES)
_PERSON = _pattern(PERSON_PHRASES)


def signals_emergency(text: str) -> bool:
    return bool(_EMERGENCY.search(_normalize(text)))


def asks_for_person(text: str) -> bool:
    return bool(_PERSON.search(_normalize(text)))


@urgent_router.text(linked_only=False)
async def emergency(event: FamilyText, ctx: Context) -> bool:
    """Emergency numbers at once, and an urgent escalation mentioning the on-call coordinator."""
    if not event.text or not signals_emergency(event.text):
        return False
    log.warning("emergency signalled event=%s", event.event_id)
    ctx.may_answer_opted_out = True  # someone in danger wrote to us: answer them regardless
    await ctx.reply(
        _(
            "If this is an emergency, call 911 now. If you or someone else may be in crisis or"
            " thinking about suicide, call or text 988 (Suicide & Crisis Lifeline)."
        ),
        _(
            "I've alerted the team at {practice} right away. You can also call {phone}.",
            practice=ctx.practice.name,
            phone=ctx.practice.phone,
        ),
    )
    await raise_escalation(ctx, "emergency", event.text, tell_family=False)
    return True


@router.text()
async def to_a_person(event: FamilyText, ctx: Context) -> bool:
    """Anything else a linked family writes reaches a person (or the open thread)."""
    text = event.text or ""
    reason: EscalationReason = "person" if asks_for_person(text) else "not-understood"
    await raise_escalation(ctx, reason, text)
    return True


async def raise_escalation(
    ctx: Context,
    reason: EscalationReason,
    text: str,
    *,
    tell_family: bool = True,
    patient_id: str | None = None,
    note: Content | None = None,
) -> Escalation | None:
    """Open an escalation for the sender, or add to their open one (its thread).

    ``text`` is what the family wrote (quoted, escaped); ``note`` says what they did instead
    (e.g. pressed Reschedule), in staff words.
    """
    desk, event = ctx.desk, ctx.event
    urgent = reason == "emergency"
    open_one = await ctx.record.escalations.open_for(event.channel, event.address)
    if open_one is not None:
        await _add_to_thread(ctx, open_one, text, urgent, note)
        return open_one
    if not urgent and not in_business_hours(ctx.practice, ctx.now):
        reason = "after-hours" if reason in ("not-understood", "person") else reason
    deadline = (
        ctx.now + timedelta(minutes=URGENT_RESPONSE_MINUTES)
        if urgent
        else business_deadline(ctx.practice, ctx.now, desk.response_minutes)
    )
    if patient_id is None and ctx.guardian is not None:
        patient_id = await _likely_patient(ctx)
    escalation_id = await ctx.record.escalations.open(
        guardian_id=ctx.guardian.id if ctx.guardian else None,
        patient_id=patient_id,
        channel=event.channel,
        address=event.address,
        language=ctx.language,
        reason=reason,
        urgent=urgent,
        next_check_at=deadline,
        now=ctx.now,
    )
    await ctx.audit("escalation.opened", "escalation", str(escalation_id), reason)
    escalation = await ctx.record.escalations.get(escalation_id)
    assert escalation is not None
    if desk.escalation_address is not None:
        text_post, buttons = await escalation_post(ctx, escalation, text, note)
        root = await ctx.out.to_staff(desk.escalation_address, text_post, buttons)
        await ctx.record.escalations.set_thread(escalation_id, root)
        escalation = escalation.model_copy(update={"thread_message_id": root})
    log.info("escalation opened id=%d reason=%s", escalation_id, reason)
    if tell_family:
        await _tell_family_escalated(ctx)
    return escalation


async def _add_to_thread(
    ctx: Context, escalation: Escalation, text: str, urgent: bool, note: Content | None
) -> None:
    deadline = business_deadline(ctx.practice, ctx.now, ctx.desk.response_minutes)
    await ctx.record.escalations.family_wrote(escalation.id, ctx.now, deadline)
    if urgent and not escalation.urgent:
        await ctx.record.escalations.make_urgent(escalation.id, ctx.now)
    address = ctx.desk.escalation_address
    if address is None or escalation.thread_message_id is None:
        if not isinstance(ctx.event, ButtonPressed) and not urgent:
            await _tell_family_escalated(ctx)
        return
    line = await family_line(ctx, text, note)
    if urgent:
        line = lines(await urgent_head(ctx.record, ctx.desk), line)
    await ctx.out.to_staff(address, line, thread_message_id=escalation.thread_message_id)


async def _tell_family_escalated(ctx: Context) -> None:
    practice = ctx.practice
    if ctx.desk.escalation_address is None:
        await ctx.reply(
            _(
                "Thanks for your message. To talk to a person, please call {practice} at {phone}.",
                practice=practice.name,
                phone=practice.phone,
            )
        )
    elif in_business_hours(practice, ctx.now):
        await ctx.reply(
            _(
                "Thanks, I've passed your message to the team at {practice}. A person will"
                " answer you here soon.",
                practice=practice.name,
            )
        )
    else:
        await ctx.reply(
            _(
                "Thanks, I've passed your message to the team at {practice}. The office is"
                " closed now; a person will answer you here after it opens on {date} at {time}."
                " If it can't wait, call {phone}.",
                practice=practice.name,
                date=When(next_opening(practice, ctx.now), "date"),
                time=When(next_opening(practice, ctx.now), "time"),
                phone=practice.phone,
            )
        )


async def _likely_patient(ctx: Context) -> str | None:
    """The child the message is probably about: the only one, else the next appointment's."""
    assert ctx.guardian is not None
    children = await ctx.record.people.children(ctx.guardian.id)
    if len(children) == 1:
        return children[0].id
    upcoming = await ctx.record.appointments.upcoming_for_guardian(ctx.guardian.id, ctx.now, 1)
    return upcoming[0].patient_id if upcoming else None
