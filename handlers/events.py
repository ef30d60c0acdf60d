"""The normalized events handlers see: one inbound shape for every channel."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Inbound(BaseModel):
    """Something a person did on a channel: wrote text or pressed a button.

    Attributes:
        channel: the channel's name, e.g. ``telegram``.
        address: the channel-qualified sender, e.g. ``telegram:123456``.
        event_id: the provider's id for this delivery, used to drop redeliveries.
        text: what the person wrote, if anything.
        choice: the opaque token of a pressed button, if any.
        language_hint: the language the person's app reports (used before we know them).
        provider_message_id: the provider's id of the message, kept in the history.
        staff: True on the staff's channel (Slack): the sender is looked up among the staff.
        conversation: where a staff member wrote (a channel or direct-message id).
        thread: the provider id of the thread's first message, for a reply in a thread.
        action: a staff button's action (``escalation.claim``); staff buttons are not secret:
            the platform signs who pressed them, and the handler checks what they may do.
        value: the staff button's value (e.g. the escalation id).
        form: a submitted form's id (``update``, ``handoff``, ``reassign``).
        fields: the submitted form's values by field id.
        home: the staff member opened the bot's home screen.
        carrier_keywords: the channel's carriers act on STOP/START/HELP (SMS): the bot must
            answer those words as the carriers' rules say, before anything else.
        numbered_replies: the channel has no buttons; "1", "2"… answer the numbered choices of
            the last message that offered some.
        carrier_answered: the provider already acted on a carrier keyword and answered it
            (Twilio's Advanced Opt-Out says ``OptOutType=STOP|START|HELP``): record it, never
            answer it a second time.
        attachment: what the message carried besides text (``photo``, ``sticker``, ``voice``,
            ``media`` for an MMS): carebot reads only text, and says so.
    """

    model_config = ConfigDict(frozen=True)

    channel: str
    address: str
    event_id: str
    text: str | None = None
    choice: str | None = None
    language_hint: str | None = None
    provider_message_id: str | None = None
    staff: bool = False
    conversation: str | None = None
    thread: str | None = None
    action: str | None = None
    value: str = ""
    form: str | None = None
    fields: dict[str, str] = {}
    home: bool = False
    carrier_keywords: bool = False
    numbered_replies: bool = False
    carrier_answered: str | None = None
    attachment: str | None = None

    def command(self) -> tuple[str, str] | None:
        """('/start abc' -> ('start', 'abc')); None if the text is not a command."""
        if not self.text or not self.text.startswith("/"):
            return None
        head, _, rest = self.text[1:].partition(" ")
        name = head.split("@", 1)[0].lower()
        return (name, rest.strip()) if name else None
