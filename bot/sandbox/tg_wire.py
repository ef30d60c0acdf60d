"""The Bot API wire format, as seen by a server: decoding requests and shaping replies.

python-telegram-bot (and most clients) POST ``application/x-www-form-urlencoded`` forms, or
``multipart/form-data`` when files are uploaded. String values are sent as they are; every other
value (ints, bools, lists, objects such as ``reply_markup``) is JSON-encoded. A form therefore
cannot tell ``text="42"`` from ``chat_id=42``: like the real server, the decoder relies on the
parameter's documented type, keeping :data:`STRING_PARAMS` as text and JSON-decoding the rest.
``application/json`` bodies and query strings are accepted too.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

#: Parameters the Bot API types as String: never JSON-decoded, whatever they look like.
STRING_PARAMS: frozenset[str] = frozenset(
    {
        "action",
        "address",
        "business_connection_id",
        "callback_query_id",
        "caption",
        "currency",
        "custom_emoji_id",
        "custom_title",
        "description",
        "emoji",
        "error_message",
        "explanation",
        "explanation_parse_mode",
        "file_id",
        "first_name",
        "foursquare_id",
        "foursquare_type",
        "game_short_name",
        "gift_id",
        "google_place_id",
        "google_place_type",
        "inline_message_id",
        "inline_query_id",
        "ip_address",
        "language_code",
        "last_name",
        "message_effect_id",
        "name",
        "next_offset",
        "parse_mode",
        "payload",
        "phone_number",
        "pre_checkout_query_id",
        "provider_token",
        "query",
        "question",
        "question_parse_mode",
        "secret_token",
        "shipping_query_id",
        "short_description",
        "start_parameter",
        "sticker_set_name",
        "telegram_payment_charge_id",
        "text",
        "text_parse_mode",
        "title",
        "url",
        "vcard",
        "web_app_query_id",
    }
)


def _reject_constant(token: str) -> Any:
    """Refuse ``NaN``/``Infinity``: JSON has no such values, so the text stays text."""
    raise ValueError(token)


def decode_value(name: str, value: Any) -> Any:
    """One parameter as a plain Python value, JSON-decoding text unless ``name`` is a string."""
    if not isinstance(value, str) or name in STRING_PARAMS:
        return value
    try:
        return json.loads(value, parse_constant=_reject_constant)
    except ValueError:
        return value


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a ``multipart/form-data`` request."""

    filename: str
    content_type: str
    data: bytes


def parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """The fields of a ``multipart/form-data`` body; file parts become :class:`UploadedFile`."""
    head = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        raw = part.get_payload(decode=True)
        data = raw if isinstance(raw, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            fields[name] = UploadedFile(filename, part.get_content_type(), data)
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8")
    return fields


async def read_params(request: Request) -> dict[str, Any]:
    """All parameters of a Bot API request (query string and body), decoded.

    Raises:
        ApiError: a body that is not valid JSON, form or multipart data.
    """
    raw: dict[str, Any] = dict(request.query_params)
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        if media_type == "application/json" and body:
            decoded = json.loads(body)
            if not isinstance(decoded, dict):
                raise ValueError("JSON body must be an object")
            raw.update(decoded)
        elif media_type == "multipart/form-data":
            raw.update(parse_multipart(content_type, body))
        elif body:
            raw.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"Bad Request: can't parse request body: {exc}") from None
    return {name: decode_value(name, value) for name, value in raw.items()}


DEFAULT_DESCRIPTIONS: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """A Bot API error reply: HTTP status, description and optional ``retry_after``."""

    def __init__(
        self, status: int, description: str | None = None, *, retry_after: int | None = None
    ) -> None:
        if status == 429 and retry_after is None:
            retry_after = 1
        template = DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        self.status = status
        self.retry_after = retry_after
        self.description = description or template.format(retry_after=retry_after)
        super().__init__(f"{status} {self.description}")

    def payload(self) -> dict[str, Any]:
        """The error body exactly as the real API shapes it."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body

    def response(self) -> JSONResponse:
        """The error as an HTTP response."""
        return JSONResponse(self.payload(), status_code=self.status)


def ok_response(result: Any, description: str | None = None) -> JSONResponse:
    """A successful reply, ``{"ok": true, "result": ...}``."""
    body: dict[str, Any] = {"ok": True, "result": result}
    if description is not None:
        body["description"] = description
    return JSONResponse(body)


async def wait_unless_disconnected(request: Request, event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; False as soon as the HTTP client disconnects.

    Once the body is read, the ASGI ``receive`` only returns on ``http.disconnect``.
    """
    woken = asyncio.ensure_future(event.wait())
    hung_up = asyncio.ensure_future(request.receive())
    try:
        done, _ = await asyncio.wait(
            {woken, hung_up}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        for task in (woken, hung_up):
            task.cancel()
        await asyncio.gather(woken, hung_up, return_exceptions=True)
    return hung_up not in done
