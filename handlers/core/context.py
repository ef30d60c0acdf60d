"""What a handler gets besides the event: the record, the time, and ways to answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime

from handlers.core.content import Content, Rich, localize, plain
from handlers.core.desk import StaffDesk
from handlers.core.events import Inbound
from handlers.core.screens import (
    Form,
    Label,
    Section,
    StaffButton,
    localized_form,
    source_label,
)
from handlers.core.texts import Closing, Msg, Prompt, Translator, _, normalize_language
from storage.audit import ActorType
from storage.messages import SentMessage
from storage.models import Appointment, Button, ChannelIdentity, Guardian, Practice, Staff
from storage.record import Record
from storage.tokens import TokenSpec

log = logging.getLogger(__name__)

#: The language of the person being answered (set by the pipeline for each event).
current_language: ContextVar[str] = ContextVar("current_language", default="en")


@dataclass(frozen=True)
class ButtonSpec:
    """A button a handler wants: its label, and what pressing it does."""

    label: Msg
    action: str
    appointment: Appointment | None = None
    value: str = ""
    #: For one of several visits' answers: what the visit is called in a numbered list
    #: ("Maya at 3:30 PM"), so a channel without buttons can offer "1C", "2X"…
    subject: Msg | None = None


ANSWERS = ("confirm", "cancel", "reschedule")


def placeholders(parts: list[Msg]) -> set[str]:
    """Every placeholder name in these messages, nested ones included."""
    found: set[str] = set()
    for part in parts:
        for key, value in part.params.items():
            found.add(key)
            if isinstance(value, Msg):
                found |= placeholders([value])
    return found


def reveals(parts: list[Msg]) -> frozenset[str]:
    """What a message made of these parts reveals, by the names of its placeholders (numbered
    ones by their stem: ``choice0``, ``choice1`` are ``choice``). The channel says which it
    may carry; the outbox refuses a message that reveals more (bot/channels/base.py)."""
    return frozenset(name.rstrip("0123456789") for name in placeholders(parts))


def numbered(buttons: tuple[ButtonSpec, ...]) -> Msg:
    """Buttons as numbered replies. Never the word CANCEL as an answer: carriers take it for
    an opt-out; "2" is what cancels."""
    actions = tuple(b.action for b in buttons)
    if actions == ANSWERS:
        return _("Reply 1 to confirm, 2 to cancel, 3 to reschedule.")
    if len(buttons) > 3 and actions == ANSWERS * (len(buttons) // 3):
        visits = [b.subject or b.label for b in buttons[::3]]
        lines = {f"visit{i}": v for i, v in enumerate(visits)}
        layout = "\n".join(f"{i + 1} = {{visit{i}}}" for i in range(len(visits)))
        how = _("Reply 1C to confirm visit 1, 1X to cancel, 1R to reschedule.")
        return Msg(layout + "\n{how}", {**lines, "how": how})
    lines = {f"choice{i}": b.label for i, b in enumerate(buttons)}
    layout = "\n".join(f"{i + 1} = {{choice{i}}}" for i in range(len(buttons)))
    return Msg("{intro}\n" + layout, {"intro": _("Reply with a number:"), **lines})


@dataclass
class Outgoing:
    """Sends messages in the recipient's language, as rows in the outbox."""

    record: Record
    now: datetime
    practice: Practice
    translator: Translator
    #: Channels without buttons: their buttons become numbered replies ("Reply 1 to confirm").
    numbered_channels: frozenset[str] = frozenset()
    #: How a message to staff is written on their channel (the desk's renderer).
    staff_render: Callable[[Content], str] = plain

    #: The language of posts in the coordinators' channel (the desk's).
    staff_channel_language: str = "en"
    queued: list[int] = field(default_factory=list)

    def render(self, msg: Msg, language: str, timezone: str | None = None) -> str:
        return self.translator.render(msg, language, timezone or self.practice.timezone)

    def staff_content(self, content: Content, language: str) -> Rich:
        """Staff content with carebot's words written in ``language`` (nothing left to
        translate for a renderer)."""
        return localize(content, self.translator.words(language, self.practice.timezone))

    def staff_label(self, label: Label, language: str) -> str:
        """A button's, a field's or a form's label in ``language``."""
        return self.render(label, language) if isinstance(label, Msg) else label

    def staff_language(self, staff: Staff | None) -> str:
        """What a staff message is written in: its reader's language (a direct message), the
        coordinators' channel's (a post there)."""
        return normalize_language(staff.language) if staff else self.staff_channel_language

    async def to_address(
        self,
        *,
        channel: str,
        address: str,
        parts: list[Msg],
        language: str,
        guardian_id: str | None,
        buttons: tuple[ButtonSpec, ...] = (),
        not_before: datetime | None = None,
        author_staff_id: str | None = None,
    ) -> int:
        """Queue one message made of ``parts`` (paragraphs) to an address; ``author_staff_id``
        is the staff member whose words these are (told if it fails for good). What it
        reveals goes with it: the outbox sends it only if its channel may carry that."""
        if buttons and channel in self.numbered_channels:
            parts = [p for p in parts if not isinstance(p, Prompt)]
            at = len(parts) - 1 if len(parts) > 1 and isinstance(parts[-1], Closing) else len(parts)
            parts.insert(at, numbered(buttons))
        revealed = reveals(parts)
        body = "\n\n".join(self.render(p, language) for p in parts)
        issued: list[Button] = []
        if buttons:
            if guardian_id is None:
                raise ValueError("buttons are only issued to a known guardian")
            tokens = await self.record.tokens.issue_many(
                [
                    TokenSpec(
                        action=spec.action,
                        appointment_id=spec.appointment.id if spec.appointment else None,
                        appointment_start_at=(
                            spec.appointment.start_at if spec.appointment else None
                        ),
                        value=spec.value,
                    )
                    for spec in buttons
                ],
                guardian_id,
                self.now,
            )
            issued = [
                Button(label=self.render(spec.label, language), token=token)
                for spec, token in zip(buttons, tokens, strict=True)
            ]
        message_id = await self.record.messages.queue(
            channel=channel,
            address=address,
            body=body,
            template=parts[0].msgid if parts else "",
            guardian_id=guardian_id,
            staff_id=None,
            buttons=tuple(issued),
            now=self.now,
            reveals=revealed,
            not_before=not_before,
            author_staff_id=author_staff_id,
        )
        self.queued.append(message_id)
        return message_id

    async def to_staff(
        self,
        address: str,
        text: Content,
        buttons: tuple[StaffButton, ...] = (),
        *,
        thread_message_id: int | None = None,
        staff: Staff | None = None,
    ) -> int:
        """Queue a staff message to a channel or person (``staff``: a direct message to them),
        optionally in a thread: in its reader's language, written by the staff channel's
        renderer in its form (Slack: mrkdwn)."""
        language = self.staff_language(staff)
        return await self._queue_staff(
            address,
            self.staff_render(self.staff_content(text, language)),
            self.staff_buttons(buttons, language),
            thread_message_id=thread_message_id,
            staff_id=staff.id if staff else None,
        )

    def staff_buttons(
        self, buttons: tuple[StaffButton, ...], language: str
    ) -> tuple[StaffButton, ...]:
        """The buttons with their labels in ``language``."""
        return tuple(replace(b, label=self.staff_label(b.label, language)) for b in buttons)

    async def _queue_staff(
        self,
        address: str,
        body: str,
        buttons: tuple[StaffButton, ...],
        *,
        thread_message_id: int | None = None,
        staff_id: str | None = None,
        edits_message_id: int | None = None,
    ) -> int:
        message_id = await self.record.messages.queue(
            channel=address.split(":", 1)[0],
            address=address,
            body=body,
            template="staff",
            guardian_id=None,
            staff_id=staff_id,
            buttons=tuple(
                Button(label=source_label(b.label), token=f"{b.action}:{b.value}", style=b.style)
                for b in buttons
            ),
            now=self.now,
            reveals=frozenset(),  # the staff's channel shows what the practice's settings allow
            thread_message_id=thread_message_id,
            edits_message_id=edits_message_id,
        )
        self.queued.append(message_id)
        return message_id

    async def change_family(
        self, sent: SentMessage, note: Msg, language: str, buttons: tuple[Button, ...] = ()
    ) -> int:
        """A family's message sent before, changed in place where its channel can (the outbox
        edits it): its words as they were, ``note`` under them, and no button left to press
        but ``buttons`` (some of its own, still live)."""
        body = sent.body + "\n\n" + self.render(note, language)
        channel = sent.address.split(":", 1)[0]
        message_id = await self.record.messages.queue(
            channel=channel,
            address=sent.address,
            body=body,
            template=sent.template,
            guardian_id=sent.guardian_id,
            staff_id=None,
            buttons=buttons,
            now=self.now,
            reveals=sent.reveals | reveals([note]),
            edits_message_id=sent.id,
        )
        self.queued.append(message_id)
        return message_id

    async def settle_family(self, message_id: int, note: Msg) -> bool:
        """A family's message whose buttons have nothing left to do, changed in place with
        ``note`` in its reader's language; False where there is nothing to change (no such
        message, no guardian, or a channel without buttons: its numbers get the polite
        answer)."""
        sent = await self.record.messages.sent_message(message_id)
        if sent is None or sent.guardian_id is None:
            return False
        if sent.address.split(":", 1)[0] in self.numbered_channels:
            return False
        guardian = await self.record.people.guardian(sent.guardian_id)
        await self.change_family(
            sent, note, normalize_language(guardian.language if guardian else None)
        )
        return True

    async def change_staff(
        self, message_id: int, footer: Content, buttons: tuple[StaffButton, ...] = ()
    ) -> int | None:
        """A staff post sent before (an escalation's, a handoff's), changed in place: its words
        as they were first, ``footer`` under them (who holds it now, its state), and these
        buttons (none: nothing is left to press). None if there is no such post."""
        sent = await self.record.messages.sent_message(message_id)
        if sent is None:
            return None
        reader = await self.record.people.staff(sent.staff_id) if sent.staff_id else None
        language = self.staff_language(reader)
        body = sent.body + "\n" + self.staff_render(self.staff_content(footer, language))
        return await self._queue_staff(
            sent.address,
            body,
            self.staff_buttons(buttons, language),
            staff_id=sent.staff_id,
            edits_message_id=sent.id,
        )

    async def reachable_identity(self, guardian_id: str) -> ChannelIdentity | None:
        """The guardian's identity we may write to: verified, consenting, not blocked, not opted
        out. (A Telegram link is consent; an SMS number needs the record's sms_consent.)"""
        identities = await self.record.identities.for_guardian(guardian_id)
        # The channel the family linked most recently wins (a Telegram link made after the
        # practice imported the phone number means the family prefers Telegram).
        identities.sort(
            key=lambda i: (i.verified_at is not None, i.verified_at, i.id), reverse=True
        )
        # A number shared with another guardian comes last: it is theirs first.
        identities += await self.record.identities.shared_with(guardian_id)
        for identity in identities:
            if (
                identity.verified_at
                and identity.consent_at
                and not identity.blocked_at
                and not identity.opted_out_at
            ):
                return identity
        return None

    async def to_guardian(
        self,
        guardian: Guardian,
        parts: list[Msg],
        buttons: tuple[ButtonSpec, ...] = (),
        not_before: datetime | None = None,
        compact: list[Msg] | None = None,
        author_staff_id: str | None = None,
        identity: ChannelIdentity | None = None,
    ) -> int | None:
        """Queue a message on the guardian's channel; None if they cannot be reached.

        ``compact`` is the same message for a channel without buttons, where it should fit one
        text message (the numbered replies are added to it). ``identity``: the guardian's
        reachable identity, when the caller has just looked it up in this transaction.
        """
        identity = identity or await self.reachable_identity(guardian.id)
        if identity is None:
            return None
        if compact is not None and identity.channel in self.numbered_channels:
            parts = compact
        return await self.to_address(
            channel=identity.channel,
            address=identity.address,
            parts=parts,
            language=normalize_language(guardian.language),
            guardian_id=guardian.id,
            buttons=buttons,
            not_before=not_before,
            author_staff_id=author_staff_id,
        )


@dataclass
class Context:
    """One event being handled, inside the transaction that records its effect."""

    event: Inbound
    record: Record
    now: datetime
    practice: Practice
    out: Outgoing
    identity: ChannelIdentity | None
    guardian: Guardian | None
    notice: Msg | None = None
    desk: StaffDesk = field(default_factory=StaffDesk)
    staff: Staff | None = None
    #: Shown at once to the staff member who acted (not stored, not retried).
    shown: list[Section] = field(default_factory=list)
    form: Form | None = None
    form_errors: dict[str, Label] = field(default_factory=dict)
    home: list[Section] | None = None
    #: An address that opted out gets nothing, except the answers to STOP/START/HELP and to an
    #: emergency, whose handlers set this.
    may_answer_opted_out: bool = False
    #: Nothing is to be answered (the provider already answered this message).
    silent: bool = False

    @property
    def language(self) -> str:
        return current_language.get()

    async def audit(self, action: str, entity_type: str, entity_id: str, detail: str = "") -> None:
        """Record that this event's person did ``action`` to a record, now: the staff member
        who acted, else the guardian who wrote, else the system (someone not linked)."""
        if self.staff is not None:
            actor: tuple[ActorType, str] = ("staff", self.staff.id)
        elif self.guardian is not None:
            actor = ("guardian", self.guardian.id)
        else:
            actor = ("system", "unknown")
        await self.record.audit.record(
            actor_type=actor[0],
            actor_id=actor[1],
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            now=self.now,
            detail=detail,
        )

    async def reply(self, *parts: Msg, buttons: tuple[ButtonSpec, ...] = ()) -> int | None:
        """Answer on the channel and address the event came from (None: it opted out, or
        the provider already answered)."""
        if self.silent:
            return None
        if (
            self.identity is not None
            and self.identity.opted_out_at
            and not (self.may_answer_opted_out)
        ):
            return None
        return await self.out.to_address(
            channel=self.event.channel,
            address=self.event.address,
            parts=list(parts),
            language=self.language,
            guardian_id=self.guardian.id if self.guardian else None,
            buttons=buttons,
        )

    def show(self, text: Content, buttons: tuple[StaffButton, ...] = ()) -> None:
        """Show the staff member who acted a note only they see."""
        self.shown.append(Section(text, buttons))

    def localize_screens(self, language: str | None = None) -> None:
        """What the staff member who acted is shown (notes, a form, its errors, the Home
        tab), written in their language (or ``language``): called once the handler is done."""
        language = language or self.language
        out = self.out

        def sections(items: list[Section]) -> list[Section]:
            return [
                Section(out.staff_content(s.text, language), out.staff_buttons(s.buttons, language))
                for s in items
            ]

        self.shown = sections(self.shown)
        if self.home is not None:
            self.home = sections(self.home)
        if self.form is not None:
            self.form = localized_form(self.form, lambda label: out.staff_label(label, language))
        self.form_errors = {
            key: out.staff_label(error, language) for key, error in self.form_errors.items()
        }

    def set_language(self, language: str) -> None:
        current_language.set(normalize_language(language))
