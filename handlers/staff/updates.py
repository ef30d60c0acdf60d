"""Clinicians' updates: to the family on their own channel, or a note for the care team only."""

from __future__ import annotations

import logging

from handlers.core.context import Context
from handlers.core.events import FormSubmitted, StaffCommand
from handlers.core.router import Router
from handlers.core.screens import Field, Form
from handlers.core.texts import _
from handlers.staff.posts import staff_first_name

log = logging.getLogger(__name__)
router = Router()

MAX_UPDATE_LENGTH = 2000


@router.staff_command("update", read_only=True)
async def open_update(event: StaffCommand, ctx: Context) -> None:
    assert ctx.staff is not None
    patients = await ctx.record.staff.patients_of(ctx.staff.id)
    if not patients:
        ctx.show("You have no patients on your care team yet, so there is no one to update.")
        return
    ctx.form = Form(
        id="update",
        title="Update about a patient",
        submit="Send",
        fields=(
            Field(
                "patient",
                "Patient",
                "select",
                tuple((p.id, f"{p.first_name} {p.last_name}") for p in patients),
            ),
            Field(
                "text",
                "Update",
                "multiline",
                hint="Families see this as you write it: no diagnoses or clinical details.",
            ),
            Field(
                "audience",
                "Who sees it",
                "choice",
                (("family", "The family"), ("care-team", "Care team only")),
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
        ctx.form_errors["patient"] = "Choose the patient."
    elif patient is None or not await ctx.record.staff.on_care_team(ctx.staff.id, patient_id):
        ctx.form_errors["patient"] = "You can only update patients on your care team."
    if not text:
        ctx.form_errors["text"] = "Write the update."
    elif len(text) > MAX_UPDATE_LENGTH:
        ctx.form_errors["text"] = f"Keep it under {MAX_UPDATE_LENGTH} characters."
    if audience not in ("family", "care-team"):
        ctx.form_errors["audience"] = "Choose who sees it."
    if ctx.form_errors or patient is None:
        return
    update_id = await ctx.record.updates.add(
        patient_id, ctx.staff.id, "family" if audience == "family" else "care-team", text, ctx.now
    )
    await ctx.audit(f"update.{audience}", "patient", patient_id)
    if audience == "care-team":
        ctx.show(f"Saved a care-team note on {patient.first_name}'s record (update #{update_id}).")
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
        whom = "1 family member" if reached == 1 else f"{reached} family members"
        ctx.show(f"Sent your update about {patient.first_name} to {whom}.")
    else:
        ctx.show(
            f"Saved, but no one in {patient.first_name}'s family can receive updates on a chat"
            " channel yet (not linked, or not allowed). A coordinator can send them an invite."
        )
