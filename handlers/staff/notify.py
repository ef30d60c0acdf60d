"""A family's answer reaches the appointment's clinician in Slack as it happens."""

from __future__ import annotations

from typing import Literal

from handlers.core.content import Content, icon, rich
from handlers.core.context import Context
from handlers.core.texts import _
from handlers.staff.posts import CANCEL_REASONS, when
from storage.models import Appointment

Answer = Literal["confirmed", "cancelled", "reschedule"]


async def tell_clinician(
    ctx: Context, appointment: Appointment, answer: Answer, reason: str | None = None
) -> None:
    """A direct message to the clinician (nothing if they have no workspace account)."""
    clinician = await ctx.record.people.staff(appointment.staff_id)
    address = ctx.desk.address_of(clinician) if clinician else None
    if clinician is None or address is None:
        return
    patient = await ctx.record.people.patient(appointment.patient_id)
    who = ctx.desk.patient_name(patient)
    by = ctx.desk.guardian_name(ctx.guardian)
    visit = when(appointment.start_at)
    if answer == "confirmed":
        text = rich(
            icon("confirmed"),
            " ",
            _("{patient} confirmed {visit} (by {by}).", patient=who, visit=visit, by=by),
        )
    elif answer == "cancelled":
        if reason:
            why: Content = CANCEL_REASONS.get(reason) or reason.replace("-", " ")
            said = _(
                "{patient} cancelled {visit} — reason: {reason} (by {by}).",
                patient=who,
                visit=visit,
                reason=why,
                by=by,
            )
        else:
            said = _(
                "{patient} cancelled {visit} — reason: none (by {by}).",
                patient=who,
                visit=visit,
                by=by,
            )
        text = rich(icon("cancelled"), " ", said)
    else:
        text = rich(
            icon("reschedule"),
            " ",
            _(
                "{patient}'s family asked to reschedule {visit} (by {by}). A coordinator has it"
                " in the escalations channel.",
                patient=who,
                visit=visit,
                by=by,
            ),
        )
    await ctx.out.to_staff(address, text, staff=clinician)
