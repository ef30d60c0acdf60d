"""The one HTTP server: every webhook, plus health and metrics."""

from __future__ import annotations

import hmac
import json
import logging
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.app import CareBot

log = logging.getLogger(__name__)


def build_web(carebot: CareBot) -> Starlette:
    """The Starlette app serving carebot's endpoints."""

    async def telegram_webhook(request: Request) -> Response:
        secret = carebot.settings.telegram.webhook_secret
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if (
            carebot.telegram is None
            or secret is None
            or not hmac.compare_digest(given.encode(), secret.get_secret_value().encode())
        ):
            log.warning("telegram webhook refused: bad secret token")
            return PlainTextResponse("forbidden", status_code=403)
        try:
            data = json.loads(await request.body())
            if not isinstance(data, dict) or "update_id" not in data:
                raise ValueError("not an update")
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
        try:
            outcome = await carebot.telegram.handle_update_json(data)
        except Exception:  # noqa: BLE001 - answer 500 so Telegram delivers it again
            log.exception("telegram update %s failed", data.get("update_id"))
            return PlainTextResponse("error", status_code=500)
        carebot.metrics.count_inbound("telegram", duplicate=bool(outcome and outcome.duplicate))
        return PlainTextResponse("ok")

    async def slack_events(request: Request) -> Response:
        if carebot.slack is None or not carebot.slack.started:
            return PlainTextResponse("slack is not configured", status_code=404)
        status, body, headers = await carebot.slack.dispatch(
            await request.body(), dict(request.headers)
        )
        if status == 401:
            log.warning("slack request refused: bad or stale signature")
        carebot.metrics.count_inbound("slack", duplicate=False)
        return Response(body, status_code=status, headers=headers)

    async def sms_form(request: Request, path: str) -> dict[str, str] | None:
        """The form Twilio posted, if its signature over the public URL holds."""
        if carebot.sms is None:
            return None
        params = {k: v[-1] for k, v in parse_qs((await request.body()).decode()).items()}
        if not carebot.sms.signed(path, params, request.headers.get("X-Twilio-Signature", "")):
            log.warning("twilio request refused: bad signature on %s", path)
            return None
        return params

    async def sms_inbound(request: Request) -> Response:
        params = await sms_form(request, "/sms/twilio")
        if params is None:
            return PlainTextResponse("forbidden", status_code=403)
        assert carebot.sms is not None
        try:
            outcome = await carebot.sms.receive(params)
        except Exception:  # noqa: BLE001 - 500: Twilio retries the webhook
            log.exception("sms %s failed", params.get("MessageSid"))
            return PlainTextResponse("error", status_code=500)
        carebot.metrics.count_inbound("sms", duplicate=bool(outcome and outcome.duplicate))
        return Response("<Response/>", media_type="text/xml")

    async def sms_status(request: Request) -> Response:
        params = await sms_form(request, "/sms/twilio/status")
        if params is None:
            return PlainTextResponse("forbidden", status_code=403)
        await carebot.delivery_status(
            "sms",
            params.get("MessageSid", ""),
            params.get("MessageStatus", ""),
            params.get("ErrorCode") or None,
        )
        return Response("<Response/>", media_type="text/xml")

    async def healthz(request: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await carebot.db.pragma("user_version")
            checks["database"] = "ok"
        except Exception:  # noqa: BLE001
            checks["database"] = "unreachable"
        if carebot.telegram is not None:
            checks["telegram"] = "started" if carebot.telegram.started else "stopped"
        if carebot.slack is not None:
            checks["slack"] = "started" if carebot.slack.started else "stopped"
        if carebot.sms is not None:
            checks["sms"] = "started" if carebot.sms.started else "stopped"
        healthy = checks["database"] == "ok" and all(
            v in ("ok", "started") for v in checks.values()
        )
        return JSONResponse(
            {"status": "ok" if healthy else "unhealthy", "checks": checks},
            status_code=200 if healthy else 503,
        )

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(
            carebot.metrics.render(carebot.outbox.totals),
            media_type="text/plain; version=0.0.4",
        )

    return Starlette(
        routes=[
            Route("/telegram/webhook", telegram_webhook, methods=["POST"]),
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/sms/twilio", sms_inbound, methods=["POST"]),
            Route("/sms/twilio/status", sms_status, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )
