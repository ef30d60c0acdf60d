"""Row models of the care record (pydantic, frozen). Built from rows with explicit columns."""

from __future__ import annotations

from datetime import datetime, time
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

Role = Literal["clinician", "coordinator", "admin"]
AppointmentStatus = Literal[
    "proposed",
    "pending",
    "booked",
    "arrived",
    "fulfilled",
    "cancelled",
    "noshow",
    "entered-in-error",
    "checked-in",
    "waitlist",
]
ParticipantStatus = Literal["needs-action", "accepted", "declined", "tentative"]
CancellationReason = Literal["sick", "schedule-conflict", "other"]


class Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class Practice(Row):
    """The practice's own settings: the clock it lives by and its rules for reminders."""

    name: str
    phone: str
    timezone: str
    business_hours_start: time
    business_hours_end: time
    quiet_hours_start: time
    quiet_hours_end: time
    reminder_offsets_hours: tuple[int, ...]
    late_cancel_hours: int


class Patient(Row):
    id: str
    first_name: str
    last_name: str
    date_of_birth: str
    language: str


class Guardian(Row):
    """A FHIR RelatedPerson: a parent or carer of one or more patients."""

    id: str
    first_name: str
    last_name: str
    phone: str | None
    language: str
    sms_consent: bool
    timezone: str | None


class GuardianLink(Row):
    guardian_id: str
    patient_id: str
    relationship: str
    may_receive_updates: bool


class Staff(Row):
    id: str
    name: str
    role: Role
    discipline: str
    slack_user_id: str | None
    #: The language carebot writes to them in (``en``, ``es``).
    language: str = "en"


class Appointment(Row):
    id: str
    patient_id: str
    staff_id: str
    start_at: datetime
    duration_minutes: int
    service: str
    location: str
    status: AppointmentStatus
    participant_status: ParticipantStatus
    answered_by_guardian_id: str | None
    answered_at: datetime | None
    cancellation_reason: CancellationReason | None
    reschedule_requested_at: datetime | None


class ChannelIdentity(Row):
    id: int
    channel: str
    address: str
    guardian_id: str | None
    staff_id: str | None
    verified_at: datetime | None
    consent_at: datetime | None
    opted_out_at: datetime | None
    blocked_at: datetime | None


class Reminder(Row):
    id: int
    appointment_id: str
    guardian_id: str
    offset_hours: int
    appointment_start_at: datetime
    due_at: datetime
    send_at: datetime
    status: Literal["pending", "sent", "withdrawn", "expired", "undeliverable"]
    message_id: int | None


class Button(Row):
    label: str
    token: str
    #: How it stands out on a staff message (``primary``, ``danger``), if at all.
    style: str | None = None


class OutboundMessage(Row):
    """A queued outbound message as the outbox sees it."""

    id: int
    channel: str
    address: str
    guardian_id: str | None
    template: str
    body: str
    attempts: int
    buttons: tuple[Button, ...] = ()
    thread_message_id: int | None = None
    #: The provider's id of the thread's first message, once that one was sent.
    thread_provider_id: str | None = None
    #: A long message goes out in parts (the channel's own length unit): how many are out.
    parts_sent: int = 0
    #: The provider's id of the first part, once one went out.
    provider_message_id: str | None = None
    #: The staff member who wrote it, if one did (told if it fails for good).
    author_staff_id: str | None = None
    #: When its last send began (for a message whose fate is unknown after a crash).
    sending_at: datetime | None = None
    #: What it reveals, by the names of what it was made of (``child``, ``date``...): the
    #: outbox sends it only on a channel that may carry all of them.
    reveals: frozenset[str] = frozenset()
    #: This row changes a message sent before (Slack's chat.update, Telegram's edit): that
    #: message, its provider id once it was sent, and its delivery state.
    edits_message_id: int | None = None
    edits_provider_id: str | None = None
    edits_status: str | None = None


class ActionToken(Row):
    token: str
    action: str
    guardian_id: str
    appointment_id: str | None
    appointment_start_at: datetime | None
    value: str


EscalationReason = Literal["not-understood", "reschedule", "person", "after-hours", "emergency"]


class Escalation(Row):
    """What the bot could not handle, relayed between a family and a coordinator's thread."""

    id: int
    guardian_id: str | None
    patient_id: str | None
    family_channel: str
    family_address: str
    family_language: str
    reason: EscalationReason
    urgent: bool
    status: Literal["open", "claimed", "resolved"]
    claimed_by: str | None
    claimed_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    thread_message_id: int | None
    last_family_at: datetime
    last_staff_reply_at: datetime | None
    raised_count: int
    next_check_at: datetime | None
    created_at: datetime


class CareUpdate(Row):
    id: int
    patient_id: str
    staff_id: str
    audience: Literal["family", "care-team"]
    body: str
    created_at: datetime


class Handoff(Row):
    id: int
    patient_id: str
    from_staff_id: str
    to_staff_id: str
    summary: str
    open_items: str
    effective_date: str
    tell_family: bool
    status: Literal["pending", "acknowledged"]
    acknowledged_at: datetime | None
    ack_due_at: datetime
    raised_at: datetime | None
    created_at: datetime
    #: The direct message asking the receiver to acknowledge it, once queued.
    post_message_id: int | None = None


class DayEntry(NamedTuple):
    """One line of a day view: an appointment with its patient's and clinician's names.

    A plain record, not a validated model: a coordinator's day has thousands of them at a large
    practice, and a named tuple is made several times faster than a frozen dataclass.
    """

    appointment_id: str
    start_at: str  # the record's UTC text
    status: str
    participant_status: str
    cancellation_reason: str | None
    reschedule_requested: bool
    service: str
    patient_first_name: str
    patient_last_name: str
    staff_name: str
