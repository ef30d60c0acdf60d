"""Clinicians' updates: to the family on their own channel, or a note for the care team only."""

from __future__ import annotations

import logging

from handlers.core.context import Context
from handlers.core.events import FormSubmitted, StaffCommand
from handlers.core.router import Router
from handlers.core.screens import Field, Form
from handlers.core.texts import _, ngettext
from handlers.staff.posts import staff_first_name

log = logging.getLogger(__name__)
router = Router()

MAX_UPDATE_LENGTH = 2000


@router.staff_command("update", read_only=True)
async def open_update(event: StaffCommand, ctx: Context) -> None:
    assert ctx.staff is not None
    patients = await ctx.record.staff.patients_of(ctx.staff.id)
    if not patients:
        ctx.show(_("You have no patients on your care team yet, so there is no one to update."))
        return
    ctx.form = Form(
        id="update",
        title=_("Update about a patient"),
        submit=_("Send"),
        fields=(
            Field(
                "patient",
                _("Patient"),
                "select",
                tuple((p.id, f"{p.first_name} {p.last_name}") for p in patients),
            ),
            Field(
                "text",
                _("Update"),
                "multiline",
                hint=_("Families see this as you write it: no diagnoses or clinical details."),
            ),
            Field(
                "audience",
                _("Who sees it"),
                "choice",
                (("family", _("The family")), ("care-team", _("Care team only"))),
                initial="family",
            ),
        ),
    )


@router.form("update")
async def update_submitted(event: FormSubmitted, ctx: Context) -> None:
    assert ctx.staff is not None
    patient_id = event.fields.get("patient", "")
    text = event.fields.get("text", "").strip()
    audience = event.fields.get("audience", "family")
    patient = await ctx.record.people.patient(patient_id) if patient_id else None
    # Every field's problem at once, on the field that has it.
    if not patient_id:
        ctx.form_errors["patient"] = _("Choose the patient.")
    elif patient is None or not await ctx.record.staff.on_care_team(ctx.staff.id, patient_id):
        ctx.form_errors["patient"] = _("You can only update patients on your care team.")
    if not text:
        ctx.form_errors["text"] = _("Write the update.")
    elif len(text) > MAX_UPDATE_LENGTH:
        ctx.form_errors["text"] = ngettext(
            "Keep it under {n} character.", "Keep it under {n} characters.", MAX_UPDATE_LENGTH
        )
    if audience not in ("family", "care-team"):
        ctx.form_errors["audience"] = _("Choose who sees it.")
    if ctx.form_errors or patient is None:
        return
    update_id = await ctx.record.updates.add(
        patient_id, ctx.staff.id, "family" if audience == "family" else "care-team", text, ctx.now
    )
    await ctx.audit(f"update.{audience}", "patient", patient_id)
    if audience == "care-team":
        ctx.show(
            _(
                "Saved a care-team note on {patient}'s record (update #{number}).",
                patient=patient.first_name,
                number=update_id,
            )
        )
        return
    reached = 0
    for guardian in await ctx.record.staff.guardians_for_updates(patient_id):
        sent = await ctx.out.to_guardian(
            guardian,
            [
                _(
                    "A message from {name} at {practice} about {child}:",
                    name=staff_first_name(ctx.staff),
                    practice=ctx.practice.name,
                    child=patient.first_name,
                ),
                _("{text}", text=text),
            ],
            author_staff_id=ctx.staff.id,
        )
        reached += sent is not None
        log.info("update %d to guardian=%s queued=%s", update_id, guardian.id, sent is not None)
    if reached:
        ctx.show(
            ngettext(
                "Sent your update about {patient} to {n} family member.",
                "Sent your update about {patient} to {n} family members.",
                reached,
                patient=patient.first_name,
            )
        )
    else:
        ctx.show(
            _(
                "Saved, but no one in {patient}'s family can receive updates on a chat channel"
                " yet (not linked, or not allowed). A coordinator can send them an invite.",
                patient=patient.first_name,
            )
        )
