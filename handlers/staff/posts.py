"""What staff messages say: escalation posts, relayed family lines, appointment lines."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from handlers.core.content import (
    Content,
    IconName,
    Mention,
    Rich,
    em,
    everyone,
    icon,
    joined,
    lines,
    quote,
    rich,
    strong,
)
from handlers.core.context import Context
from handlers.core.desk import StaffDesk, mention
from handlers.core.screens import StaffButton
from handlers.core.texts import Msg, When, _
from storage.clock import from_db
from storage.models import Appointment, Escalation, Patient, Staff
from storage.record import Record

REASONS = {
    "not-understood": _("a message the bot could not answer"),
    "person": _("asked to talk to a person"),
    "reschedule": _("reschedule request"),
    "after-hours": _("message after hours"),
    "emergency": _("possible emergency"),
}


#: Why an escalation was raised, in a word or two (lists: the Home tab, a patient's page).
REASON_NAMES = {
    "not-understood": _("not understood"),
    "person": _("person"),
    "reschedule": _("reschedule"),
    "after-hours": _("after hours"),
    "emergency": _("emergency"),
}
#: An escalation's state, as staff read it.
ESCALATION_STATES: dict[str, Msg] = {
    "open": _("open"),
    "claimed": _("claimed"),
    "resolved": _("resolved"),
}
#: A staff member's role, as staff read it (where they have no discipline).
ROLES: dict[str, Msg] = {
    "clinician": _("clinician"),
    "coordinator": _("coordinator"),
    "admin": _("admin"),
}


def escalation_buttons(escalation_id: int) -> tuple[StaffButton, ...]:
    value = str(escalation_id)
    return (
        StaffButton(_("Claim"), "escalation.claim", value, "primary"),
        StaffButton(_("Reassign"), "escalation.reassign", value),
        StaffButton(_("Resolve"), "escalation.resolve", value, "danger"),
    )


def when(instant: datetime, style: Literal["datetime", "date", "time"] = "datetime") -> When:
    """A date/time for staff, in the reader's language and the practice's timezone:
    "Tue Nov 24, 3:30 PM" / "mar 24 nov, 15:30" (``date``: the day, ``time``: the time)."""
    return When(instant, {"datetime": "staff-datetime", "date": "staff-date"}.get(style, style))


async def appointment_line(
    ctx: Context,
    appointment: Appointment,
    *,
    with_clinician: bool = True,
    patients: dict[str, Patient] | None = None,
    staff: dict[str, Staff] | None = None,
) -> Rich:
    """ "Tue Nov 24, 3:30 PM · Maya Lopez · speech therapy (Dana Reyes)", within the privacy
    setting. ``patients`` and ``staff`` may be preloaded (a day view names many)."""
    patient = (
        patients.get(appointment.patient_id)
        if patients is not None
        else await ctx.record.people.patient(appointment.patient_id)
    )
    parts: list[Content] = [when(appointment.start_at), ctx.desk.patient_name(patient)]
    if ctx.desk.privacy == "full":
        detail = appointment.service or ""
        if with_clinician:
            clinician = (
                staff.get(appointment.staff_id)
                if staff is not None
                else await ctx.record.people.staff(appointment.staff_id)
            )
            if clinician is not None:
                name = clinician.name
                detail = f"{detail} ({name})" if detail else name
        if detail:
            parts.append(detail)
    return joined(" · ", parts)


def answer_state(appointment: Appointment) -> Rich:
    """The family's answer as staff see it in the day view."""
    return state_label(
        appointment.status,
        appointment.participant_status,
        appointment.cancellation_reason,
        appointment.reschedule_requested_at is not None,
    )


#: What staff see for each state of a family's answer (the day view's lines and its tally).
STATES: dict[str, tuple[IconName, Msg]] = {
    "confirmed": ("confirmed", _("confirmed")),
    "waiting": ("waiting", _("not answered")),
    "reschedule": ("reschedule", _("reschedule requested")),
    "cancelled": ("cancelled", _("cancelled")),
}
STATE_LABELS = {kind: rich(icon(picture), " ", words) for kind, (picture, words) in STATES.items()}
#: Why a family cancelled, as staff read it.
CANCEL_REASONS: dict[str, Msg] = {
    "sick": _("sick"),
    "schedule-conflict": _("schedule conflict"),
    "other": _("other"),
}


def state_kind(status: str, participant_status: str, reschedule: bool) -> str:
    """The key in :data:`STATE_LABELS` for an appointment's state."""
    if status == "cancelled":
        return "cancelled"
    if reschedule:
        return "reschedule"
    if participant_status == "accepted":
        return "confirmed"
    return "waiting"


def state_label(
    status: str, participant_status: str, cancellation_reason: str | None, reschedule: bool
) -> Rich:
    kind = state_kind(status, participant_status, reschedule)
    if kind == "cancelled":
        reason = CANCEL_REASONS.get(cancellation_reason or "") or _("no reason")
        return STATE_LABELS[kind] + rich(" (", reason, ")")
    return STATE_LABELS[kind]


def stored_time(text: str) -> When:
    """A stored UTC instant, shown as :func:`when` shows it."""
    return when(from_db(text))


async def on_call_mention(record: Record, desk: StaffDesk) -> Content:
    """The on-call coordinator's mention, or everyone in the coordinators' channel."""
    if desk.on_call:
        staff = await record.people.staff(desk.on_call)
        if staff is not None and staff.slack_user_id:
            return mention(staff)
    return everyone()


async def coordinators_mention(record: Record) -> Content:
    people: list[Mention] = [
        mention(s) for s in await record.staff.coordinators() if s.slack_user_id
    ]
    return joined(" ", people) if people else everyone()


async def urgent_head(record: Record, desk: StaffDesk) -> Rich:
    """What an urgent post starts with: the alarm, and who must look now."""
    return rich(
        icon("emergency"), " ", strong(_("Possible emergency")), " ",
        await on_call_mention(record, desk),
    )  # fmt: skip


def _what_they_did(text: str, note: Content | None) -> Content:
    """A family's words as a quote, or what they did instead (pressed a button)."""
    return quote(text) if text else em(note or _("pressed a button"))


async def escalation_post(
    ctx: Context, escalation: Escalation, text: str, note: Content | None = None
) -> tuple[Rich, tuple[StaffButton, ...]]:
    """The thread's first post: who, about whom, the next appointment, what they wrote."""
    desk = ctx.desk
    guardian = ctx.guardian
    patient = (
        await ctx.record.people.patient(escalation.patient_id) if escalation.patient_id else None
    )
    head = (
        await urgent_head(ctx.record, desk)
        if escalation.urgent
        else rich(icon("person"), " ", strong(_("A family needs a person")))
    )
    rows: list[Content] = [
        head
        + rich(
            _(" — escalation #{number}, {reason}", number=escalation.id,
              reason=REASONS[escalation.reason]),
        ),
        rich(strong(_("Family:")),
             f" {desk.guardian_name(guardian)} ({escalation.family_channel})"),
    ]  # fmt: skip
    if guardian is not None:
        children = await ctx.record.people.children(guardian.id)
        names = ", ".join(desk.patient_name(c) for c in children)
        rows.append(rich(strong(_("Children:")), " ", names or _("(none)")))
        if patient is not None and len(children) > 1:
            rows.append(rich(strong(_("Probably about:")), f" {desk.patient_name(patient)}"))
        upcoming = await ctx.record.appointments.upcoming_for_guardian(guardian.id, ctx.now, 1)
        if upcoming:
            line = await appointment_line(ctx, upcoming[0])
            rows.append(rich(strong(_("Next appointment:")), " ", line))
    rows.append(_what_they_did(text, note))
    rows.append(em(_("Reply in this thread to answer the family on their channel.")))
    return lines(*rows), escalation_buttons(escalation.id)


async def family_line(ctx: Context, text: str, note: Content | None = None) -> Rich:
    """A family's further message, for the escalation's thread."""
    name = ctx.desk.guardian_name(ctx.guardian)
    return lines(strong(f"{name}:"), _what_they_did(text, note))


def staff_first_name(staff: Staff) -> str:
    return staff.name.split()[0] if staff.name.split() else staff.name


async def can_see(ctx: Context, patient_id: str) -> bool:
    """Coordinators and admins see every patient; a clinician only their care-team patients."""
    staff = ctx.staff
    if staff is None:
        return False
    if staff.role in ("coordinator", "admin"):
        return True
    return await ctx.record.staff.on_care_team(staff.id, patient_id)
