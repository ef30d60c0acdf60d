"""What every channel adapter offers the outbox, and the errors it may raise when sending."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

from bot.channels.parts import split_text
from storage.models import OutboundMessage

#: What a message to a family may carry, by the names of what it is made of, on every family
#: channel (Telegram as much as SMS: a chat can be read over a shoulder, a phone shared): first
#: names, dates and times, the practice's name and phone, counts (tries left), numbered
#: choices, and the words the practice's own staff chose to send. Anything else (a service, a
#: location, a clinician's discipline, a date of birth) is refused by the outbox; anything
#: clinical goes behind a verified link.
FAMILY_CHANNEL_CARRIES = frozenset(
    {"practice", "phone", "guardian", "child", "name", "date", "time", "opening", "hours",
     "state", "text", "intro", "how", "left", "line", "choice", "visit"}
)  # fmt: skip


@dataclass(frozen=True)
class Capabilities:
    """What a channel can carry; renderers degrade what it cannot (buttons -> numbered replies).

    ``max_length`` is counted in ``length_unit`` (Telegram: UTF-16 code units; SMS: segments);
    ``fits`` says whether one part of a message does. A longer message goes out in parts.
    ``carries``: what a message on it may reveal (:data:`FAMILY_CHANNEL_CARRIES`), or None
    for anything (the staff's own workspace).
    """

    supports_buttons: bool
    supports_threads: bool
    max_length: int
    length_unit: str
    fits: Callable[[str], bool]
    carries: frozenset[str] | None = None

    def refuses(self, reveals: frozenset[str]) -> frozenset[str]:
        """What of ``reveals`` a message on this channel may not carry (empty: it may go)."""
        return frozenset() if self.carries is None else reveals - self.carries


@dataclass(frozen=True)
class RateLimits:
    """How fast a channel may send: overall, and to any one address."""

    max_per_second: float
    per_address_interval: float


class DeliveryError(Exception):
    """A send did not succeed; the subclass says what the outbox should do."""


class RetryLater(DeliveryError):
    """The platform asked us to slow down (a 429): for ``retry_after`` seconds (Telegram's
    ``parameters.retry_after``, a ``Retry-After`` header), or None when it did not say (the
    outbox then backs off)."""

    def __init__(self, retry_after: float | None, detail: str = "") -> None:
        said = f"retry after {retry_after}s" if retry_after is not None else "rate limited"
        super().__init__(detail or said)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds: delay-seconds or an HTTP-date (RFC 9110); None if
    there is none or it cannot be read."""
    if not value:
        return None
    try:
        return max(float(value.strip()), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class TemporaryFailure(DeliveryError):
    """A network error or a server error: try again with backoff."""


class RecipientUnreachable(DeliveryError):
    """The recipient blocked us or opted out: stop writing to this address."""


class RecipientOptedOut(RecipientUnreachable):
    """The provider says the recipient opted out (e.g. Twilio 21610): record the opt-out."""


class PermanentFailure(DeliveryError):
    """The platform refused this message for good (e.g. 400 Bad Request)."""


class PartlySent(DeliveryError):
    """Some parts of a long message went out before ``cause`` stopped the rest."""

    def __init__(self, parts_sent: int, first_provider_id: str | None, cause: DeliveryError):
        super().__init__(str(cause))
        self.parts_sent = parts_sent
        self.first_provider_id = first_provider_id
        self.cause = cause


class ChannelAdapter(Protocol):
    """Translates outbound messages into one platform's API calls."""

    name: str
    capabilities: Capabilities
    limits: RateLimits

    async def send(self, message: OutboundMessage) -> Sent:
        """Send one message (its parts from ``message.parts_sent`` on); raise a DeliveryError
        (:class:`PartlySent` when some parts went out first)."""
        ...


@dataclass(frozen=True)
class Sent:
    """What a send returns: the provider's id of the first part, and how many parts in all."""

    provider_id: str
    parts: int = 1


@runtime_checkable
class LooksUpSent(Protocol):
    """A channel whose provider can say whether a message already went out (Twilio's message
    list): a message whose fate is unknown after a crash is looked up before it is re-sent."""

    async def find_sent(self, message: OutboundMessage) -> str | None:
        """The provider's id of this message if the provider has it, else None.

        Raises:
            DeliveryError: the provider could not be asked (the message is then re-sent).
        """
        ...


async def send_parts(
    message: OutboundMessage,
    capabilities: Capabilities,
    send_one: Callable[[str, bool], Awaitable[str]],
    split: Callable[[str], list[str]] | None = None,
) -> Sent:
    """Send ``message`` in parts that fit the channel, from the first one not yet out; the
    last part carries the buttons (``send_one(text, is_last)`` returns the provider's id)."""
    parts = (split or (lambda body: split_text(body, capabilities.fits)))(message.body)
    first = message.provider_message_id
    for index in range(message.parts_sent, len(parts)):
        try:
            provider_id = await send_one(parts[index], index == len(parts) - 1)
        except DeliveryError as error:
            if index > message.parts_sent:
                raise PartlySent(index, first, error) from error
            raise
        if index == 0 or first is None:
            first = provider_id
    assert first is not None
    return Sent(first, len(parts))


class UnusableInput(Exception):
    """An authentic request carebot cannot use (its shape, its encoding): recorded, answered so
    that the platform does not send it again. The message says why, never what it held;
    ``event_id`` is the provider's id for it, when one could be read."""

    def __init__(self, reason: str, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.event_id = event_id
