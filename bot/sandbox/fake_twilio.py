"""A local fake of Twilio's Messages API, for tests and the sandbox (port 0, every call kept).

The twilio library talks to it over real HTTP through :class:`bot.channels.sms.RootedHttpClient`,
which sends ``https://api.twilio.com/...`` requests to this server's root instead.
:func:`twilio_signature` signs what the fake (or a test) posts to the bot, as Twilio does;
:func:`signed_form` builds the whole request.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from storage.clock import Clock, SystemClock


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature`` for a form POST of ``params`` to ``url``."""
    signature: str = RequestValidator(auth_token).compute_signature(url, params)
    return signature


def signed_form(
    auth_token: str, url: str, params: dict[str, str], signature: str | None = None
) -> tuple[str, dict[str, str]]:
    """``(body, headers)`` of Twilio's form POST of ``params`` to ``url``, signed (or carrying
    ``signature`` as given, to forge one)."""
    if signature is None:
        signature = twilio_signature(auth_token, url, params)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return urlencode(params), headers


@dataclass
class SentSms:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    status: str = "queued"
    history: list[str] = field(default_factory=list)

    def resource(self, account_sid: str) -> dict[str, Any]:
        """The Message resource as Twilio's API answers it (every documented field)."""
        stamp = format_datetime(self.created_at.astimezone(UTC), usegmt=True)
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": self.body,
            "date_created": stamp,
            "date_sent": None if self.status == "queued" else stamp,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": self.status,
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}/Media.json"
            },
            "to": self.to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{self.sid}.json",
        }


@dataclass
class _Failure:
    status: int
    code: int
    message: str
    retry_after: int | None = None


class FakeTwilio:
    """Messages.json create, with Twilio's errors (21610 opted out, 429, 5xx) on demand."""

    def __init__(
        self,
        account_sid: str | None = None,
        auth_token: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self.account_sid = account_sid or "AC" + secrets.token_hex(16)
        self.auth_token = auth_token or secrets.token_hex(16)
        self.sent: list[SentSms] = []
        self.requests: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self._activity = asyncio.Condition()
        #: Called after a text is sent (the sandbox console listens).
        self.listeners: list[Callable[[], None]] = []
        #: If set, called for each accepted text to report it delivered, as Twilio's status
        #: callback does (the sandbox posts it, signed, to the bot), answering whether the bot
        #: took the report; tests leave it unset.
        self.report_delivery: Callable[[SentSms], Awaitable[bool]] | None = None
        self._reports: set[asyncio.Task[None]] = set()
        self.app = Starlette(
            routes=[
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._create, methods=["POST"]),
                Route("/2010-04-01/Accounts/{sid}/Messages.json", self._list, methods=["GET"]),
            ]
        )

    def now(self) -> datetime:
        """The time by the fake's clock (what it dates messages with)."""
        return self._clock.now()

    async def _deliver(
        self, message: SentSms, report: Callable[[SentSms], Awaitable[bool]]
    ) -> None:
        if await report(message):
            message.status = "delivered"
            message.history.append("delivered")
            for listener in self.listeners:
                listener()

    async def stop_reports(self) -> None:
        """Cancel delivery reports still on their way (the sandbox is stopping)."""
        for task in list(self._reports):
            task.cancel()
        await asyncio.gather(*self._reports, return_exceptions=True)

    def to(self, number: str) -> list[str]:
        """Bodies sent to a number, oldest first."""
        return [m.body for m in self.sent if m.to == number]

    def fail_next(
        self,
        *,
        status: int = 400,
        code: int = 21610,
        message: str = "",
        retry_after: int | None = None,
    ) -> None:
        """The next send fails: 21610 (unsubscribed recipient), or ``status=429`` (code 20429;
        with a ``Retry-After`` header only if ``retry_after`` is given: Twilio documents none)
        or ``503``."""
        self._failures.append(_Failure(status, code, message or f"error {code}", retry_after))

    async def wait_for_sent(self, count: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        await self._wait(lambda: len(self.sent) >= count, timeout)

    async def _wait(self, predicate: Callable[[], bool], seconds: float) -> None:
        async with asyncio.timeout(seconds), self._activity:
            await self._activity.wait_for(predicate)

    def _refused(self, request: Request) -> Response | None:
        expected = (
            "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        )
        if request.headers.get("authorization") != expected:
            return _error(401, 20003, "Authenticate")
        if request.path_params["sid"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        return None

    async def _list(self, request: Request) -> Response:
        """Messages.json read: newest first, filtered by To and From, one page."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        query = request.query_params
        found = [
            m
            for m in reversed(self.sent)
            if m.to == query.get("To", m.to) and m.from_ == query.get("From", m.from_)
        ]
        size = int(query.get("PageSize", "50") or 50)
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json?PageSize={size}&Page=0"
        return JSONResponse(
            {
                "messages": [m.resource(self.account_sid) for m in found[:size]],
                "end": min(size, len(found)) - 1,
                "first_page_uri": uri,
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            }
        )

    async def _create(self, request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        self.requests.append(params)
        refused = self._refused(request)
        if refused is not None:
            return refused
        if self._failures:
            failure = self._failures.pop(0)
            response = _error(failure.status, failure.code, failure.message)
            if failure.retry_after is not None:
                response.headers["Retry-After"] = str(failure.retry_after)
            return response
        if not params.get("To") or not params.get("Body"):
            return _error(400, 21602, "Message body is required.")
        message = SentSms(
            sid="SM" + secrets.token_hex(16),
            to=params["To"],
            from_=params.get("From", ""),
            body=params["Body"],
            status_callback=params.get("StatusCallback"),
            created_at=self._clock.now(),
        )
        async with self._activity:
            self.sent.append(message)
            self._activity.notify_all()
        for listener in self.listeners:
            listener()
        if self.report_delivery is not None and message.status_callback:
            task = asyncio.create_task(self._deliver(message, self.report_delivery))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)
        return JSONResponse(message.resource(self.account_sid), status_code=201)


def _error(status: int, code: int, message: str) -> Response:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )
