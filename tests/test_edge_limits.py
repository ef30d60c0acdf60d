"""The size limit at the edge of every webhook (bot/edge.py, bot/web.py), over real HTTP: a
declared ``Content-Length`` past ``CAREBOT_HTTP__MAX_BODY_BYTES`` is answered 413 before the
body is read, a chunked body is cut off as soon as it passes the limit, and a body exactly at
the limit is read (and then judged as any other)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import urlencode

import pytest

from bot.config import HttpSettings
from bot.sandbox.fake_twilio import twilio_signature
from bot.sandbox.slack_signing import sign
from bot.sandbox.twilio_forms import inbound_form, status_form
from storage.clock import FakeClock
from tests.channels.conftest import SECRET
from tests.channels.stacks import PUBLIC, SLACK_SIGNING, SMS_FROM, AllChannels, all_channels

LIMIT = 4096  # the smallest limit the settings allow
ANA = "+15551230001"
ENDPOINTS = ["/telegram/webhook", "/slack/events", "/sms/twilio", "/sms/twilio/status"]
CONTENT_TYPE = {
    "/telegram/webhook": "application/json",
    "/slack/events": "application/json",
    "/sms/twilio": "application/x-www-form-urlencoded",
    "/sms/twilio/status": "application/x-www-form-urlencoded",
}


@pytest.fixture
async def edge(tmp_path: Path, clock: FakeClock) -> AsyncIterator[AllChannels]:
    async with all_channels(
        tmp_path / "carebot.db", clock, http=HttpSettings(max_body_bytes=LIMIT)
    ) as stack:
        yield stack


async def written(stack: AllChannels) -> tuple[object, ...]:
    h = stack.harness
    return (
        await h.scalar("SELECT COUNT(*) FROM message"),
        await h.scalar("SELECT COUNT(*) FROM inbound_event"),
        await h.scalar("SELECT COUNT(*) FROM unusable_request"),
    )


def authentic_headers(path: str) -> dict[str, str]:
    """Headers that pass the checks made before the body is read (Telegram's secret)."""
    return {"X-Telegram-Bot-Api-Secret-Token": SECRET} if path == "/telegram/webhook" else {}


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response: status, headers (lower-case), body."""
    status_line = await reader.readline()
    assert status_line.startswith(b"HTTP/1.1 "), status_line
    headers: dict[str, str] = {}
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


def request_head(stack: AllChannels, path: str, extra: dict[str, str]) -> bytes:
    host, port = stack.host_port
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Type: {CONTENT_TYPE[path]}",
        *(f"{name}: {value}" for name, value in {**authentic_headers(path), **extra}.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_declared_length_past_the_limit_is_refused_without_reading_the_body(
    edge: AllChannels, path: str
) -> None:
    """100 MiB declared, a dozen bytes sent: the answer comes at once, so nothing waited for
    (or read) the rest."""
    before = await written(edge)
    reader, writer = await asyncio.open_connection(*edge.host_port)
    try:
        writer.write(request_head(edge, path, {"Content-Length": "104857600"}) + b'{"update_id"')
        await writer.drain()
        async with asyncio.timeout(1):
            status, _headers, body = await read_response(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    assert status == 413
    assert body == b"request body too large"
    assert await written(edge) == before


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(
    edge: AllChannels, path: str
) -> None:
    """No Content-Length: chunks of 1 KiB until one past the limit, and the body never ends;
    the 413 comes without waiting for its end."""
    before = await written(edge)
    reader, writer = await asyncio.open_connection(*edge.host_port)
    try:
        writer.write(request_head(edge, path, {"Transfer-Encoding": "chunked"}))
        chunk = b"x" * 1024
        for _ in range(LIMIT // len(chunk) + 1):
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        await writer.drain()  # no terminating 0-length chunk: the sender would go on
        async with asyncio.timeout(1):
            status, _headers, _body = await read_response(reader)
    finally:
        writer.close()
        await writer.wait_closed()
    assert status == 413
    assert await written(edge) == before


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_chunked_body_within_the_limit_is_read(edge: AllChannels, path: str) -> None:
    """The same chunks, ending exactly at the limit: read, then judged (Slack and Twilio: not
    signed, so refused for authenticity; Telegram: the secret is right, so the body is read
    and kept as unusable, since it is no update), never refused for its size."""

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(LIMIT // 1024):
            yield b"x" * 1024

    response = await edge.client.post(
        path,
        content=chunks(),
        headers={"Content-Type": CONTENT_TYPE[path], **authentic_headers(path)},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert (
        response.status_code
        == {
            "/telegram/webhook": 200,  # the secret is right; the body is no update: unusable
            "/slack/events": 401,
            "/sms/twilio": 403,
            "/sms/twilio/status": 403,
        }[path]
    )


def _padded(make: Callable[[int], bytes], size: int) -> bytes:
    """``make(n)`` for the ``n`` that gives exactly ``size`` bytes."""
    base = len(make(0))
    body = make(size - base)
    assert len(body) == size, (len(body), size)
    return body


def telegram_body(size: int) -> tuple[bytes, dict[str, str]]:
    update = {
        "update_id": 900_000_001,
        "message": {
            "message_id": 1,
            "from": {"id": 5551001, "is_bot": False, "first_name": "Ana"},
            "chat": {"id": 5551001, "type": "private", "first_name": "Ana"},
            "date": 1_795_960_800,
            "text": "hello",
        },
    }
    body = _padded(lambda n: json.dumps(update).encode() + b" " * n, size)
    return body, {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}


def slack_body(size: int) -> tuple[bytes, dict[str, str]]:
    check = {"token": "legacy", "challenge": "at-the-limit", "type": "url_verification"}
    body = _padded(lambda n: json.dumps(check).encode() + b" " * n, size)
    return body, {"Content-Type": "application/json", **sign(SLACK_SIGNING, body)}


def twilio_body(
    stack: AllChannels, path: str, form: dict[str, str], size: int
) -> tuple[bytes, dict[str, str]]:
    """``form`` with an unknown parameter (Twilio adds them) padded to ``size`` bytes, signed."""
    pad = size - len(urlencode({**form, "CarebotPad": ""}))
    params = {**form, "CarebotPad": "p" * pad}
    body = urlencode(params).encode()
    assert len(body) == size
    signature = twilio_signature(stack.twilio.auth_token, PUBLIC + path, params)
    return body, {"Content-Type": CONTENT_TYPE[path], "X-Twilio-Signature": signature}


def sized(stack: AllChannels, path: str, size: int) -> tuple[bytes, dict[str, str]]:
    """An authentic request to ``path`` of exactly ``size`` bytes."""
    if path == "/telegram/webhook":
        return telegram_body(size)
    if path == "/slack/events":
        return slack_body(size)
    sid = "SMedge0000000000000000000000000001"
    if path == "/sms/twilio":
        form = inbound_form(
            account_sid=stack.twilio.account_sid, from_=ANA, to=SMS_FROM, body="HELP",
            message_sid=sid,
        )  # fmt: skip
    else:
        form = status_form(
            account_sid=stack.twilio.account_sid, message_sid=sid, from_=SMS_FROM, to=ANA,
            status="delivered",
        )  # fmt: skip
    return twilio_body(stack, path, form, size)


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_body_exactly_at_the_limit_is_read_and_handled(
    edge: AllChannels, path: str
) -> None:
    body, headers = sized(edge, path, LIMIT)
    response = await edge.client.post(path, content=body, headers=headers)
    assert response.request.headers["content-length"] == str(LIMIT)
    assert response.status_code == 200, response.text
    if path == "/telegram/webhook":
        await edge.carebot.outbox.deliver_due()
        [reply] = edge.telegram.sent_messages(5551001)
        assert "only help families the practice has invited" in reply["text"]
    elif path == "/slack/events":
        assert response.json() == {"challenge": "at-the-limit"}
    elif path == "/sms/twilio":
        assert response.text == "<Response/>"
        assert (
            await edge.harness.scalar("SELECT body FROM message WHERE direction = 'in'") == "HELP"
        )
    else:
        assert response.text == "<Response/>"
    assert await edge.harness.scalar("SELECT COUNT(*) FROM unusable_request") == 0


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_one_byte_past_the_limit_is_refused_and_writes_nothing(
    edge: AllChannels, path: str
) -> None:
    body, headers = sized(edge, path, LIMIT + 1)
    before = await written(edge)
    response = await edge.client.post(path, content=body, headers=headers)
    assert response.status_code == 413
    assert await written(edge) == before


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_an_unsigned_body_at_the_limit_is_refused_for_authenticity_not_size(
    edge: AllChannels, path: str
) -> None:
    body, headers = sized(edge, path, LIMIT)
    for name in ("X-Telegram-Bot-Api-Secret-Token", "X-Slack-Signature", "X-Twilio-Signature"):
        headers.pop(name, None)
    before = await written(edge)
    response = await edge.client.post(path, content=body, headers=headers)
    assert response.status_code == (401 if path == "/slack/events" else 403)
    assert await written(edge) == before
