"""The one HTTP server: every webhook, plus health and metrics.

Every webhook goes through the same edge, in this order: the size limit (413 past
``CAREBOT_HTTP__MAX_BODY_BYTES``, without reading the rest), authenticity (Telegram's secret
header, Slack's signature over the raw bytes, the SMS provider's check (bot/channels/sms.py:
Twilio's signature over every parameter as posted); 401/403 and nothing written), then the
shape. An authentic request carebot cannot use
is kept as an ``unusable_request`` row (its size and why, never its body) and answered 200, so
the platform does not send it again for ever; only a failure that may pass (the database was
busy) answers 503, which the platforms retry. No request is ever answered 500.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.datastructures import ImmutableMultiDict
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import CareBot
from bot.channels.base import UnusableInput
from bot.channels.slack_requests import NotAuthentic
from bot.channels.sms import EMPTY_REPLY, INBOUND_PATH, REPLY_MEDIA_TYPE, STATUS_PATH
from bot.edge import (
    BodyTooLarge,
    BodyUnreadable,
    declared_size,
    describe_failure,
    is_transient,
    read_body,
)

log = logging.getLogger(__name__)

#: A form as the SMS provider posted it (every parameter, blank ones included, in order).
Form = ImmutableMultiDict[str, str]


def _sms_reply() -> Response:
    return Response(EMPTY_REPLY, media_type=REPLY_MEDIA_TYPE)


def build_web(carebot: CareBot) -> Starlette:
    """The Starlette app serving carebot's endpoints."""
    limit = carebot.settings.http.max_body_bytes

    def starting(channel: str) -> Response:
        """A configured channel that is not up yet (its platform unreachable at start): the
        platform sends the request again later."""
        return PlainTextResponse(
            f"{channel} is starting", status_code=503, headers={"Retry-After": "5"}
        )

    def too_large(channel: str) -> Response:
        log.warning("%s request refused: body over %d bytes", channel, limit)
        carebot.metrics.count_refused(channel, "too-large")
        return PlainTextResponse("request body too large", status_code=413)

    async def guarded(
        channel: str,
        request: Request,
        handle: Callable[[bytes], Awaitable[Response]],
        answer_unusable: Callable[[], Response],
        refuse: Callable[[], Response | None] = lambda: None,
    ) -> Response:
        """The declared size, then ``refuse`` (an authenticity check on the headers alone),
        then the body (size counted as it is read), then the endpoint's own checks and work;
        whatever goes wrong, never a 500."""
        size, event_id = 0, None
        try:
            if declared_size(request) > limit:
                return too_large(channel)
            refused = refuse()
            if refused is not None:
                return refused
            body = await read_body(request, limit)
            size = len(body)
            return await handle(body)
        except BodyTooLarge:
            return too_large(channel)
        except BodyUnreadable as error:
            log.warning("%s request refused: %s", channel, error)
            return PlainTextResponse("bad request", status_code=400)
        except UnusableInput as unusable:
            reason, event_id = str(unusable), unusable.event_id
        except Exception as error:  # noqa: BLE001 - a request must never be answered 500
            if is_transient(error):
                log.warning("%s request failed for now (%s)", channel, describe_failure(error))
                return PlainTextResponse("busy, try again", status_code=503)
            reason = f"failed: {describe_failure(error)}"
            log.error("%s request could not be handled: %s", channel, reason)
        try:
            await carebot.record_unusable(channel, reason, size, event_id)
        except Exception as error:  # noqa: BLE001
            log.error("%s: could not record an unusable request (%s)", channel, error)
            return PlainTextResponse("busy, try again", status_code=503)
        return answer_unusable()

    async def telegram_webhook(request: Request) -> Response:
        telegram = carebot.telegram

        def refuse() -> Response | None:
            if telegram is not None and not telegram.started:
                return starting("telegram")
            secret = carebot.settings.telegram.webhook_secret
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if (
                telegram is not None
                and secret is not None
                and hmac.compare_digest(given.encode(), secret.get_secret_value().encode())
            ):
                return None
            log.warning("telegram webhook refused: bad secret token")
            carebot.metrics.count_refused("telegram", "not-authentic")
            return PlainTextResponse("forbidden", status_code=403)

        async def handle(body: bytes) -> Response:
            assert telegram is not None
            try:
                data = json.loads(body)
            except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
                raise UnusableInput("not JSON") from None
            if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
                raise UnusableInput("not an update (no integer update_id)")
            try:
                outcome = await telegram.handle_update_json(data)
            except UnusableInput as unusable:
                raise UnusableInput(str(unusable), str(data["update_id"])) from None
            carebot.metrics.count_inbound("telegram", duplicate=bool(outcome and outcome.duplicate))
            return PlainTextResponse("ok")

        return await guarded("telegram", request, handle, lambda: PlainTextResponse("ok"), refuse)

    async def slack_events(request: Request) -> Response:
        slack = carebot.slack
        if slack is None:
            return PlainTextResponse("slack is not configured", status_code=404)
        if not slack.started:
            return starting("slack")

        async def handle(body: bytes) -> Response:
            try:
                status, answer, headers = await slack.dispatch(body, request.headers)
            except NotAuthentic:
                log.warning("slack request refused: bad or stale signature")
                carebot.metrics.count_refused("slack", "not-authentic")
                return PlainTextResponse("invalid request", status_code=401)
            carebot.metrics.count_inbound("slack", duplicate=False)
            return Response(answer, status_code=status, headers=headers)

        return await guarded("slack", request, handle, lambda: Response(b"", status_code=200))

    def sms_endpoint(
        path: str, act: Callable[[Form], Awaitable[None]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            sms = carebot.sms
            if sms is None:
                return PlainTextResponse("sms is not configured", status_code=404)

            async def handle(body: bytes) -> Response:
                form = sms.verified_form(path, request.url.query, body, request.headers)
                if form is None:
                    log.warning("sms request refused: bad signature on %s", path)
                    carebot.metrics.count_refused("sms", "not-authentic")
                    return PlainTextResponse("forbidden", status_code=403)
                await act(form)
                return _sms_reply()

            return await guarded("sms", request, handle, _sms_reply)

        return endpoint

    async def sms_inbound(form: Form) -> None:
        assert carebot.sms is not None
        outcome = await carebot.sms.receive(form)
        carebot.metrics.count_inbound("sms", duplicate=bool(outcome and outcome.duplicate))

    async def sms_status(form: Form) -> None:
        assert carebot.sms is not None
        await carebot.delivery_status(carebot.sms.report(form))

    async def healthz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await carebot.db.pragma("user_version")
            checks["database"] = "ok"
        except Exception:  # noqa: BLE001
            checks["database"] = "unreachable"
        checks.update(carebot.channel_health())
        healthy = all(v in ("ok", "started") for v in checks.values())
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "checks": checks},
            status_code=200 if healthy else 503,
        )

    async def metrics(request: Request) -> Response:
        return Response(carebot.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/telegram/webhook", telegram_webhook, methods=["POST"]),
            Route("/slack/events", slack_events, methods=["POST"]),
            Route(INBOUND_PATH, sms_endpoint(INBOUND_PATH, sms_inbound), methods=["POST"]),
            Route(STATUS_PATH, sms_endpoint(STATUS_PATH, sms_status), methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
