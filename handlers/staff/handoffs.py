"""Handoffs between clinicians: summary and open items, acknowledged by the receiver."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from handlers.core.content import Content, Rich, em, icon, lines, quote, rich, strong
from handlers.core.context import Context, Outgoing
from handlers.core.desk import StaffDesk, add_business_days, mention
from handlers.core.events import FormSubmitted, StaffAction, StaffCommand
from handlers.core.router import Router
from handlers.core.screens import Field, Form, StaffButton
from handlers.core.texts import Msg, When, _
from handlers.staff.posts import coordinators_mention, staff_first_name, when
from storage.models import Handoff
from storage.record import Record

log = logging.getLogger(__name__)
router = Router()

#: A calendar day as a past-date error names it ("Nov 20" / "20 nov"), one message a month
#: so each language writes the day and its month in its own order and words.
MONTH_DAYS: tuple[Msg, ...] = (
    _("Jan {day}"), _("Feb {day}"), _("Mar {day}"), _("Apr {day}"), _("May {day}"),
    _("Jun {day}"), _("Jul {day}"), _("Aug {day}"), _("Sep {day}"), _("Oct {day}"),
    _("Nov {day}"), _("Dec {day}"),
)  # fmt: skip


def month_day(day: date) -> Msg:
    """``day`` as "Nov 20", in the reader's language."""
    return replace(MONTH_DAYS[day.month - 1], params={"day": day.day})


@router.staff_command("handoff", read_only=True)
async def open_handoff(event: StaffCommand, ctx: Context) -> None:
    assert ctx.staff is not None
    if ctx.staff.role in ("coordinator", "admin"):
        patients = await ctx.record.staff.all_patients()
    else:
        patients = await ctx.record.staff.patients_of(ctx.staff.id)
    if not patients:
        ctx.show(_("You have no patients on your care team to hand off."))
        return
    clinicians = [
        s
        for s in await ctx.record.staff.everyone()
        if s.id != ctx.staff.id and s.role == "clinician" and s.slack_user_id
    ]
    ctx.form = Form(
        id="handoff",
        title=_("Hand off a patient"),
        submit=_("Hand off"),
        fields=(
            Field(
                "patient",
                _("Patient"),
                "select",
                tuple((p.id, f"{p.first_name} {p.last_name}") for p in patients),
            ),
            Field(
                "to", _("Receiving clinician"), "select", tuple((s.id, s.name) for s in clinicians)
            ),
            Field("summary", _("Summary"), "multiline"),
            Field("open_items", _("Open items"), "multiline", optional=True),
            Field("effective", _("Effective date"), "date", initial=ctx.now.date().isoformat()),
            Field(
                "tell_family",
                _("Family"),
                "checkbox",
                (("yes", _("Tell the family who their new clinician is (after acknowledgement)")),),
                optional=True,
            ),
        ),
    )


@router.form("handoff")
async def handoff_submitted(event: FormSubmitted, ctx: Context) -> None:
    assert ctx.staff is not None
    fields = event.fields
    patient = await ctx.record.people.patient(fields.get("patient", ""))
    receiver = await ctx.record.people.staff(fields.get("to", ""))
    summary = fields.get("summary", "").strip()
    allowed = patient is not None and (
        ctx.staff.role in ("coordinator", "admin")
        or await ctx.record.staff.on_care_team(ctx.staff.id, patient.id)
    )
    if not fields.get("patient"):
        ctx.form_errors["patient"] = _("Choose the patient.")
    elif patient is None or not allowed:
        ctx.form_errors["patient"] = _("You can only hand off patients on your care team.")
    if not fields.get("to"):
        ctx.form_errors["to"] = _("Choose who takes over.")
    elif receiver is None or receiver.id == ctx.staff.id or not receiver.slack_user_id:
        ctx.form_errors["to"] = _("Choose another clinician with a Slack account.")
    if not summary:
        ctx.form_errors["summary"] = _("Write a short summary for the receiving clinician.")
    try:
        effective: date | None = date.fromisoformat(fields.get("effective", ""))
    except ValueError:
        ctx.form_errors["effective"] = _("Choose the date the handoff takes effect.")
        effective = None
    today = ctx.now.astimezone(ZoneInfo(ctx.practice.timezone)).date()
    if effective is not None and effective < today:
        ctx.form_errors["effective"] = _(
            "{date} has passed: choose today or a later date.", date=month_day(effective)
        )
    if ctx.form_errors or patient is None or receiver is None or effective is None:
        return
    handoff_id = await ctx.record.handoffs.add(
        patient_id=patient.id,
        from_staff_id=ctx.staff.id,
        to_staff_id=receiver.id,
        summary=summary,
        open_items=fields.get("open_items", "").strip(),
        effective_date=effective.isoformat(),
        tell_family=fields.get("tell_family", "") == "yes",
        ack_due_at=add_business_days(ctx.practice, ctx.now, ctx.desk.handoff_ack_business_days),
        now=ctx.now,
    )
    await ctx.audit("handoff.created", "patient", patient.id, str(handoff_id))
    handoff = await ctx.record.handoffs.get(handoff_id)
    assert handoff is not None
    address = ctx.desk.address_of(receiver)
    assert address is not None
    posted = await ctx.out.to_staff(
        address,
        await handoff_text(ctx.record, ctx.desk, handoff),
        (StaffButton(_("Acknowledge"), "handoff.ack", str(handoff_id), "primary"),),
        staff=receiver,
    )
    await ctx.record.handoffs.posted_as(handoff_id, posted)
    ctx.show(
        _(
            "Handed {patient} to {clinician}; they've been asked to acknowledge.",
            patient=patient.first_name,
            clinician=mention(receiver),
        )
    )


async def handoff_text(record: Record, desk: StaffDesk, handoff: Handoff) -> Rich:
    patient = await record.people.patient(handoff.patient_id)
    sender = await record.people.staff(handoff.from_staff_id)
    # Its own statement: Babel does not extract a message nested in a call inside another.
    number = _("Handoff #{number}", number=handoff.id)
    rows: list[Content] = [
        rich(
            icon("handoff"), " ",
            _(
                "{handoff} from {sender}: {patient}, effective {date}",
                handoff=strong(number),
                sender=mention(sender) if sender else _("a colleague"),
                patient=desk.patient_name(patient),
                date=handoff.effective_date,
            ),
        ),
        strong(_("Summary")),
        quote(handoff.summary),
    ]  # fmt: skip
    if handoff.open_items:
        rows += [strong(_("Open items")), quote(handoff.open_items)]
    if handoff.tell_family:
        rows.append(
            em(_("The family will be told who their new clinician is once you acknowledge."))
        )
    return lines(*rows)


@router.staff_action("handoff.ack")
async def acknowledge(event: StaffAction, ctx: Context) -> None:
    assert ctx.staff is not None
    handoff = await ctx.record.handoffs.get(int(event.value)) if event.value.isdigit() else None
    if handoff is None or handoff.to_staff_id != ctx.staff.id:
        ctx.show(_("Sorry, only the receiving clinician can acknowledge this handoff."))
        return
    if not await ctx.record.handoffs.acknowledge(handoff.id, ctx.now):
        ctx.show(_("You already acknowledged handoff #{number}.", number=handoff.id))
        return
    await ctx.record.people.add_to_care_team(handoff.patient_id, ctx.staff.id, ctx.now)
    if handoff.post_message_id is not None:  # the request, with its button gone
        await ctx.out.change_staff(
            handoff.post_message_id,
            rich(icon("confirmed"), " ", _("Acknowledged at {time}", time=when(ctx.now, "time"))),
        )
    await ctx.audit("handoff.acknowledged", "patient", handoff.patient_id, str(handoff.id))
    patient = await ctx.record.people.patient(handoff.patient_id)
    ctx.show(
        _(
            "Acknowledged. {patient} is now on your care team.",
            patient=ctx.desk.patient_name(patient),
        )
    )
    sender = await ctx.record.people.staff(handoff.from_staff_id)
    if sender is not None and (address := ctx.desk.address_of(sender)):
        await ctx.out.to_staff(
            address,
            rich(
                icon("confirmed"),
                " ",
                _(
                    "{clinician} acknowledged handoff #{number} ({patient}).",
                    clinician=mention(ctx.staff),
                    number=handoff.id,
                    patient=ctx.desk.patient_name(patient),
                ),
            ),
            staff=sender,
        )
    if handoff.tell_family and patient is not None:
        effective = date.fromisoformat(handoff.effective_date)
        for guardian in await ctx.record.staff.guardians_for_updates(patient.id):
            await ctx.out.to_guardian(
                guardian,
                [
                    _(
                        "From {date}, {child}'s clinician at {practice} will be {name}.",
                        date=When(_noon(effective, ctx), "date"),
                        child=patient.first_name,
                        practice=ctx.practice.name,
                        name=staff_first_name(ctx.staff),
                    )
                ],
            )


def _noon(day: date, ctx: Context) -> datetime:
    """Midday of a calendar day in the practice's timezone (so it renders as that day)."""
    return datetime.combine(day, time(12), ZoneInfo(ctx.practice.timezone))


async def raise_overdue_handoffs(record: Record, desk: StaffDesk, out: Outgoing) -> int:
    """Tell the coordinators about handoffs nobody acknowledged within the practice's window."""
    address = desk.escalation_address
    raised = 0
    for handoff in await record.handoffs.overdue(out.now):
        await record.handoffs.mark_raised(handoff.id, out.now)
        if address is None:
            continue
        patient = await record.people.patient(handoff.patient_id)
        receiver = await record.people.staff(handoff.to_staff_id)
        await out.to_staff(
            address,
            rich(
                icon("overdue"),
                " ",
                _(
                    "Handoff #{number} ({patient}) to {clinician} has not been acknowledged.",
                    number=handoff.id,
                    patient=desk.patient_name(patient),
                    clinician=mention(receiver) if receiver else _("a clinician"),
                ),
                " ",
                await coordinators_mention(record),
            ),
        )
        raised += 1
    return raised
