"""Where staff are reached and how much of a family is shown to them.

The desk is configured from the settings (bot/app.py): which channel carries the staff side and
how it renders content, the coordinators' channel, who is on call, how much of a family's
details the staff channel may show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from handlers.core.content import Content, Mention, plain
from storage.models import Guardian, Patient, Practice, Staff

Privacy = Literal["full", "minimal"]

#: An urgent escalation is raised again after this long, at any hour.
URGENT_RESPONSE_MINUTES = 5


@dataclass(frozen=True)
class StaffDesk:
    """The staff side's coordinates.

    Attributes:
        channel: the channel staff work in (``slack``).
        escalation_conversation: the coordinators' channel id (``C0123``), or None if not set.
        on_call: the staff id of the on-call coordinator, mentioned on urgent escalations.
        privacy: ``full`` shows full names, the service and the clinician; ``minimal`` shows a
            first name and last initial and the appointment's date and time only.
        language: the language of posts in the coordinators' channel (what is written to one
            staff member is in their own).
        response_minutes: how long an escalation may wait for a person (business hours).
        handoff_ack_business_days: how long a receiver has to acknowledge a handoff.
        telegram_bot: the practice's Telegram bot's username, asked when an invite is made (it
            may be known only once the bot has started: Telegram's ``getMe``), or None.
        render: the staff channel's renderer for queued messages (Slack's mrkdwn, from the
            composition root); content without markup by default.
    """

    channel: str = "slack"
    escalation_conversation: str | None = None
    on_call: str | None = None
    privacy: Privacy = "full"
    language: str = "en"
    response_minutes: int = 15
    handoff_ack_business_days: int = 1
    telegram_bot: Callable[[], str | None] = lambda: None
    invite_valid_days: int = 7
    render: Callable[[Content], str] = plain

    @property
    def invite_link_base(self) -> str | None:
        """``https://t.me/<bot>?start=``, to which an invite's token is added (None: there is
        no Telegram bot to link to)."""
        username = self.telegram_bot()
        return f"https://t.me/{username}?start=" if username else None

    @property
    def escalation_address(self) -> str | None:
        if self.escalation_conversation is None:
            return None
        return f"{self.channel}:{self.escalation_conversation}"

    def address_of(self, staff: Staff) -> str | None:
        """Where a direct message to this staff member goes (None: no workspace account)."""
        return f"{self.channel}:{staff.slack_user_id}" if staff.slack_user_id else None

    def user_of(self, address: str) -> str:
        """The workspace user id in a staff address (``slack:T1/U2`` -> ``U2``)."""
        return address.split(":", 1)[-1].rsplit("/", 1)[-1]

    def patient_name(self, patient: Patient | None) -> str:
        if patient is None:
            return "(no patient on record)"
        return person_name(patient.first_name, patient.last_name, self.privacy)

    def guardian_name(self, guardian: Guardian | None) -> str:
        if guardian is None:
            return "(not linked)"
        return person_name(guardian.first_name, guardian.last_name, self.privacy)


def person_name(first: str, last: str, privacy: Privacy) -> str:
    """A name as the privacy setting allows the staff channel to show it."""
    if privacy == "minimal":
        return f"{first} {last[:1]}."
    return f"{first} {last}"


def mention(staff: Staff) -> Mention:
    """A staff member, mentioned by their workspace account (by name if they have none)."""
    return Mention(staff.slack_user_id, staff.name)


def in_business_hours(practice: Practice, instant: datetime) -> bool:
    """Monday to Friday within the practice's business hours, in its timezone."""
    local = instant.astimezone(ZoneInfo(practice.timezone))
    if local.weekday() >= 5:
        return False
    return practice.business_hours_start <= local.time() < practice.business_hours_end


def next_opening(practice: Practice, instant: datetime) -> datetime:
    """The next moment business hours begin (or ``instant`` if they are on now)."""
    if in_business_hours(practice, instant):
        return instant
    zone = ZoneInfo(practice.timezone)
    local = instant.astimezone(zone)
    day = local.date()
    for _ in range(8):
        opening = datetime.combine(day, practice.business_hours_start, zone)
        if opening > local and opening.weekday() < 5:
            return opening
        day += timedelta(days=1)
    return instant  # unreachable with a sane practice; never block on it


def business_deadline(practice: Practice, instant: datetime, minutes: int) -> datetime:
    """``minutes`` of business time after ``instant`` (counting from the next opening)."""
    start = next_opening(practice, instant)
    deadline = start + timedelta(minutes=minutes)
    local_end = datetime.combine(
        start.astimezone(ZoneInfo(practice.timezone)).date(),
        practice.business_hours_end,
        ZoneInfo(practice.timezone),
    )
    if deadline <= local_end:
        return deadline
    overflow = deadline - local_end
    return next_opening(practice, local_end + timedelta(seconds=1)) + overflow


def add_business_days(practice: Practice, instant: datetime, days: int) -> datetime:
    """The same time of day ``days`` business days later (weekends skipped)."""
    zone = ZoneInfo(practice.timezone)
    local = instant.astimezone(zone)
    added = 0
    while added < days:
        local += timedelta(days=1)
        if local.weekday() < 5:
            added += 1
    return local


def clock_time(value: time) -> str:
    return value.strftime("%H:%M")


def command_args(text: str | None) -> str:
    """What follows ``/carebot <subcommand>`` (or the first word of a direct message)."""
    words = (text or "").split(maxsplit=2)
    if words and words[0].startswith("/"):
        words = words[1:]
    return " ".join(words[1:]).strip() if len(words) > 1 else ""
