"""What every channel adapter offers the outbox, and the errors it may raise when sending."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from storage.models import OutboundMessage


@dataclass(frozen=True)
class Capabilities:
    """What a channel can carry; renderers degrade what it cannot (buttons -> numbered replies)."""

    supports_buttons: bool
    supports_threads: bool
    max_length: int


@dataclass(frozen=True)
class RateLimits:
    """How fast a channel may send: overall, and to any one address."""

    max_per_second: float
    per_address_interval: float


class DeliveryError(Exception):
    """A send did not succeed; the subclass says what the outbox should do."""


class RetryLater(DeliveryError):
    """The platform asked us to slow down (e.g. Telegram 429 with retry_after)."""

    def __init__(self, retry_after: float, detail: str = "") -> None:
        super().__init__(detail or f"retry after {retry_after}s")
        self.retry_after = retry_after


class TemporaryFailure(DeliveryError):
    """A network error or a server error: try again with backoff."""


class RecipientUnreachable(DeliveryError):
    """The recipient blocked us or opted out: stop writing to this address."""


class RecipientOptedOut(RecipientUnreachable):
    """The provider says the recipient opted out (e.g. Twilio 21610): record the opt-out."""


class PermanentFailure(DeliveryError):
    """The platform refused this message for good (e.g. 400 Bad Request)."""


class ChannelAdapter(Protocol):
    """Translates outbound messages into one platform's API calls."""

    name: str
    capabilities: Capabilities
    limits: RateLimits

    async def send(self, message: OutboundMessage) -> str:
        """Send one message; return the provider's message id or raise a DeliveryError."""
        ...
