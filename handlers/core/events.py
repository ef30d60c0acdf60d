"""The events handlers see: one frozen type per thing a person can do, each with only its own
fields.

A channel adapter translates a platform payload into exactly one of these; the router picks
the handlers by the event's type (never by which optional fields happen to be set), and a
handler declares the type it takes. A new kind of event is a new class here, a new observer
in :mod:`handlers.core.router`, and the adapters that produce it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """What every event carries.

    Attributes:
        channel: the channel's name, e.g. ``telegram``.
        address: the channel-qualified sender, e.g. ``telegram:123456``.
        event_id: the provider's id for this delivery, used to drop redeliveries.
        provider_message_id: the provider's id of the message, kept in the history.
    """

    model_config = ConfigDict(frozen=True)

    channel: str
    address: str
    event_id: str
    provider_message_id: str | None = None

    def history(self) -> str:
        """What the conversation history keeps of this event (never an attachment itself)."""
        return f"[{type(self).__name__}]"


# -- a family's events (Telegram, SMS) ---------------------------------------------------------


class FamilyEvent(Event):
    """Something a family member did. ``language_hint``: the language their app reports
    (used before we know them)."""

    language_hint: str | None = None


class FamilyText(FamilyEvent):
    """A family member wrote something (a command such as ``/start abc`` is text too).

    Attributes:
        carrier_keywords: the channel's carriers act on STOP/START/HELP (SMS): the bot must
            answer those words as the carriers' rules say, before anything else.
        numbered_replies: the channel has no buttons; "1", "2"… answer the numbered choices of
            the last message that offered some.
        carrier_answered: the provider already acted on a carrier keyword and answered it
            (``STOP``, ``START`` or ``HELP``): record it, never answer it a second time.
        attachment: what the message carried besides text (``photo``, ``sticker``, ``voice``,
            ``media`` for an MMS): carebot reads only text, and says so.
    """

    text: str
    attachment: str | None = None
    carrier_keywords: bool = False
    numbered_replies: bool = False
    carrier_answered: str | None = None

    def command(self) -> tuple[str, str] | None:
        """('/start abc' -> ('start', 'abc')); None if the text is not a command."""
        return command_of(self.text)

    def history(self) -> str:
        if self.attachment is not None:
            return f"[{self.attachment}] {self.text}".rstrip()
        return self.text


class ButtonPressed(FamilyEvent):
    """A family member pressed a button (or answered a numbered choice on SMS): ``choice`` is
    the button's opaque token, which anyone could forge; the chain checks it is theirs."""

    choice: str
    #: The provider's id of the message the button was on (Telegram's), so that message can
    #: be changed once answered; None where the channel has no such thing (SMS numbers).
    on_message: str | None = None

    def history(self) -> str:
        return "[button]"


# -- a staff member's events (Slack) -----------------------------------------------------------


class StaffEvent(Event):
    """Something a staff member did; the chain looks them up among the staff first.
    ``conversation``: where they did it (a channel or direct-message id)."""

    conversation: str | None = None


class StaffCommand(StaffEvent):
    """``/carebot <subcommand> ...`` (or the same words written to the bot directly)."""

    text: str

    def history(self) -> str:
        return self.text


class StaffAction(StaffEvent):
    """A staff button. Staff buttons are not secret: the platform signs who pressed them, and
    the handler checks what they may do. ``value``: e.g. the escalation id."""

    action: str
    value: str = ""

    def history(self) -> str:
        return f"[{self.action}]"


class FormSubmitted(StaffEvent):
    """A submitted form: its id (``update``, ``handoff``, ``reassign``), what the form was
    opened with (``value``) and the values by field id."""

    form: str
    value: str = ""
    fields: dict[str, str] = {}

    def history(self) -> str:
        return f"[{self.form}]"


class ThreadReply(StaffEvent):
    """A staff member wrote in a thread; ``thread`` is the provider id of its first message."""

    text: str
    thread: str
    attachment: str | None = None

    def history(self) -> str:
        return self.text


class HomeOpened(StaffEvent):
    """A staff member opened the bot's home screen."""

    def history(self) -> str:
        return "[home]"


# -- what a platform reports about a message carebot sent --------------------------------------


class DeliveryReport(Event):
    """A provider's word on a message carebot sent (``provider_message_id``): ``status`` in the
    record's words (``sent``, ``delivered``, ``failed``...), the provider's error code if any,
    and whether it says the recipient opted out. The outbox settles it, not handlers."""

    status: str
    error: str | None = None
    opted_out: bool = False


FamilyInbound = FamilyText | ButtonPressed
StaffInbound = StaffCommand | StaffAction | FormSubmitted | ThreadReply | HomeOpened
#: The events the pipeline takes: what the adapters produce from people's doings.
Inbound = FamilyInbound | StaffInbound
FAMILY_EVENTS = (FamilyText, ButtonPressed)
STAFF_EVENTS = (StaffCommand, StaffAction, FormSubmitted, ThreadReply, HomeOpened)


def command_of(text: str | None) -> tuple[str, str] | None:
    """('/start abc' -> ('start', 'abc')); None if the text is not a command."""
    if not text or not text.startswith("/"):
        return None
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    return (name, rest.strip()) if name else None
