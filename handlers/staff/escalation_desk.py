"""Coordinators at work on escalations: claim, reassign, resolve, answer in the thread.

Also the watch that raises an escalation nobody claimed, or one claimed and left unanswered.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from handlers.core.content import Content, Rich, icon, rich
from handlers.core.context import Context, Outgoing
from handlers.core.desk import URGENT_RESPONSE_MINUTES, StaffDesk, business_deadline, mention
from handlers.core.events import FormSubmitted, StaffAction, ThreadReply
from handlers.core.router import Router
from handlers.core.screens import Field, Form, StaffButton
from handlers.core.texts import Plural, _, ngettext
from handlers.staff.posts import (
    REASON_NAMES,
    coordinators_mention,
    escalation_buttons,
    on_call_mention,
    staff_first_name,
    when,
)
from storage.models import Escalation, Practice, Staff
from storage.record import Record

log = logging.getLogger(__name__)
router = Router()


#: What anyone who may not act on an escalation hears, whatever its state (nothing about it).
NOT_YOURS = _("Sorry, only coordinators and the patient's care team can act on this escalation.")


async def may_act(record: Record, staff: Staff, escalation: Escalation) -> bool:
    """Coordinators and admins act on any escalation; a clinician only on one about a patient
    on their care team (a family the bot could not place is for coordinators only)."""
    if staff.role in ("coordinator", "admin"):
        return True
    if escalation.patient_id is None:
        return False
    return await record.staff.on_care_team(staff.id, escalation.patient_id)


async def _escalation(ctx: Context, value: str) -> Escalation | None:
    """The escalation a staff button or form names, if this staff member may act on it (the
    refusal is the same whether it exists, is resolved, or is someone else's)."""
    assert ctx.staff is not None
    escalation = await ctx.record.escalations.get(int(value)) if value.isdigit() else None
    if escalation is None or not await may_act(ctx.record, ctx.staff, escalation):
        if escalation is not None:
            log.warning("refused escalation id=%d to staff id=%s", escalation.id, ctx.staff.id)
        ctx.show(
            NOT_YOURS
            if ctx.staff.role == "clinician"
            else _("Sorry, that escalation isn't in the record.")
        )
        return None
    if escalation.status == "resolved":
        ctx.show(_("Escalation #{number} is already resolved.", number=escalation.id))
        return None
    return escalation


async def _may_take(record: Record, escalation: Escalation) -> list[Staff]:
    """Who an escalation may be reassigned to: coordinators, admins, the patient's care team."""
    people = [s for s in await record.staff.everyone() if s.slack_user_id]
    return [s for s in people if await may_act(record, s, escalation)]


async def _thread_note(ctx: Context, escalation: Escalation, text: Content) -> None:
    address = ctx.desk.escalation_address
    if address is not None and escalation.thread_message_id is not None:
        await ctx.out.to_staff(address, text, thread_message_id=escalation.thread_message_id)


async def _post_shows(
    ctx: Context, escalation: Escalation, state: Content, buttons: tuple[StaffButton, ...] = ()
) -> None:
    """The escalation's post in the coordinators' channel, changed to show who holds it and
    since when (``state``), with the buttons that still apply (none once it is resolved)."""
    if escalation.thread_message_id is not None:
        await ctx.out.change_staff(escalation.thread_message_id, state, buttons)


async def _post_held(ctx: Context, escalation: Escalation, staff: Staff) -> None:
    """The post shows who holds it and since when; Claim is gone, Reassign and Resolve stay."""
    held = rich(
        icon("claimed"),
        " ",
        _("Claimed by {who} at {time}", who=mention(staff), time=when(ctx.now, "time")),
    )
    await _post_shows(ctx, escalation, held, escalation_buttons(escalation.id)[1:])


async def _tell_family(
    ctx: Context, escalation: Escalation, *parts: object, author: Staff | None = None
) -> bool:
    """Write to the escalation's family on their own channel, in their language (``author``:
    the staff member whose words these are, told if they do not arrive)."""
    identity = await ctx.record.identities.find(
        escalation.family_channel, escalation.family_address
    )
    if identity is None or identity.blocked_at or identity.opted_out_at:
        return False
    await ctx.out.to_address(
        channel=escalation.family_channel,
        address=escalation.family_address,
        parts=list(parts),  # type: ignore[arg-type]
        language=escalation.family_language,
        guardian_id=escalation.guardian_id,
        author_staff_id=author.id if author else None,
    )
    return True


async def _claim(ctx: Context, escalation: Escalation, staff: Staff) -> None:
    deadline = business_deadline(ctx.practice, ctx.now, ctx.desk.response_minutes)
    await ctx.record.escalations.claim(escalation.id, staff.id, ctx.now, deadline)
    await ctx.record.audit.record(
        actor_type="staff",
        actor_id=staff.id,
        action="escalation.claimed",
        entity_type="escalation",
        entity_id=str(escalation.id),
        now=ctx.now,
    )
    await _tell_family(
        ctx,
        escalation,
        _(
            "{name} from {practice} has your message and will answer you here.",
            name=staff_first_name(staff),
            practice=ctx.practice.name,
        ),
    )


@router.staff_action("escalation.claim")
async def claim(event: StaffAction, ctx: Context) -> None:
    assert ctx.staff is not None
    escalation = await _escalation(ctx, event.value)
    if escalation is None:
        return
    if escalation.status == "claimed":
        if escalation.claimed_by == ctx.staff.id:
            ctx.show(_("You already have escalation #{number}.", number=escalation.id))
        else:
            holder = await ctx.record.people.staff(escalation.claimed_by or "")
            ctx.show(
                _(
                    "Escalation #{number} is already claimed by {who}.",
                    number=escalation.id,
                    who=_holder(holder),
                )
            )
        return
    await _claim(ctx, escalation, ctx.staff)
    await _thread_note(
        ctx, escalation, rich(icon("claimed"), " ", _("Claimed by {who}.", who=mention(ctx.staff)))
    )
    await _post_held(ctx, escalation, ctx.staff)


@router.staff_action("escalation.resolve")
async def resolve(event: StaffAction, ctx: Context) -> None:
    assert ctx.staff is not None
    escalation = await _escalation(ctx, event.value)
    if escalation is None:
        return
    await ctx.record.escalations.resolve(escalation.id, ctx.staff.id, ctx.now)
    await ctx.audit("escalation.resolved", "escalation", str(escalation.id))
    await _thread_note(
        ctx,
        escalation,
        rich(
            icon("confirmed"),
            " ",
            _(
                "Resolved by {who}. The family's next message starts a new escalation.",
                who=mention(ctx.staff),
            ),
        ),
    )
    resolved = rich(
        icon("confirmed"),
        " ",
        _("Resolved by {who} at {time}", who=mention(ctx.staff), time=when(ctx.now, "time")),
    )
    await _post_shows(ctx, escalation, resolved)  # no button left: nothing more to do here


@router.staff_action("escalation.reassign")
async def reassign(event: StaffAction, ctx: Context) -> None:
    escalation = await _escalation(ctx, event.value)
    if escalation is None:
        return
    people = await _may_take(ctx.record, escalation)
    ctx.form = Form(
        id="reassign",
        title=_("Reassign escalation #{number}", number=escalation.id),
        submit=_("Reassign"),
        fields=(
            Field(
                "staff", _("Who should take it?"), "select", tuple((s.id, s.name) for s in people)
            ),
        ),
        context=str(escalation.id),
    )


@router.form("reassign")
async def reassigned(event: FormSubmitted, ctx: Context) -> None:
    assert ctx.staff is not None
    escalation = await _escalation(ctx, event.value)
    target = await ctx.record.people.staff(event.fields.get("staff", ""))
    if escalation is None:
        ctx.form_errors["staff"] = _("That escalation is resolved or gone, or not yours to move.")
        return
    if not event.fields.get("staff"):
        ctx.form_errors["staff"] = _("Choose who should take it.")
        return
    if target is None or not target.slack_user_id:
        ctx.form_errors["staff"] = _("Choose a staff member with a Slack account.")
        return
    if not await may_act(ctx.record, target, escalation):
        ctx.form_errors["staff"] = _("Choose a coordinator or someone on the patient's care team.")
        return
    await _claim(ctx, escalation, target)
    await _thread_note(
        ctx,
        escalation,
        rich(
            icon("reassigned"),
            " ",
            _("Reassigned to {target} by {who}.", target=mention(target), who=mention(ctx.staff)),
        ),
    )
    await _post_held(ctx, escalation, target)
    address = ctx.desk.address_of(target)
    if address and target.id != ctx.staff.id:
        await ctx.out.to_staff(
            address,
            _(
                "{who} assigned you escalation #{number}. Answer the family in its thread in the"
                " coordinators' channel.",
                who=mention(ctx.staff),
                number=escalation.id,
            ),
            staff=target,
        )


@router.thread()
async def staff_reply(event: ThreadReply, ctx: Context) -> None:
    """A staff reply in an escalation's thread reaches the family; other threads are ignored."""
    assert ctx.staff is not None and event.thread is not None
    if not event.conversation or not (event.text or event.attachment):
        return
    escalation = await ctx.record.escalations.by_thread(
        ctx.desk.channel, f"{ctx.desk.channel}:{event.conversation}", event.thread
    )
    if escalation is None:
        return
    if not await may_act(ctx.record, ctx.staff, escalation):
        log.warning(
            "refused thread reply escalation id=%d staff id=%s", escalation.id, ctx.staff.id
        )
        ctx.show(rich(NOT_YOURS, " ", _("The family did not get your message.")))
        return
    if escalation.status == "resolved":
        ctx.show(
            _(
                "Escalation #{number} is resolved, so the family did not get this message.",
                number=escalation.id,
            )
        )
        return
    if event.attachment is not None:
        # A file may hold anything; the family's channels carry words only.
        words_only = _("carebot passes on words only: the family did not get the file.")
        ctx.show(
            words_only
            if event.text
            else rich(words_only, " ", _("Write what it says in the thread, or call them."))
        )
        if not event.text:
            return
    if escalation.status == "open":
        await ctx.record.escalations.claim(escalation.id, ctx.staff.id, ctx.now, None)
        await _post_held(ctx, escalation, ctx.staff)
    await ctx.record.escalations.staff_replied(escalation.id, ctx.now)
    delivered = await _tell_family(
        ctx,
        escalation,
        _(
            "{name} ({practice}): {text}",
            name=staff_first_name(ctx.staff),
            practice=ctx.practice.name,
            text=event.text,
        ),
        author=ctx.staff,
    )
    await ctx.audit("escalation.answered", "escalation", str(escalation.id))
    if not delivered:
        ctx.show(
            _(
                "The family can't be reached on their channel any more (blocked or opted out);"
                " call them instead. Escalation #{number} stays open.",
                number=escalation.id,
            )
        )


async def check_escalations(
    record: Record, practice: Practice, desk: StaffDesk, out: Outgoing
) -> int:
    """Raise escalations nobody claimed in time, and claimed ones left unanswered."""
    address = desk.escalation_address
    raised = 0
    for escalation in await record.escalations.due_for_check(out.now):
        deadline = (
            out.now + timedelta(minutes=URGENT_RESPONSE_MINUTES)
            if escalation.urgent
            else business_deadline(practice, out.now, desk.response_minutes)
        )
        if address is None:
            await record.escalations.raised(escalation.id, out.now, None)
            continue
        if escalation.status == "open":
            who = await (
                on_call_mention(record, desk) if escalation.urgent else coordinators_mention(record)
            )
            text: Rich = rich(
                icon("overdue"),
                " ",
                _(
                    "Escalation #{number} ({reason}) has waited {waited} and nobody has"
                    " claimed it.",
                    number=escalation.id,
                    reason=_reason(escalation),
                    waited=_waited(escalation, out.now),
                ),
                " ",
                who,
            )
        else:
            holder = await record.people.staff(escalation.claimed_by or "")
            text = rich(
                icon("overdue"),
                " ",
                _(
                    "Escalation #{number} was claimed by {who} but the family has had no answer"
                    " for {waited}.",
                    number=escalation.id,
                    who=_holder(holder),
                    waited=_waited(escalation, out.now),
                ),
                " ",
                await coordinators_mention(record),
            )
        await out.to_staff(address, text)
        if escalation.thread_message_id is not None:
            await out.to_staff(
                address,
                _("Raised again in the channel."),
                thread_message_id=escalation.thread_message_id,
            )
        await record.escalations.raised(escalation.id, out.now, deadline)
        log.info("escalation raised id=%d status=%s", escalation.id, escalation.status)
        raised += 1
    return raised


def _holder(holder: Staff | None) -> Content:
    """Who holds an escalation: their mention, or "someone" (no longer on the staff list)."""
    return mention(holder) if holder else _("someone")


def _reason(escalation: Escalation) -> Content:
    reason = REASON_NAMES.get(escalation.reason)
    return reason if reason is not None else escalation.reason.replace("-", " ")


def _waited(escalation: Escalation, now: datetime) -> Plural:
    minutes = int((now - escalation.last_family_at).total_seconds() // 60)
    if minutes < 120:
        return ngettext("{n} minute", "{n} minutes", minutes)
    return ngettext("{n} hour", "{n} hours", minutes // 60)
