"""A family's answers to a reminder: confirm, cancel (with a reason), or ask to reschedule.

Every button carries an opaque token issued to one guardian for one appointment at one start
time. Pressing it again does no harm; a button for a visit since moved or cancelled says so.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from handlers.core.context import ButtonSpec, Context
from handlers.core.events import ButtonPressed
from handlers.core.router import Router
from handlers.core.texts import Msg, When, _
from handlers.family.escalations import raise_escalation
from handlers.staff.notify import tell_clinician
from handlers.staff.posts import when
from storage.models import ActionToken, Appointment, Button, CancellationReason

log = logging.getLogger(__name__)
router = Router()

REASONS: dict[str, tuple[CancellationReason, Msg]] = {
    "sick": ("sick", _("Sick")),
    "schedule-conflict": ("schedule-conflict", _("Schedule conflict")),
    "other": ("other", _("Other reason")),
}


def _visit(child: str, appointment: Appointment) -> dict[str, object]:
    return {
        "child": child,
        "date": When(appointment.start_at, "date"),
        "time": When(appointment.start_at, "time"),
    }


async def _current(ctx: Context, token: ActionToken) -> tuple[Appointment, str] | None:
    """The token's appointment if it can still be answered; otherwise say why and return None."""
    appointment = (
        await ctx.record.appointments.get(token.appointment_id) if token.appointment_id else None
    )
    if (
        appointment is None
        or ctx.guardian is None
        or not await ctx.record.people.is_guardian_of(ctx.guardian.id, appointment.patient_id)
    ):
        log.warning("refused answer for appointment token action=%s", token.action)
        ctx.notice = _("Sorry, this button can't be used.")
        return None
    patient = await ctx.record.people.patient(appointment.patient_id)
    child = patient.first_name if patient else ""
    if appointment.status == "cancelled":
        ctx.notice = _("Already cancelled")
        await ctx.reply(
            _(
                "{child}'s appointment on {date} at {time} is cancelled.",
                **_visit(child, appointment),
            )
        )
        return None
    if appointment.start_at != token.appointment_start_at:
        await ctx.reply(
            _(
                "This appointment has moved: {child}'s appointment is now on {date} at {time}."
                " You'll get a new reminder with buttons for the new time.",
                **_visit(child, appointment),
            )
        )
        return None
    if appointment.status != "booked" or appointment.start_at <= ctx.now:
        await ctx.reply(
            _(
                "{child}'s appointment on {date} at {time} can no longer be changed here. Please"
                " call {phone} if you need anything.",
                phone=ctx.practice.phone,
                **_visit(child, appointment),
            )
        )
        return None
    return appointment, child


async def _answered(
    event: ButtonPressed, ctx: Context, note: Msg, appointment: Appointment | None = None
) -> None:
    """The message whose button was pressed, changed where the channel can (Telegram): its
    words as they were, the answer under them, no button left live. (On SMS there is nothing
    to change: a stale number gets the polite answer, as a stale button does.) With the
    ``appointment`` answered, its other reminders are settled too (:func:`_settle_elsewhere`)."""
    if event.on_message is not None and ctx.guardian is not None:
        sent = await ctx.record.messages.sent_as(event.channel, event.on_message)
        if sent is not None and sent.guardian_id == ctx.guardian.id:
            kept: list[Button] = []
            if appointment is not None:  # a message for several children keeps the others'
                kept = await ctx.record.messages.live_answer_buttons(sent.id, appointment.id)
            if kept and appointment is not None:
                patient = await ctx.record.people.patient(appointment.patient_id)
                child = patient.first_name if patient else ""
                note = _("{child}: {answer}", child=child, answer=note)
            await ctx.out.change_family(sent, note, ctx.language, tuple(kept))
    if appointment is not None:
        await _settle_elsewhere(ctx, appointment)


#: What a reminder answered elsewhere (another guardian, another channel, another message)
#: says under its words once its buttons are gone, by the visit's new state.
ANSWERED_ELSEWHERE = {
    "accepted": _("Already answered: confirmed at {time}."),
    "declined": _("Already answered: cancelled at {time}."),
    "reschedule": _("Already answered: a new time was asked for at {time}."),
}


async def _settle_elsewhere(ctx: Context, appointment: Appointment) -> None:
    """Every other reminder of this visit whose buttons have nothing left to do (each of its
    visits answered), changed in place where its channel can: a co-guardian's Telegram
    reminder once the other parent confirmed by text, the reminder whose Cancel led to the
    reason asked. In this transaction, so the answer and the changes land together."""
    answered = await ctx.record.appointments.get(appointment.id)
    if answered is None:
        return
    state = (
        "reschedule"
        if answered.reschedule_requested_at is not None and answered.status == "booked"
        else answered.participant_status
    )
    words = ANSWERED_ELSEWHERE.get(state)
    if words is None:
        return
    note = replace(words, params={"time": When(ctx.now, "time")})
    for message_id in await ctx.record.reminders.answered_messages(
        appointment.id, appointment.start_at
    ):
        await ctx.out.settle_family(message_id, note)


@router.action("confirm")
async def confirm(event: ButtonPressed, ctx: Context, token: ActionToken) -> None:
    found = await _current(ctx, token)
    if found is None or ctx.guardian is None:
        return
    appointment, child = found
    ctx.notice = _("Confirmed")
    if appointment.participant_status == "accepted":
        await ctx.reply(
            _(
                "{child}'s appointment on {date} at {time} is already confirmed. Thank you!",
                **_visit(child, appointment),
            )
        )
        return
    await ctx.record.appointments.record_answer(
        appointment.id, participant_status="accepted", guardian_id=ctx.guardian.id, now=ctx.now
    )
    await ctx.audit("appointment.confirmed", "appointment", appointment.id)
    await tell_clinician(ctx, appointment, "confirmed")
    await _answered(
        event, ctx, _("✓ Confirmed by you at {time}.", time=When(ctx.now, "time")), appointment
    )
    await ctx.reply(
        _(
            "Thank you! {child}'s appointment on {date} at {time} is confirmed. See you then!",
            **_visit(child, appointment),
        )
    )


@router.action("cancel")
async def cancel(event: ButtonPressed, ctx: Context, token: ActionToken) -> None:
    """Cancel asks for a reason first; nothing changes until a reason is chosen."""
    found = await _current(ctx, token)
    if found is None:
        return
    appointment, child = found
    buttons = tuple(
        ButtonSpec(label=label, action="cancel_reason", appointment=appointment, value=key)
        for key, (_reason, label) in REASONS.items()
    ) + (ButtonSpec(label=_("Keep the appointment"), action="keep", appointment=appointment),)
    await ctx.reply(
        _(
            "We're sorry {child} can't make it on {date} at {time}. Why are you cancelling?",
            **_visit(child, appointment),
        ),
        buttons=buttons,
    )


@router.action("cancel_reason")
async def cancel_with_reason(event: ButtonPressed, ctx: Context, token: ActionToken) -> None:
    found = await _current(ctx, token)
    if found is None or ctx.guardian is None:
        return
    appointment, child = found
    if token.value not in REASONS:
        ctx.notice = _("Sorry, this button can't be used.")
        return
    reason = REASONS[token.value][0]
    await ctx.record.appointments.record_answer(
        appointment.id,
        participant_status="declined",
        guardian_id=ctx.guardian.id,
        now=ctx.now,
        cancellation_reason=reason,
    )
    withdrawn = await ctx.record.reminders.withdraw_pending(appointment.id, ctx.now)
    await ctx.audit(
        "appointment.cancelled",
        "appointment",
        appointment.id,
        f"reason={reason} reminders_withdrawn={withdrawn}",
    )
    await tell_clinician(ctx, appointment, "cancelled", reason)
    await _answered(
        event, ctx, _("Cancelled by you at {time}.", time=When(ctx.now, "time")), appointment
    )
    ctx.notice = _("Cancelled")
    parts = [
        _(
            "{child}'s appointment on {date} at {time} is cancelled."
            " Thank you for letting us know.",
            **_visit(child, appointment),
        )
    ]
    window = timedelta(hours=ctx.practice.late_cancel_hours)
    if window and appointment.start_at - ctx.now < window:
        parts.append(
            _(
                "Because this is less than {hours} hours before the visit, {practice}'s"
                " late-cancellation policy may apply. Questions? Call {phone}.",
                hours=ctx.practice.late_cancel_hours,
                practice=ctx.practice.name,
                phone=ctx.practice.phone,
            )
        )
    await ctx.reply(*parts)


@router.action("keep")
async def keep(event: ButtonPressed, ctx: Context, token: ActionToken) -> None:
    found = await _current(ctx, token)
    if found is None:
        return
    appointment, child = found
    await _answered(event, ctx, _("Kept by you at {time}.", time=When(ctx.now, "time")))
    await ctx.reply(
        _(
            "Okay, {child}'s appointment on {date} at {time} stays as it is.",
            **_visit(child, appointment),
        )
    )


@router.action("reschedule")
async def reschedule(event: ButtonPressed, ctx: Context, token: ActionToken) -> None:
    found = await _current(ctx, token)
    if found is None or ctx.guardian is None:
        return
    appointment, child = found
    ctx.notice = _("Request received")
    if appointment.reschedule_requested_at is None:
        await ctx.record.appointments.request_reschedule(appointment.id, ctx.guardian.id, ctx.now)
        await ctx.audit("appointment.reschedule_requested", "appointment", appointment.id)
        await tell_clinician(ctx, appointment, "reschedule")
        await raise_escalation(
            ctx,
            "reschedule",
            "",
            tell_family=False,
            patient_id=appointment.patient_id,
            note=_(
                "pressed Reschedule for {child}'s visit on {when}",
                child=child,
                when=when(appointment.start_at),
            ),
        )
        await _answered(
            event,
            ctx,
            _("Reschedule requested by you at {time}.", time=When(ctx.now, "time")),
            appointment,
        )
    await ctx.reply(
        _(
            "Thanks! We've noted that you'd like to reschedule {child}'s appointment on {date} at"
            " {time}. Someone from {practice} will contact you soon. Until then the appointment"
            " stays booked.",
            practice=ctx.practice.name,
            **_visit(child, appointment),
        )
    )
