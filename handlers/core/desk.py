"""Where staff are reached and how text is shown to them.

The desk is configured from the settings (bot/app.py): which channel carries the staff side,
the coordinators' channel, who is on call, how much of a family's details Slack may show.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

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
        response_minutes: how long an escalation may wait for a person (business hours).
        handoff_ack_business_days: how long a receiver has to acknowledge a handoff.
        invite_link_base: ``https://t.me/<bot>?start=`` for invites made from Slack.
    """

    channel: str = "slack"
    escalation_conversation: str | None = None
    on_call: str | None = None
    privacy: Privacy = "full"
    response_minutes: int = 15
    handoff_ack_business_days: int = 1
    invite_link_base: str | None = None
    invite_valid_days: int = 7

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
        if self.privacy == "minimal":
            return escape(f"{guardian.first_name} {guardian.last_name[:1]}.")
        return escape(f"{guardian.first_name} {guardian.last_name}")


@lru_cache(maxsize=4096)
def person_name(first: str, last: str, privacy: Privacy) -> str:
    """A name as the privacy setting allows it in Slack, escaped (names repeat: cached)."""
    if privacy == "minimal":
        return escape(f"{first} {last[:1]}.")
    return escape(f"{first} {last}")


@lru_cache(maxsize=4096)
def escape_known(text: str) -> str:
    """:func:`escape` for the record's short, repeating texts (names, services): cached."""
    return escape(text)


def escape(text: str) -> str:
    """Text someone wrote, made safe for Slack mrkdwn: no mentions, links or markup injected.

    Slack's three control characters are escaped, so ``<!channel>`` or ``<https://x|y>`` show
    as typed; zero-width joiners stop ``@here``-style words and leading ``>`` quotes.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for word in ("@channel", "@here", "@everyone"):
        text = text.replace(word, word[0] + "\u200b" + word[1:])
    return text


def mention(staff: Staff) -> str:
    return f"<@{staff.slack_user_id}>" if staff.slack_user_id else escape(staff.name)


def quote(text: str) -> str:
    """A family's or clinician's words as an escaped block quote."""
    return "\n".join("> " + line for line in escape(text).splitlines() or [""])


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
