"""Appointment reminders sent when due: the dispatcher, one message per household and day.

Reminders are planned as rows by :mod:`handlers.reminders.planning`; the dispatcher queues what
is due, in short transactions, within the carriers' daily and weekly limits and outside quiet hours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from time import perf_counter
from zoneinfo import ZoneInfo

from handlers.core.context import ButtonSpec, Outgoing
from handlers.core.texts import Msg, Translator, When, _, closing, prompt
from handlers.reminders.planning import plan_ahead, recipient_timezone
from handlers.reminders.quiet_hours import next_allowed
from storage.clock import Clock
from storage.db import Database
from storage.models import Appointment, ChannelIdentity, Guardian, Practice, Reminder
from storage.record import Record

log = logging.getLogger(__name__)

#: Due reminders read per transaction (each a few milliseconds of the writer's time: a
#: family's answer or a delivery report never waits long behind a fan-out).
DUE_BATCH = 10
#: A due-scan transaction takes no further reminder once it has held the writer this long (the
#: rest wait for the next one). A reminder costs 3-6 ms at 10,000 patients, a household's more:
#: ten at once held the writer 112-143 ms at the longest, and a time budget bounds it whatever
#: the households are like.
DUE_BUDGET_SECONDS = 0.025
#: A due reminder still pending this long after its time is late (the backlog metric).
LATE = timedelta(minutes=5)


class ReminderDispatcher:
    """Sends what is due. Woken by the scheduler; the clock decides what "due" means."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        translator: Translator,
        numbered_channels: frozenset[str] = frozenset(),
        weekly_cap: int = 0,
        on_backlog: Callable[[int, int], None] | None = None,
        due_budget: float = DUE_BUDGET_SECONDS,
    ) -> None:
        self._on_backlog = on_backlog
        self._due_budget = due_budget
        self._db = db
        self._clock = clock
        self._translator = translator
        self._numbered = numbered_channels
        self._weekly_cap = weekly_cap

    async def plan(self) -> int:
        """Plan what entered the planning window since the last time (see :func:`plan_ahead`)."""
        async with self._db.query() as conn:
            practice = await Record(conn).practice.get()
        if practice is None:
            return 0
        return await plan_ahead(self._db, practice, self._clock.now())

    async def settle_stale_buttons(self) -> int:
        """Change in place the family messages whose buttons went stale (their visit moved):
        the words as they were, a note why, no button left; a channel without buttons has
        nothing to change. A batch of :data:`DUE_BATCH` per transaction; returns the changes
        queued."""
        queued = 0
        while True:
            async with self._db.transaction() as conn:
                record = Record(conn)
                stale = await record.reminders.stale_messages(DUE_BATCH)
                if not stale:
                    return queued
                practice = await record.practice.get()
                if practice is None:
                    return queued
                out = Outgoing(
                    record, self._clock.now(), practice, self._translator, self._numbered
                )
                moved = _("This visit has moved: a new reminder with buttons will follow.")
                for message_id in stale:
                    queued += await out.settle_family(message_id, moved)
                await record.reminders.forget_stale(stale)

    async def run_due(self) -> int:
        """Plan what entered the planning window since the last time, then queue every due
        reminder (one message per guardian and day), at most :data:`DUE_BATCH` at a time, each
        batch its own short transaction that takes no further reminder once it has held the
        writer ``due_budget`` seconds (real time, not the record's clock); returns the messages
        queued."""
        await self.plan()
        changes = await self.settle_stale_buttons()
        if self._on_backlog is not None:
            now = self._clock.now()
            async with self._db.query() as conn:
                waiting, late = await Record(conn).reminders.backlog(now, now - LATE)
            self._on_backlog(waiting, late)
        queued = changes
        seen: set[int] = set()
        while True:
            now = self._clock.now()
            cut_short = False
            async with self._db.transaction() as conn:
                started = perf_counter()
                record = Record(conn)
                practice = await record.practice.get()
                if practice is None:
                    return queued
                out = Outgoing(record, now, practice, self._translator, self._numbered)
                due = await record.reminders.due(now, DUE_BATCH)
                fresh = [r for r in due if r.id not in seen]
                done: set[int] = set()
                for handled, reminder in enumerate(fresh):
                    if handled and perf_counter() - started >= self._due_budget:
                        cut_short = True  # the rest are still pending: the next batch's
                        break
                    seen.add(reminder.id)
                    if reminder.id not in done:
                        done |= await self._send_group(record, practice, out, reminder, now)
            queued += len(out.queued)
            if not fresh or (len(due) < DUE_BATCH and not cut_short):
                return queued

    async def _daily_cap(
        self,
        record: Record,
        practice: Practice,
        identity: ChannelIdentity | None,
        zone: str,
        first: Reminder,
        now: datetime,
    ) -> bool:
        """Text messages: at most one reminder message a day per number (the carriers' rule),
        and at most ``weekly_cap`` in seven days if the practice set one. A reminder over a
        limit waits (next morning, or when the week has room); it is never dropped. A
        household's visits on one day already share one message."""
        if identity is None or identity.channel not in self._numbered:
            return False
        local = now.astimezone(ZoneInfo(zone))
        day_start = datetime.combine(local.date(), time(0), ZoneInfo(zone))
        hold_until: datetime | None = None
        if await record.reminders.sent_to_address_between(
            identity.address, day_start, day_start + timedelta(days=1)
        ):
            hold_until = datetime.combine(
                local.date() + timedelta(days=1), practice.quiet_hours_end, ZoneInfo(zone)
            )
        if self._weekly_cap:
            week = await record.reminders.sent_to_address_since(
                identity.address, now - timedelta(days=7)
            )
            if len(week) >= self._weekly_cap:
                # Room again when the oldest of the week's reminders is a week old.
                freed = week[len(week) - self._weekly_cap] + timedelta(days=7)
                freed = next_allowed(
                    freed, zone, practice.quiet_hours_start, practice.quiet_hours_end
                )
                hold_until = max(hold_until, freed) if hold_until else freed
        if hold_until is None:
            return False
        await record.reminders.postpone(first.id, hold_until.astimezone(now.tzinfo), now)
        log.info("reminder %d held by the carriers' limits until %s", first.id, hold_until)
        return True

    async def _send_group(
        self, record: Record, practice: Practice, out: Outgoing, first: Reminder, now: datetime
    ) -> set[int]:
        guardian = await record.people.guardian(first.guardian_id)
        assert guardian is not None
        zone = recipient_timezone(guardian, practice)
        allowed = next_allowed(now, zone, practice.quiet_hours_start, practice.quiet_hours_end)
        if allowed > now:
            await record.reminders.postpone(first.id, allowed, now)
            log.info("reminder %d held for quiet hours", first.id)
            return {first.id}
        identity = await out.reachable_identity(guardian.id)
        held = await self._daily_cap(record, practice, identity, zone, first, now)
        if held:
            return {first.id}
        # One message per guardian and day: the household's other reminders for that day that
        # are due, or due soon, join this one (a sibling's visit an hour later, or after
        # downtime an older offset of the same visit).
        day_start = _local_midnight(first.appointment_start_at, practice.timezone)
        group = await record.reminders.pending_for_guardian(
            guardian.id,
            day_start,
            day_start + timedelta(days=1),
            due_before=now + household_window(practice.reminder_offsets_hours),
        )
        group_ids = {r.id for r in group} | {first.id}
        current: list[Appointment] = []
        stale: list[int] = []
        seen: set[str] = set()
        for reminder in sorted(group, key=lambda r: (r.appointment_start_at, r.id)):
            if reminder.appointment_id in seen:
                continue  # an older offset of a visit already in this message
            appointment = await record.appointments.get(reminder.appointment_id)
            if (
                appointment is None
                or not await record.people.is_guardian_of(guardian.id, appointment.patient_id)
                or appointment.status != "booked"
                or appointment.start_at != reminder.appointment_start_at
                or appointment.start_at <= now
            ):
                stale.append(reminder.id)
            else:
                seen.add(appointment.id)
                current.append(appointment)
        await record.reminders.set_status(stale, "withdrawn", now)
        live = [i for i in group_ids if i not in stale]
        if not current:
            return group_ids
        names = await _first_names(record, current)
        parts, buttons = reminder_message(practice, guardian, current, names)
        compact = compact_reminder(practice, names, current)
        message_id = await out.to_guardian(
            guardian, parts, buttons, compact=compact, identity=identity
        )
        if message_id is None:
            # Only what is due now failed: a later reminder pulled into this group stays
            # pending, so a family that links before then still gets it.
            due_now = {r.id for r in group if r.due_at <= now} | {first.id}
            await record.reminders.set_status(
                [i for i in live if i in due_now], "undeliverable", now
            )
            await record.audit.record(
                actor_type="system",
                actor_id="reminders",
                action="reminder.undeliverable",
                entity_type="guardian",
                entity_id=guardian.id,
                now=now,
            )
            log.warning("guardian %s has no reachable channel for reminders", guardian.id)
            return due_now
        await record.reminders.set_status(live, "sent", now, message_id)
        for appointment in current:
            await record.audit.record(
                actor_type="system",
                actor_id="reminders",
                action="reminder.queued",
                entity_type="appointment",
                entity_id=appointment.id,
                now=now,
                detail=f"message={message_id}",
            )
        return group_ids


def household_window(offsets: tuple[int, ...]) -> timedelta:
    """How far ahead a household's reminders are pulled into one message.

    Under half the smallest gap between two offsets, so a planned later reminder (24 h after a
    72 h one) is never swallowed by an earlier one; at most 12 hours.
    """
    gaps = [a - b for a, b in zip(offsets, offsets[1:], strict=False) if a > b]
    hours = min([12.0, *(gap / 2 - 0.01 for gap in gaps)])
    return timedelta(hours=max(hours, 0.0))


def _local_midnight(instant: datetime, timezone: str) -> datetime:
    local = instant.astimezone(ZoneInfo(timezone))
    return datetime.combine(local.date(), datetime.min.time(), tzinfo=local.tzinfo)


async def _first_names(record: Record, appointments: list[Appointment]) -> dict[str, str]:
    """Each visit's child's first name, by appointment id (a household has few children)."""
    children: dict[str, str] = {}
    for patient_id in {a.patient_id for a in appointments}:
        patient = await record.people.patient(patient_id)
        children[patient_id] = patient.first_name if patient else ""
    return {a.id: children[a.patient_id] for a in appointments}


def reminder_message(
    practice: Practice, guardian: Guardian, appointments: list[Appointment], names: dict[str, str]
) -> tuple[list[Msg], tuple[ButtonSpec, ...]]:
    """The reminder for one guardian's visits on one day, with a row of buttons per visit
    (``names``: each visit's child's first name, by appointment id)."""
    first = appointments[0]
    if len(appointments) == 1:
        parts = [
            _(
                "Hi {guardian}, this is {practice}. Reminder: {child} has an appointment on"
                " {date} at {time}.",
                guardian=guardian.first_name,
                practice=practice.name,
                child=names[first.id],
                date=When(first.start_at, "date"),
                time=When(first.start_at, "time"),
            ),
            prompt("Please confirm, cancel or ask to reschedule with the buttons below."),
        ]
        buttons = _answer_buttons(first, None)
    else:
        lines = [
            _("{child} at {time}", child=names[a.id], time=When(a.start_at, "time"))
            for a in appointments
        ]
        parts = [
            _(
                "Hi {guardian}, this is {practice}. Reminder of your appointments on {date}:",
                guardian=guardian.first_name,
                practice=practice.name,
                date=When(first.start_at, "date"),
            ),
            # A bullet list of already-translatable lines: a layout, not a sentence to translate.
            Msg(
                "\n".join(f"• {{line{i}}}" for i in range(len(lines))),
                {f"line{i}": line for i, line in enumerate(lines)},
            ),
            prompt("Please answer for each visit with the buttons below."),
        ]
        buttons = tuple(b for a in appointments for b in _answer_buttons(a, names[a.id]))
    parts.append(closing("Questions? Call us at {phone}.", phone=practice.phone))
    return parts, buttons


def compact_reminder(
    practice: Practice, names: dict[str, str], appointments: list[Appointment]
) -> list[Msg]:
    """The reminder for a channel without buttons, short enough for one text message where the
    language allows: first names, day and time, the practice's name; the numbered replies are
    added by the renderer."""
    first = appointments[0]
    if len(appointments) == 1:
        return [
            _(
                "{practice}: {child} has an appointment {date} at {time}.",
                practice=practice.name,
                child=names[first.id],
                date=When(first.start_at, "short-date"),
                time=When(first.start_at, "time"),
            )
        ]
    return [
        _("{practice}, {date}:", practice=practice.name, date=When(first.start_at, "short-date"))
    ]


def _answer_buttons(appointment: Appointment, child: str | None) -> tuple[ButtonSpec, ...]:
    subject = None
    if child is None:
        labels = (_("Confirm"), _("Cancel"), _("Reschedule"))
    else:
        labels = (
            _("Confirm {child}", child=child),
            _("Cancel {child}", child=child),
            _("Reschedule {child}", child=child),
        )
        subject = _("{child} at {time}", child=child, time=When(appointment.start_at, "time"))
    actions = ("confirm", "cancel", "reschedule")
    return tuple(
        ButtonSpec(label=label, action=action, appointment=appointment, subject=subject)
        for label, action in zip(labels, actions, strict=True)
    )
