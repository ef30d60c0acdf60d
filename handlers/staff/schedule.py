"""Seeing the day: /carebot today, /carebot patient, the home screen, invites, help."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.context import Context
from handlers.events import Inbound
from handlers.router import Router
from handlers.staff.desk import command_args, escape, escape_known, mention, person_name
from handlers.staff.posts import (
    answer_state,
    appointment_line,
    state_label,
    stored_time,
    when,
)
from handlers.staff.screens import Section, StaffButton

router = Router()

HELP = (
    "*carebot* — what you can do here:\n"
    "• `/carebot today` — today's appointments and whether families answered\n"
    "• `/carebot patient <name>` — a patient's care team, next visits, updates, escalations\n"
    "• `/carebot update` — send an update to a family, or a note to the care team\n"
    "• `/carebot handoff` — hand a patient to another clinician\n"
    "• `/carebot invite <guardian id>` — a one-time link for a family (coordinators)\n"
    "Escalations from families appear in the coordinators' channel: reply in the thread to"
    " answer the family."
)


@router.staff_command("help", read_only=True)
async def staff_help(event: Inbound, ctx: Context) -> None:
    ctx.show(HELP)


def _today(ctx: Context) -> tuple[datetime, datetime]:
    zone = ZoneInfo(ctx.practice.timezone)
    start = datetime.combine(ctx.now.astimezone(zone).date(), time(0), zone)
    return start, start + timedelta(days=1)


async def day_view(ctx: Context) -> list[Section]:
    """Today's appointments for the caller (all of them for a coordinator), with answers."""
    assert ctx.staff is not None
    start, end = _today(ctx)
    everyone = ctx.staff.role in ("coordinator", "admin")
    day = await ctx.record.staff.day(start, end, None if everyone else ctx.staff.id)
    title = f"*{'The practice' if everyone else 'Your day'} — {when(ctx, start, 'date')}*"
    if not day:
        return [Section(f"{title}\nNo appointments today.")]
    lines = [title]
    full = ctx.desk.privacy == "full"
    timezone = ctx.practice.timezone
    for count, entry in enumerate(day, 1):
        if count % 50 == 0:
            await asyncio.sleep(0)  # a practice's whole day: let other requests be acked
        parts = [
            stored_time(entry.start_at, timezone),
            person_name(entry.patient_first_name, entry.patient_last_name, ctx.desk.privacy),
        ]
        if full:
            detail = escape_known(entry.service) if entry.service else ""
            if everyone:
                name = escape_known(entry.staff_name)
                detail = f"{detail} ({name})" if detail else name
            if detail:
                parts.append(detail)
        state = state_label(
            entry.status,
            entry.participant_status,
            entry.cancellation_reason,
            entry.reschedule_requested,
        )
        lines.append(f"• {' · '.join(parts)} — {state}")
    return [Section("\n".join(lines))]


@router.staff_command("today", read_only=True)
async def today(event: Inbound, ctx: Context) -> None:
    ctx.shown.extend(await day_view(ctx))


#: At most this many patients are named when several match what was typed.
MATCHES_SHOWN = 20


def _sees_everyone(ctx: Context) -> bool:
    """Coordinators and admins see every patient; a clinician their care team (posts.can_see)."""
    return ctx.staff is not None and ctx.staff.role in ("coordinator", "admin")


@router.staff_command("patient", read_only=True)
async def patient_summary(event: Inbound, ctx: Context) -> None:
    assert ctx.staff is not None
    words = command_args(event.text)
    if not words:
        ctx.show("Which patient? `/carebot patient <first name, full name or id>`")
        return
    # Whom the caller may see is part of the search (one query, never one per match).
    found = await ctx.record.staff.find_patients(
        words, staff_id=None if _sees_everyone(ctx) else ctx.staff.id, limit=MATCHES_SHOWN + 1
    )
    if not found:
        # The same answer whether the patient exists or is someone else's: nothing leaks.
        ctx.show(f"No patient called “{escape(words)}” on your care team.")
        return
    if len(found) > 1:
        names = ", ".join(
            f"{escape(p.first_name)} {escape(p.last_name)} (`{p.id}`)"
            for p in found[:MATCHES_SHOWN]
        )
        more = " and more" if len(found) > MATCHES_SHOWN else ""
        ctx.show(f"Several patients match: {names}{more}. Use the full name or the id.")
        return
    patient = found[0]
    team = await ctx.record.people.care_team(patient.id)
    upcoming = await ctx.record.appointments.upcoming_for_patient(patient.id, ctx.now)
    updates = await ctx.record.updates.recent(patient.id)
    open_escalations = await ctx.record.escalations.unresolved(patient_id=patient.id)
    # The clinicians of the visits and the authors of the updates, in one query.
    staff = await ctx.record.staff.staff_by_id(
        {a.staff_id for a in upcoming} | {u.staff_id for u in updates}
    )
    lines = [
        f"*{ctx.desk.patient_name(patient)}* (`{patient.id}`)",
        "*Care team:* "
        + (", ".join(f"{mention(s)} ({escape(s.discipline or s.role)})" for s in team) or "—"),
        "*Next appointments:*",
    ]
    for appointment in upcoming:
        line = await appointment_line(ctx, appointment, patients={patient.id: patient}, staff=staff)
        lines.append(f"• {line} — {answer_state(appointment)}")
    if not upcoming:
        lines.append("• none booked")
    lines.append("*Recent updates:*")
    for update in updates:
        author = staff.get(update.staff_id)
        audience = "to family" if update.audience == "family" else "care team"
        first_line = update.body.splitlines()[0] if update.body else ""
        lines.append(
            f"• {when(ctx, update.created_at, 'date')} {escape(author.name if author else '?')}"
            f" ({audience}): {escape(first_line[:140])}"
        )
    if not updates:
        lines.append("• none")
    lines.append(f"*Open escalations:* {len(open_escalations)}")
    for escalation in open_escalations:
        lines.append(
            f"• #{escalation.id} {escalation.reason.replace('-', ' ')}, {escalation.status}"
        )
    ctx.show("\n".join(lines))


@router.home()
async def home(event: Inbound, ctx: Context) -> None:
    """The home screen: the day view and the caller's open items."""
    assert ctx.staff is not None
    sections = await day_view(ctx)
    handoffs = await ctx.record.handoffs.pending_for(ctx.staff.id)
    claimed = await ctx.record.escalations.unresolved(claimed_by=ctx.staff.id)
    # Every patient the open items name, in one query.
    patients = await ctx.record.staff.patients_by_id(
        {h.patient_id for h in handoffs} | {e.patient_id for e in claimed if e.patient_id}
    )
    if handoffs or claimed:
        sections.append(Section("*Your open items*"))
    for handoff in handoffs:
        patient = patients.get(handoff.patient_id)
        sections.append(
            Section(
                f"Handoff #{handoff.id}: {ctx.desk.patient_name(patient)}, effective"
                f" {handoff.effective_date}",
                (StaffButton("Acknowledge", "handoff.ack", str(handoff.id), "primary"),),
            )
        )
    for escalation in claimed:
        patient = patients.get(escalation.patient_id) if escalation.patient_id else None
        sections.append(
            Section(
                f"Escalation #{escalation.id}: {escalation.reason.replace('-', ' ')}"
                f" ({ctx.desk.patient_name(patient)}) — answer in its thread",
                (StaffButton("Resolve", "escalation.resolve", str(escalation.id), "danger"),),
            )
        )
    if not handoffs and not claimed:
        sections.append(Section("_No open items: no handoffs to acknowledge, no escalations._"))
    ctx.home = sections


@router.staff_command("invite")
async def invite(event: Inbound, ctx: Context) -> None:
    assert ctx.staff is not None
    if ctx.staff.role not in ("coordinator", "admin"):
        ctx.show("Only coordinators can create family invites.")
        return
    guardian_id = command_args(event.text)
    if not guardian_id:
        ctx.show("Whose invite? `/carebot invite <guardian id>`")
        return
    guardian = await ctx.record.people.guardian(guardian_id)
    if guardian is None:
        ctx.show(f"No guardian with id `{escape(guardian_id)}` in the record.")
        return
    if ctx.desk.invite_link_base is None:
        ctx.show("Telegram is not set up, so there is no invite link to make.")
        return
    token = await ctx.record.invites.create(
        guardian.id, ctx.now, timedelta(days=ctx.desk.invite_valid_days)
    )
    await ctx.record.audit.record(
        actor_type="staff",
        actor_id=ctx.staff.id,
        action="invite.created",
        entity_type="guardian",
        entity_id=guardian.id,
        now=ctx.now,
    )
    ctx.show(
        f"One-time invite for {ctx.desk.guardian_name(guardian)}, valid"
        f" {ctx.desk.invite_valid_days} days. Give it to them directly (text, email or"
        f" print):\n{ctx.desk.invite_link_base}{token}"
    )
