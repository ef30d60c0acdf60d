"""carebot's transport for python-telegram-bot (bot/channels/telegram_http.py), over real HTTP
to a local server: the same requests as python-telegram-bot's own httpx transport, and the same
errors for the same failures."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Bot, InputFile
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.request import HTTPXRequest

from bot.channels.telegram_http import AiohttpRequest
from bot.sandbox.server import serve_app

TOKEN = "123456:TEST"
ME = {"id": 123456, "is_bot": True, "first_name": "carebot", "username": "carebot_bot"}


class Recorder:
    """A Bot API that records each call's form (and files) and answers as told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], str]] = []  # method, fields, content type
        self.answer: dict[str, tuple[int, dict[str, Any]]] = {}
        self.delay = 0.0
        self.app = Starlette(routes=[Route("/bot{token}/{method}", self.call, methods=["POST"])])

    async def call(self, request: Request) -> Response:
        method = request.path_params["method"]
        fields: dict[str, Any] = {}
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, str):
                    fields[key] = value
                else:
                    fields[key] = (value.filename, await value.read())
        self.calls.append((method, fields, request.headers.get("content-type", "")))
        if self.delay:
            await asyncio.sleep(self.delay)
        if method == "getMe":
            return JSONResponse({"ok": True, "result": ME})
        status, body = self.answer.get(
            method,
            (200, {"ok": True, "result": {
                "message_id": len(self.calls), "date": 0,
                "chat": {"id": int(fields.get("chat_id", 0)), "type": "private"},
                "text": fields.get("text", ""),
            }}),
        )  # fmt: skip
        return JSONResponse(body, status_code=status)


async def bot_on(root: str, request: Any) -> Bot:
    bot = Bot(TOKEN, base_url=f"{root}/bot", request=request, get_updates_request=request)
    await bot.initialize()
    return bot


async def test_the_same_form_as_python_telegram_bots_own_transport() -> None:
    recorder = Recorder()
    async with serve_app(recorder.app) as root:
        for request in (HTTPXRequest(), AiohttpRequest()):
            bot = await bot_on(root, request)
            sent = await bot.send_message(42, "Hola María 👋 — ¿mañana a las 9?", reply_markup=None)
            assert sent.message_id == len(recorder.calls)
            await bot.shutdown()
    theirs, ours = [fields for method, fields, _ in recorder.calls if method == "sendMessage"]
    assert ours == theirs == {"chat_id": "42", "text": "Hola María 👋 — ¿mañana a las 9?"}


async def test_files_go_as_multipart() -> None:
    recorder = Recorder()
    async with serve_app(recorder.app) as root:
        bot = await bot_on(root, AiohttpRequest())
        await bot.send_document(42, InputFile(b"BEGIN:VCALENDAR\r\n", filename="visit.ics"))
        await bot.shutdown()
    method, fields, content_type = recorder.calls[-1]
    assert method == "sendDocument" and content_type.startswith("multipart/form-data")
    assert fields["chat_id"] == "42"
    attached = [v for v in fields.values() if isinstance(v, tuple)]
    assert attached == [("visit.ics", b"BEGIN:VCALENDAR\r\n")]


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
               "parameters": {"retry_after": 3}}, RetryAfter),
        (403, {"ok": False, "error_code": 403,
               "description": "Forbidden: bot was blocked by the user"}, Forbidden),
        (400, {"ok": False, "error_code": 400,
               "description": "Bad Request: chat not found"}, BadRequest),
    ],
)  # fmt: skip
async def test_the_platforms_refusals_are_python_telegram_bots_errors(
    status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    recorder = Recorder()
    recorder.answer["sendMessage"] = (status, body)
    async with serve_app(recorder.app) as root:
        bot = await bot_on(root, AiohttpRequest())
        with pytest.raises(error) as raised:
            await bot.send_message(42, "hi")
        await bot.shutdown()
    if isinstance(raised.value, RetryAfter):
        assert raised.value.retry_after in (3, 3.0) or raised.value.retry_after.total_seconds() == 3


async def test_a_slow_answer_times_out() -> None:
    recorder = Recorder()
    async with serve_app(recorder.app) as root:
        bot = await bot_on(root, AiohttpRequest(read_timeout=0.2))
        recorder.delay = 1.0
        with pytest.raises(TimedOut):
            await bot.send_message(42, "hi")
        with pytest.raises(TimedOut):  # and a caller's own timeout wins over the default
            await bot.send_message(42, "hi", read_timeout=0.1)
        await bot.shutdown()


async def test_an_unreachable_api_is_a_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    request = AiohttpRequest()
    bot = Bot(TOKEN, base_url=f"http://127.0.0.1:{port}/bot", request=request)
    with pytest.raises(NetworkError) as raised:
        await bot.initialize()
    assert not isinstance(raised.value, TimedOut)
    await request.shutdown()


async def test_not_initialized_says_so() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await AiohttpRequest().do_request("http://127.0.0.1:9/x", "POST")
