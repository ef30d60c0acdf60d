"""The SMS adapter (Twilio): messages out through the twilio library, webhooks in.

The twilio ``Client`` has no base-URL setting; :class:`RootedHttpClient` sends its requests to
the configured API root (the fake in tests and the sandbox). Inbound messages and delivery
statuses arrive as form posts signed with ``X-Twilio-Signature`` over the public URL.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from bot.channels.base import (
    Capabilities,
    PermanentFailure,
    RateLimits,
    RecipientOptedOut,
    RetryLater,
    TemporaryFailure,
)
from handlers.events import Inbound
from handlers.pipeline import Outcome
from storage.models import OutboundMessage

log = logging.getLogger(__name__)

CHANNEL = "sms"
OPTED_OUT = 21610  # Twilio: the recipient replied STOP to this number


# GSM 03.38: the default alphabet (one septet each) and its extension table (two each).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"


def segments(text: str) -> tuple[int, str]:
    """How many SMS segments ``text`` takes, and its encoding (``GSM-7`` or ``UCS-2``)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        septets = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return (1 if septets <= 160 else -(-septets // 153)), "GSM-7"
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else -(-units // 67)), "UCS-2"


class RootedHttpClient(AsyncTwilioHttpClient):
    """Twilio's async HTTP client, with every request sent to ``root`` instead of Twilio."""

    def __init__(self, root: str) -> None:
        super().__init__(timeout=15)
        parts = urlsplit(root.rstrip("/"))
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path

    async def request(  # type: ignore[override]
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> Response:
        parts = urlsplit(url)
        rooted = urlunsplit(
            (self._scheme, self._netloc, self._prefix + parts.path, parts.query, "")
        )
        if auth is not None:
            # The Authorization header directly: aiohttp 3.12+ deprecates the BasicAuth object
            # the twilio library would build.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        return await super().request(
            method, rooted, params=params, data=data, headers=headers, auth=None, **kwargs
        )


class SmsChannel:
    """Sends and receives text messages through Twilio."""

    name = CHANNEL
    capabilities = Capabilities(supports_buttons=False, supports_threads=False, max_length=1600)

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_url: str | None,
        public_url: str,
        handle: Callable[[Inbound], Awaitable[Outcome]],
        limits: RateLimits | None = None,
    ) -> None:
        self._sid = account_sid
        self._token = auth_token
        self._from = from_number
        self._api_url = api_url
        self.public_url = public_url.rstrip("/")
        self._handle = handle
        self._validator = RequestValidator(auth_token)
        self.limits = limits or RateLimits(max_per_second=1, per_address_interval=1.0)
        self._http: AsyncTwilioHttpClient | None = None
        self.client: Client | None = None
        self.started = False

    async def start(self) -> None:
        self._http = RootedHttpClient(self._api_url) if self._api_url else AsyncTwilioHttpClient()
        self.client = Client(self._sid, self._token, http_client=self._http)
        self.started = True

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.started = False

    def signed(self, path: str, params: dict[str, str], signature: str) -> bool:
        """Whether Twilio signed this form post to ``public_url + path``."""
        return bool(signature) and self._validator.validate(
            self.public_url + path, params, signature
        )

    async def receive(self, params: dict[str, str]) -> Outcome | None:
        """An inbound text (already verified) through the pipeline."""
        sender, sid = params.get("From", ""), params.get("MessageSid", "")
        if not sender or not sid:
            return None
        return await self._handle(
            Inbound(
                channel=CHANNEL,
                address=f"{CHANNEL}:{sender}",
                event_id=sid,
                text=params.get("Body", ""),
                provider_message_id=sid,
                carrier_keywords=True,
                numbered_replies=True,
            )
        )

    async def send(self, message: OutboundMessage) -> str:
        assert self.client is not None
        to = message.address.split(":", 1)[1]
        try:
            sent = await self.client.messages.create_async(
                to=to,
                from_=self._from,
                body=message.body[: self.capabilities.max_length],
                status_callback=f"{self.public_url}/sms/twilio/status",
            )
        except TwilioRestException as error:
            if error.code == OPTED_OUT:
                raise RecipientOptedOut("recipient opted out (21610)") from error
            if error.status == 429:
                raise RetryLater(5, "rate limited (429)") from error
            if error.status >= 500:
                raise TemporaryFailure(f"twilio {error.status}") from error
            raise PermanentFailure(f"twilio {error.code}") from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TemporaryFailure(type(error).__name__) from error
        return str(sent.sid)
