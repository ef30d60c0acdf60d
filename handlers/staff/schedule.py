"""Seeing the day: /carebot today, /carebot patient, the home screen, invites, help."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.core.content import Content, Rich, code, em, icon, joined, lines, rich, strong
from handlers.core.context import Context
from handlers.core.desk import command_args, mention, person_name
from handlers.core.events import HomeOpened, StaffAction, StaffCommand
from handlers.core.router import Router
from handlers.core.screens import Section, StaffButton
from handlers.core.texts import _, ngettext
from handlers.family.onboarding import create_invite
from handlers.staff.posts import (
    ESCALATION_STATES,
    REASON_NAMES,
    ROLES,
    STATE_LABELS,
    answer_state,
    appointment_line,
    state_kind,
    state_label,
    stored_time,
    when,
)

router = Router()

HELP = lines(
    rich(strong("carebot"), " ", _("— what you can do here:")),
    rich("• ", code("/carebot today"), " — ",
         _("today's appointments and whether families answered")),
    rich("• ", code("/carebot patient <name>"), " — ",
         _("a patient's care team, next visits, updates, escalations")),
    rich("• ", code("/carebot update"), " — ",
         _("send an update to a family, or a note to the care team")),
    rich("• ", code("/carebot handoff"), " — ", _("hand a patient to another clinician")),
    rich("• ", code("/carebot invite <guardian id>"), " — ",
         _("a one-time link for a family (coordinators)")),
    _("Escalations from families appear in the coordinators' channel: reply in the thread to"
      " answer the family."),
)  # fmt: skip


@router.staff_command("help", read_only=True)
async def staff_help(event: StaffCommand, ctx: Context) -> None:
    ctx.show(HELP)


#: Appointments on one page of a day view. A practice's day has thousands; one Slack message
#: holds at most 50 blocks of 3,000 characters, and nobody reads 2,000 lines at once.
DAY_PAGE = 25
#: The buttons under a day view that show the page before or after (value ``YYYY-MM-DD:page``).
DAY_PAGE_ACTION = "today.page"


def _local_today(ctx: Context) -> date:
    return ctx.now.astimezone(ZoneInfo(ctx.practice.timezone)).date()


def _day_bounds(ctx: Context, day: date | None = None) -> tuple[datetime, datetime]:
    zone = ZoneInfo(ctx.practice.timezone)
    day = day or _local_today(ctx)
    start = datetime.combine(day, time(0), zone)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone)


def _tally(counts: list[tuple[str, str, bool, int]]) -> tuple[int, Rich]:
    """The day's number of visits, and how many are in each state, as one line."""
    by_kind: dict[str, int] = {}
    for status, answer, moved, count in counts:
        kind = state_kind(status, answer, moved)
        by_kind[kind] = by_kind.get(kind, 0) + count
    total = sum(by_kind.values())
    parts = [f"{by_kind[k]:,} " + label for k, label in STATE_LABELS.items() if by_kind.get(k)]
    heading = ngettext("{n:,} appointment:", "{n:,} appointments:", total)
    return total, rich(heading, " ", joined(" · ", parts))


async def day_view(ctx: Context, page: int = 1, day: date | None = None) -> list[Section]:
    """A day's appointments for the caller (all of them for a coordinator), with the families'
    answers, a page of :data:`DAY_PAGE` at a time: the tally of the whole day first, then the
    page, then buttons to the pages either side. ``day`` is today unless a button names one."""
    assert ctx.staff is not None
    start, end = _day_bounds(ctx, day)
    everyone = ctx.staff.role in ("coordinator", "admin")
    whose = None if everyone else ctx.staff.id
    whose_day = _("The practice") if everyone else _("Your day")
    title = strong(whose_day, " — ", when(start, "date"))
    total, tally = _tally(await ctx.record.staff.day_tally(start, end, whose))
    if not total:
        none = _("No appointments today.") if day is None else _("No appointments that day.")
        return [Section(lines(title, none))]
    pages = -(-total // DAY_PAGE)
    if page > pages:
        missing = _("There is no page {page}: the day has {pages}.", page=page, pages=pages)
        return [Section(lines(title, tally, missing))]
    entries = await ctx.record.staff.day(
        start, end, whose, offset=(page - 1) * DAY_PAGE, limit=DAY_PAGE
    )
    rows: list[Content] = [title]
    if everyone or pages > 1:
        rows.append(tally)
    full = ctx.desk.privacy == "full"
    for entry in entries:
        parts: list[Content] = [
            stored_time(entry.start_at),
            person_name(entry.patient_first_name, entry.patient_last_name, ctx.desk.privacy),
        ]
        if full:
            detail = entry.service or ""
            if everyone:
                name = entry.staff_name
                detail = f"{detail} ({name})" if detail else name
            if detail:
                parts.append(detail)
        state = state_label(
            entry.status,
            entry.participant_status,
            entry.cancellation_reason,
            entry.reschedule_requested,
        )
        rows.append(rich("• ", joined(" · ", parts), " — ", state))
    sections = [Section(lines(*rows))]
    if pages > 1:
        first = (page - 1) * DAY_PAGE + 1
        shown = em(
            _(
                "Appointments {first:,}–{last:,} of {total:,}.",
                first=first,
                last=first + len(entries) - 1,
                total=total,
            )
        )
        key = start.date().isoformat()
        buttons = []
        if page > 1:
            buttons.append(StaffButton(_("← Earlier"), DAY_PAGE_ACTION, f"{key}:{page - 1}"))
        if page < pages:
            buttons.append(StaffButton(_("Later →"), DAY_PAGE_ACTION, f"{key}:{page + 1}"))
        sections.append(Section(shown, tuple(buttons)))
    return sections


@router.staff_command("today", read_only=True)
async def today(event: StaffCommand, ctx: Context) -> None:
    ctx.shown.extend(await day_view(ctx))


@router.staff_action(DAY_PAGE_ACTION, read_only=True)
async def day_page(event: StaffAction, ctx: Context) -> None:
    """Another page of a day view. The value comes from a button, so it is checked like any
    input a client could forge: a real date within a year of today, a page from 1 to 10,000
    (who sees what is decided by the caller's role, as for the first page)."""
    key, _colon, number = (event.value or "").partition(":")
    try:
        day = date.fromisoformat(key)
        page = int(number)
    except ValueError:
        day, page = None, 0
    if day is None or not 1 <= page <= 10_000 or abs((day - _local_today(ctx)).days) > 366:
        ctx.show(_("Sorry, that button can't be used."))
        return
    ctx.shown.extend(await day_view(ctx, page, day))


#: At most this many patients are named when several match what was typed.
MATCHES_SHOWN = 20


def _sees_everyone(ctx: Context) -> bool:
    """Coordinators and admins see every patient; a clinician their care team (posts.can_see)."""
    return ctx.staff is not None and ctx.staff.role in ("coordinator", "admin")


@router.staff_command("patient", read_only=True)
async def patient_summary(event: StaffCommand, ctx: Context) -> None:
    assert ctx.staff is not None
    words = command_args(event.text)
    if not words:
        ctx.show(
            rich(_("Which patient?"), " ", code("/carebot patient <first name, full name or id>"))
        )
        return
    # Whom the caller may see is part of the search (one query, never one per match).
    found = await ctx.record.staff.find_patients(
        words, staff_id=None if _sees_everyone(ctx) else ctx.staff.id, limit=MATCHES_SHOWN + 1
    )
    if not found:
        # The same answer whether the patient exists or is someone else's: nothing leaks.
        ctx.show(_("No patient called “{words}” on your care team.", words=words))
        return
    if len(found) > 1:
        names = joined(
            ", ",
            (
                rich(f"{p.first_name} {p.last_name} (", code(p.id), ")")
                for p in found[:MATCHES_SHOWN]
            ),
        )
        several = (
            _("Several patients match: {names} and more. Use the full name or the id.", names=names)
            if len(found) > MATCHES_SHOWN
            else _("Several patients match: {names}. Use the full name or the id.", names=names)
        )
        ctx.show(several)
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
    members = [rich(mention(s), " (", s.discipline or ROLES[s.role], ")") for s in team]
    rows: list[Content] = [
        rich(strong(ctx.desk.patient_name(patient)), " (", code(patient.id), ")"),
        rich(strong(_("Care team:")), " ", joined(", ", members) if members else "—"),
        strong(_("Next appointments:")),
    ]
    for appointment in upcoming:
        line = await appointment_line(ctx, appointment, patients={patient.id: patient}, staff=staff)
        rows.append(rich("• ", line, " — ", answer_state(appointment)))
    if not upcoming:
        rows.append(rich("• ", _("none booked")))
    rows.append(strong(_("Recent updates:")))
    for update in updates:
        author = staff.get(update.staff_id)
        audience = _("to family") if update.audience == "family" else _("care team")
        first_line = update.body.splitlines()[0] if update.body else ""
        rows.append(
            rich("• ", when(update.created_at, "date"), " ", author.name if author else "?",
                 " (", audience, "): ", first_line[:140])
        )  # fmt: skip
    if not updates:
        rows.append(rich("• ", _("none")))
    rows.append(rich(strong(_("Open escalations:")), f" {len(open_escalations)}"))
    for escalation in open_escalations:
        rows.append(
            rich(f"• #{escalation.id} ", REASON_NAMES[escalation.reason], ", ",
                 ESCALATION_STATES.get(escalation.status, escalation.status))
        )  # fmt: skip
    ctx.show(lines(*rows))


#: Open items listed on the home screen (each is two blocks; the day view takes a few).
HOME_ITEMS = 30


#: Escalations waiting for a person listed on a coordinator's home screen, urgent first.
HOME_WAITING = 10


async def waiting_for_a_person(ctx: Context) -> list[Section]:
    """What nobody has claimed yet, for a coordinator: emergencies first, each with how long it
    has waited and when it is raised again, and a Claim button."""
    waiting = await ctx.record.escalations.waiting(HOME_WAITING + 1)
    if not waiting:
        return []
    patients = await ctx.record.staff.patients_by_id(
        {e.patient_id for e in waiting if e.patient_id}
    )
    count = f"{len(waiting[:HOME_WAITING])}{'+' if len(waiting) > HOME_WAITING else ''}"
    sections = [Section(strong(_("Waiting for a person ({count})", count=count)))]
    for escalation in waiting[:HOME_WAITING]:
        patient = patients.get(escalation.patient_id) if escalation.patient_id else None
        whom: Content
        if patient is not None:
            whom = ctx.desk.patient_name(patient)
        else:  # not known which child (or no child on record): the family it came from
            guardian = await ctx.record.people.guardian(escalation.guardian_id or "")
            whom = (
                _("{name}'s family", name=ctx.desk.guardian_name(guardian))
                if guardian
                else _("not linked")
            )
        minutes = max(0, int((ctx.now - escalation.last_family_at).total_seconds() // 60))
        waited = (
            _(
                "({whom}) — waiting {minutes} min, raised again at {time}",
                whom=whom,
                minutes=minutes,
                time=when(escalation.next_check_at, "time"),
            )
            if escalation.next_check_at
            else _("({whom}) — waiting {minutes} min", whom=whom, minutes=minutes)
        )
        what = _("Escalation #{number}: {reason}", number=escalation.id,
                 reason=REASON_NAMES[escalation.reason])  # fmt: skip
        text = (
            rich(icon("emergency"), " ", strong(_("Possible emergency")), " ", what)
            if escalation.urgent
            else rich(icon("person"), " ", what)
        )
        sections.append(
            Section(
                rich(text, " ", waited),
                (StaffButton(_("Claim"), "escalation.claim", str(escalation.id), "primary"),),
            )
        )
    return sections


@router.home()
async def home(event: HomeOpened, ctx: Context) -> None:
    """The home screen: for a coordinator, what waits for a person first; then the day view
    and the caller's open items. Built from the record each time (a restart loses nothing)."""
    assert ctx.staff is not None
    waiting = await waiting_for_a_person(ctx) if _sees_everyone(ctx) else []
    sections = waiting + await day_view(ctx)
    handoffs = await ctx.record.handoffs.pending_for(ctx.staff.id)
    claimed = await ctx.record.escalations.unresolved(claimed_by=ctx.staff.id)
    # Every patient the open items name, in one query.
    patients = await ctx.record.staff.patients_by_id(
        {h.patient_id for h in handoffs} | {e.patient_id for e in claimed if e.patient_id}
    )
    if handoffs or claimed:
        sections.append(Section(strong(_("Your open items"))))
    # Slack's Home tab holds 100 blocks: the first HOME_ITEMS items, and how many more there are.
    hidden = max(0, len(handoffs) + len(claimed) - HOME_ITEMS)
    handoffs = handoffs[:HOME_ITEMS]
    claimed = claimed[: HOME_ITEMS - len(handoffs)]
    for handoff in handoffs:
        patient = patients.get(handoff.patient_id)
        sections.append(
            Section(
                _(
                    "Handoff #{number}: {patient}, effective {date}",
                    number=handoff.id,
                    patient=ctx.desk.patient_name(patient),
                    date=handoff.effective_date,
                ),
                (StaffButton(_("Acknowledge"), "handoff.ack", str(handoff.id), "primary"),),
            )
        )
    for escalation in claimed:
        patient = patients.get(escalation.patient_id) if escalation.patient_id else None
        sections.append(
            Section(
                _(
                    "Escalation #{number}: {reason} ({patient}) — answer in its thread",
                    number=escalation.id,
                    reason=REASON_NAMES[escalation.reason],
                    patient=ctx.desk.patient_name(patient),
                ),
                (StaffButton(_("Resolve"), "escalation.resolve", str(escalation.id), "danger"),),
            )
        )
    if hidden:
        sections.append(
            Section(
                em(
                    _(
                        "…and {hidden:,} more: handoffs in your direct messages, escalations in"
                        " the coordinators' channel.",
                        hidden=hidden,
                    )
                )
            )
        )
    if not handoffs and not claimed and not waiting:
        sections.append(
            Section(em(_("No open items: no handoffs to acknowledge, no escalations.")))
        )
    ctx.home = sections


@router.staff_command("invite")
async def invite(event: StaffCommand, ctx: Context) -> None:
    assert ctx.staff is not None
    if ctx.staff.role not in ("coordinator", "admin"):
        ctx.show(_("Only coordinators can create family invites."))
        return
    guardian_id = command_args(event.text)
    if not guardian_id:
        ctx.show(rich(_("Whose invite?"), " ", code("/carebot invite <guardian id>")))
        return
    guardian = await ctx.record.people.guardian(guardian_id)
    if guardian is None:
        ctx.show(_("No guardian with id {id} in the record.", id=code(guardian_id)))
        return
    link_base = ctx.desk.invite_link_base
    if link_base is None:
        ctx.show(_("Telegram is not set up, so there is no invite link to make."))
        return
    token = await create_invite(
        ctx.record, guardian.id, ctx.now, ctx.desk.invite_valid_days, ("staff", ctx.staff.id)
    )
    ctx.show(
        ngettext(
            "One-time invite for {name}, valid {n} day. Give it to them directly (text, email or"
            " print):\n{link}",
            "One-time invite for {name}, valid {n} days. Give it to them directly (text, email or"
            " print):\n{link}",
            ctx.desk.invite_valid_days,
            name=ctx.desk.guardian_name(guardian),
            link=f"{link_base}{token}",
        )
    )
