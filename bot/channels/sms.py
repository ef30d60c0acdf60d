"""The SMS adapter (Twilio): messages out through the twilio library, webhooks in.

The twilio ``Client`` has no base-URL setting; :class:`RootedHttpClient` sends its requests to
the configured API root (the fake in tests and the sandbox). Inbound messages and delivery
statuses arrive as form posts signed with ``X-Twilio-Signature`` over the public URL.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import aiohttp
from starlette.datastructures import ImmutableMultiDict
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator, get_signature_algorithm
from twilio.rest import Client

from bot.channels.base import (
    FAMILY_CHANNEL_CARRIES,
    Capabilities,
    PermanentFailure,
    RateLimits,
    RecipientOptedOut,
    RetryLater,
    Sent,
    TemporaryFailure,
    UnusableInput,
    retry_after_seconds,
    send_parts,
)
from bot.channels.parts import split_text
from handlers.core.events import DeliveryReport, FamilyText, Inbound
from handlers.core.pipeline import Outcome
from storage.models import OutboundMessage

log = logging.getLogger(__name__)

CHANNEL = "sms"
OPTED_OUT = 21610  # Twilio: the recipient replied STOP to this number
#: A long text goes out in parts of at most this many segments (Twilio's own ceiling is 1,600
#: characters, which it sends as up to ten concatenated segments).
MAX_SEGMENTS = 10
MAX_CHARACTERS = 1600
#: A text whose fate is unknown after a crash is looked for among the latest this many texts
#: to its number, created at most this long before its send began.
LOOKUP_PAGE = 20
#: Twilio's Advanced Opt-Out has already acted on and answered these (``OptOutType``).
OPT_OUT_TYPES = {"STOP": "stop", "START": "start", "HELP": "help"}
LOOKUP_SLACK = timedelta(seconds=60)
#: Twilio's delivery-report statuses -> the record's delivery states (storage stays
#: provider-neutral); a status not listed here is recorded as unusable.
REPORTED_STATUS = {
    "accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "sent",
    "sent": "sent", "delivered": "delivered", "read": "delivered", "undelivered": "failed",
    "failed": "failed", "canceled": "failed", "partially_delivered": "delivered",
}  # fmt: skip


# GSM 03.38: the default alphabet (one septet each) and its extension table (two each).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = "^{}\\[~]|€\f"


def fits_sms(part: str) -> bool:
    """Whether one part of a text is within the ten segments (and 1,600 characters) Twilio
    sends as one message."""
    return len(part) <= MAX_CHARACTERS and segments(part)[0] <= MAX_SEGMENTS


#: Where Twilio posts (INTERFACE.md): a number's inbound texts, and each message's status.
INBOUND_PATH = "/sms/twilio"
STATUS_PATH = "/sms/twilio/status"
#: What every Twilio webhook is answered with when authentic: TwiML that sends nothing back
#: (carebot's answers go out through the outbox, paced and recorded).
EMPTY_REPLY = "<Response/>"
REPLY_MEDIA_TYPE = "text/xml"


def read_form(body: bytes) -> ImmutableMultiDict[str, str]:
    """Twilio's form exactly as posted: every parameter, blank ones included, in order.

    Raises:
        UnusableInput: the body is not URL-encoded UTF-8 (Twilio never sends that, so its
            signature cannot hold either).
    """
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise UnusableInput("not a URL-encoded UTF-8 form") from None
    return ImmutableMultiDict(pairs)


def segments(text: str) -> tuple[int, str]:
    """How many SMS segments ``text`` takes, and its encoding (``GSM-7`` or ``UCS-2``)."""
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        septets = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        return (1 if septets <= 160 else -(-septets // 153)), "GSM-7"
    units = len(text.encode("utf-16-le")) // 2
    return (1 if units <= 70 else -(-units // 67)), "UCS-2"


class TwilioRateLimited(Exception):
    """Twilio answered 429 (code 20429): raised by :class:`RateAwareHttpClient` with the
    response's ``Retry-After``, which the twilio library's exception does not carry."""

    def __init__(self, retry_after: float | None) -> None:
        super().__init__("twilio 429")
        self.retry_after = retry_after


class RateAwareHttpClient(AsyncTwilioHttpClient):
    """Twilio's async HTTP client, raising :class:`TwilioRateLimited` on a 429.

    Twilio's documentation for 20429 says to retry after backing off and promises no
    ``Retry-After``; when a response carries one, the outbox waits exactly that long.
    """

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        response = await super().request(*args, **kwargs)
        if response.status_code == 429:
            headers = response.headers or {}
            raise TwilioRateLimited(retry_after_seconds(headers.get("Retry-After")))
        return response


class RootedHttpClient(RateAwareHttpClient):
    """Twilio's async HTTP client, with every request sent to ``root`` instead of Twilio."""

    def __init__(self, root: str) -> None:
        super().__init__(timeout=15)
        parts = urlsplit(root.rstrip("/"))
        self._scheme, self._netloc, self._prefix = parts.scheme, parts.netloc, parts.path

    async def request(
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
    capabilities = Capabilities(
        supports_buttons=False,
        supports_threads=False,
        max_length=MAX_SEGMENTS,
        length_unit="segments",
        fits=fits_sms,
        carries=FAMILY_CHANNEL_CARRIES,
    )

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_url: str | None,
        public_url: str,
        handle: Callable[[Inbound], Awaitable[Outcome]],
        limits: RateLimits | None = None,
        shared_key: str | None = None,
    ) -> None:
        self._sid = account_sid
        self._token = auth_token
        self._from = from_number
        self._api_url = api_url
        self.public_url = public_url.rstrip("/")
        self._handle = handle
        self._validator = RequestValidator(auth_token)
        self._shared = RequestValidator(shared_key) if shared_key else None
        self.limits = limits or RateLimits(max_per_second=1, per_address_interval=1.0)
        self._http: AsyncTwilioHttpClient | None = None
        self.client: Client | None = None
        self.started = False

    async def start(self) -> None:
        self._http = RootedHttpClient(self._api_url) if self._api_url else RateAwareHttpClient()
        self.client = Client(self._sid, self._token, http_client=self._http)
        self.started = True

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
        self.started = False

    def verified_form(
        self, path: str, query: str, body: bytes, headers: Mapping[str, str]
    ) -> ImmutableMultiDict[str, str] | None:
        """The form Twilio posted to ``path``, exactly as posted, if Twilio signed it (its
        ``X-Twilio-Signature``, or a Webhook Rule's shared key); None if not, or if the body
        is not a form (Twilio never sends that, so no signature can hold)."""
        try:
            form = read_form(body)
        except UnusableInput:
            return None
        signature = headers.get("X-Twilio-Signature", "")
        settings = headers.get("X-Twilio-Webhooks-Signature-Settings", "")
        return form if self.signed(path, query, form, signature, settings) else None

    def signed(
        self,
        path: str,
        query: str,
        form: ImmutableMultiDict[str, str],
        signature: str,
        signature_settings: str = "",
    ) -> bool:
        """Whether Twilio signed this form post to ``public_url + path`` (with its query
        string, if the URL Twilio was given had one), over every parameter as posted.

        With the Auth Token (HMAC-SHA1) by default; with the configured shared key and the
        algorithm Twilio names when a Webhook Rule signs with a shared key (it says so in
        ``X-Twilio-Webhooks-Signature-Settings``).
        """
        if not signature:
            return False
        url = self.public_url + path + (f"?{query}" if query else "")
        if not signature_settings:
            return bool(self._validator.validate(url, form, signature))
        if self._shared is None:
            log.warning(
                "twilio signed with a shared key; set CAREBOT_SMS__WEBHOOK_SHARED_KEY to accept it"
            )
            return False
        algorithm = get_signature_algorithm(signature_settings)
        return bool(self._shared.validate(url, form, signature, algorithm=algorithm))

    def report(self, form: ImmutableMultiDict[str, str]) -> DeliveryReport:
        """A status callback as the record's words: which message, its delivery state, the
        error code, and whether the recipient opted out (Twilio's 21610).

        Raises:
            UnusableInput: no message id, or a status Twilio does not document.
        """
        sid, status = form.get("MessageSid", ""), form.get("MessageStatus", "")
        state = REPORTED_STATUS.get(status)
        if not sid or state is None:
            raise UnusableInput("status callback without a message id or a known status")
        code = form.get("ErrorCode") or None
        return DeliveryReport(
            channel=CHANNEL,
            address=f"{CHANNEL}:{form.get('To', '')}",
            event_id=f"{sid}:{status}",
            provider_message_id=sid,
            status=state,
            error=code,
            opted_out=code == str(OPTED_OUT),
        )

    async def receive(self, form: ImmutableMultiDict[str, str]) -> Outcome | None:
        """An inbound text (already verified) through the pipeline.

        Raises:
            UnusableInput: the form has no sender or message id.
        """
        sender, sid = form.get("From", ""), form.get("MessageSid", "")
        if not sender or not sid:
            raise UnusableInput("inbound message without From or MessageSid")
        media = form.get("NumMedia", "0")
        return await self._handle(
            FamilyText(
                channel=CHANNEL,
                address=f"{CHANNEL}:{sender}",
                event_id=sid,
                text=form.get("Body", ""),
                provider_message_id=sid,
                carrier_keywords=True,
                numbered_replies=True,
                attachment="media" if media.isdigit() and int(media) > 0 else None,
                carrier_answered=OPT_OUT_TYPES.get(form.get("OptOutType", "").upper()),
            )
        )

    async def send(self, message: OutboundMessage) -> Sent:
        """Send a text in parts of at most ten segments each, in order."""
        assert self.client is not None
        to = message.address.split(":", 1)[1]
        client = self.client

        async def one(text: str, last: bool) -> str:
            try:
                sent = await client.messages.create_async(
                    to=to,
                    from_=self._from,
                    body=text,
                    status_callback=f"{self.public_url}/sms/twilio/status",
                )
            except TwilioRateLimited as error:
                raise RetryLater(error.retry_after, "rate limited (429)") from error
            except TwilioRestException as error:
                raise _delivery_error(error) from error
            except (aiohttp.ClientError, TimeoutError) as error:
                raise TemporaryFailure(type(error).__name__) from error
            return str(sent.sid)

        return await send_parts(message, self.capabilities, one)

    async def find_sent(self, message: OutboundMessage) -> str | None:
        """Whether Twilio has this text already (its fate was unknown after a crash): the
        latest texts to the number, matched on the first part's words and creation time."""
        assert self.client is not None
        to = message.address.split(":", 1)[1]
        first = split_text(message.body, fits_sms)[0]
        since = (message.sending_at or datetime.min.replace(tzinfo=UTC)) - LOOKUP_SLACK
        try:
            latest = await self.client.messages.list_async(
                to=to, from_=self._from, limit=LOOKUP_PAGE, page_size=LOOKUP_PAGE
            )
        except TwilioRateLimited as error:
            raise RetryLater(error.retry_after, "rate limited (429)") from error
        except TwilioRestException as error:
            raise _delivery_error(error) from error
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TemporaryFailure(type(error).__name__) from error
        for found in latest:
            created = found.date_created
            if found.body == first and (created is None or created >= since):
                return str(found.sid)
        return None


def _delivery_error(error: TwilioRestException) -> Exception:
    if error.code == OPTED_OUT:
        return RecipientOptedOut("recipient opted out (21610)")
    if error.status == 429 or error.code == 20429:
        return RetryLater(None, "rate limited (429)")  # how long, Twilio did not say
    if error.status >= 500:
        return TemporaryFailure(f"twilio {error.status}")
    return PermanentFailure(f"twilio {error.code}")
