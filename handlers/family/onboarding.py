"""Linking a family's chat account: a one-time invite, then the child's date of birth."""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, timedelta

from handlers.core.context import Context
from handlers.core.events import FamilyText
from handlers.core.router import Router
from handlers.core.texts import Msg, _, not_linked
from storage.audit import ActorType
from storage.invites import MAX_ATTEMPTS
from storage.record import Record

log = logging.getLogger(__name__)
router = Router()

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")


def parse_birth_date(text: str, language: str) -> date | None:
    """A date of birth as families type it: ISO, or numeric in their language's order.

    English reads 03/04/2019 as March 4, Spanish as 3 April. When only one reading is a real
    date (25/03/2019), that one is taken whatever the language.
    """
    text = text.strip()
    if match := _ISO.match(text):
        y, m, d = (int(g) for g in match.groups())
        return _date(y, m, d)
    if match := _NUMERIC.match(text):
        a, b, y = (int(g) for g in match.groups())
        month_first, day_first = _date(y, a, b), _date(y, b, a)
        preferred, other = (
            (day_first, month_first) if language == "es" else (month_first, day_first)
        )
        return preferred or other
    return None


def _date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


@router.command("start", linked_only=False)
async def start(event: FamilyText, ctx: Context) -> None:
    """``/start <token>`` from an invite link opens it; the child's birth date completes it."""
    _name, token = event.command() or ("", "")
    if ctx.guardian is not None:
        await ctx.reply(
            _(
                "Welcome back, {guardian}! Your account is already linked.",
                guardian=ctx.guardian.first_name,
            ),
            _("Send /next to see your upcoming appointments, or /help to see what I can do."),
        )
        return
    if not token:
        await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))
        return
    invite = await ctx.record.invites.by_token(token) if len(token) <= 64 else None
    if invite is None or not invite.usable(ctx.now):
        log.info("start with an unusable invite event=%s", event.event_id)
        await ctx.reply(
            _(
                "Hello! This link can't be used: it may have expired or been used already."
                " Please call {practice} at {phone} for a new invite.",
                practice=ctx.practice.name,
                phone=ctx.practice.phone,
            )
        )
        return
    if ctx.identity is not None and ctx.identity.guardian_id not in (None, invite.guardian_id):
        await ctx.reply(
            _(
                "This account is already linked to another family member. Please call {practice}"
                " at {phone} if something needs to change.",
                practice=ctx.practice.name,
                phone=ctx.practice.phone,
            )
        )
        return
    guardian = await ctx.record.people.guardian(invite.guardian_id)
    assert guardian is not None
    ctx.set_language(guardian.language)
    await ctx.record.invites.start_link(event.channel, event.address, invite.id, ctx.now)
    await ctx.reply(
        _(
            "Welcome to {practice}! To keep your family's information private, please reply with"
            " your child's date of birth.",
            practice=ctx.practice.name,
        ),
        _birth_date_example(),
    )


def _birth_date_example() -> Msg:
    return _("For example: 03/14/2019 (month/day/year).")


@router.text(linked_only=False)
async def birth_date_answer(event: FamilyText, ctx: Context) -> bool:
    """The answer to the birth-date question of a link in progress; five wrong answers burn it."""
    invite_id = await ctx.record.invites.pending_link(event.channel, event.address)
    if invite_id is None or ctx.guardian is not None:
        return False
    invite = await ctx.record.invites.get(invite_id)
    if invite is None or not invite.usable(ctx.now):
        await ctx.record.invites.end_link(event.channel, event.address)
        await ctx.reply(
            _(
                "This invite can no longer be used."
                " Please call {practice} at {phone} for a new one.",
                practice=ctx.practice.name,
                phone=ctx.practice.phone,
            )
        )
        return True
    guardian = await ctx.record.people.guardian(invite.guardian_id)
    assert guardian is not None
    ctx.set_language(guardian.language)
    answer = parse_birth_date(event.text or "", ctx.language)
    if answer is None:
        await ctx.reply(_("Sorry, I couldn't read that date."), _birth_date_example())
        return True
    children = await ctx.record.people.children(guardian.id)
    if any(child.date_of_birth == answer.isoformat() for child in children):
        await _complete_link(event, ctx, invite.id, guardian.id, guardian.first_name)
        return True
    burned = await ctx.record.invites.count_failure(invite.id, ctx.now)
    await ctx.record.audit.record(
        actor_type="system",
        actor_id="onboarding",
        action="invite.wrong_answer",
        entity_type="invite",
        entity_id=str(invite.id),
        now=ctx.now,
    )
    if burned:
        await ctx.record.invites.end_link(event.channel, event.address)
        await ctx.record.audit.record(
            actor_type="system",
            actor_id="onboarding",
            action="invite.burned",
            entity_type="invite",
            entity_id=str(invite.id),
            now=ctx.now,
        )
        log.warning("invite %d burned after %d wrong answers", invite.id, MAX_ATTEMPTS)
        await ctx.reply(
            _(
                "That date doesn't match our records, and this invite can no longer be used."
                " Please call {practice} at {phone} for a new one.",
                practice=ctx.practice.name,
                phone=ctx.practice.phone,
            )
        )
        return True
    left = MAX_ATTEMPTS - invite.failed_attempts - 1
    await ctx.reply(
        _(
            "That date doesn't match our records. Please try again (attempts left: {left}).",
            left=left,
        ),
        _birth_date_example(),
    )
    return True


async def _complete_link(
    event: FamilyText, ctx: Context, invite_id: int, guardian_id: str, first_name: str
) -> None:
    if ctx.identity is None:
        identity = await ctx.record.identities.link_guardian(
            event.channel, event.address, guardian_id, ctx.now
        )
    else:
        identity = ctx.identity
        await ctx.record.identities.verify(identity.id, ctx.now)
    await ctx.record.invites.mark_used(invite_id, ctx.now)
    await ctx.record.invites.end_link(event.channel, event.address)
    await ctx.record.audit.record(
        actor_type="guardian",
        actor_id=guardian_id,
        action="identity.linked",
        entity_type="channel_identity",
        entity_id=str(identity.id),
        now=ctx.now,
    )
    guardian = await ctx.record.people.guardian(guardian_id)
    ctx.guardian = guardian
    await ctx.reply(
        _(
            "Thank you, {guardian}! You're all set. I'll remind you of appointments here, and you"
            " can confirm, cancel or ask to reschedule with one tap.",
            guardian=first_name,
        ),
        _("Send /next to see your upcoming appointments, or /help to see what I can do."),
    )


async def create_invite(
    record: Record, guardian_id: str, now: datetime, valid_days: int, actor: tuple[ActorType, str]
) -> str | None:
    """A one-time invite token for a guardian, valid ``valid_days``, in the audit trail as
    made by ``actor`` (a coordinator in Slack, the operator at the command line). None if the
    record has no such guardian."""
    if await record.people.guardian(guardian_id) is None:
        return None
    token = await record.invites.create(guardian_id, now, timedelta(days=valid_days))
    await record.audit.record(
        actor_type=actor[0],
        actor_id=actor[1],
        action="invite.created",
        entity_type="guardian",
        entity_id=guardian_id,
        now=now,
    )
    return token
