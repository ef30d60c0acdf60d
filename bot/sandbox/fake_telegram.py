"""A local fake of the Telegram Bot API that python-telegram-bot talks to over real HTTP.

Serve :attr:`FakeTelegram.app` (see :func:`bot.sandbox.server.serve_app`) and point the bot at
it with ``telegram.Bot(token, base_url=f"{root}/bot")``. The fake records every call, answers
in the real API's shapes and error texts, queues updates for ``getUpdates`` long polling, and
lets tests inject failures (flood waits, blocked users, ...).
"""

from __future__ import annotations

import asyncio
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.sandbox.tg_chats import Chats, chat_id_param
from bot.sandbox.tg_state import CommandRegistry, UpdateQueue, WebhookState
from bot.sandbox.tg_wire import ApiError, ok_response, read_params, wait_unless_disconnected
from storage.clock import Clock, SystemClock

BLOCKED = "Forbidden: bot was blocked by the user"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


@dataclass
class RecordedCall:
    """One request the fake received, successful or not."""

    method: str
    params: dict[str, Any]
    at: datetime
    ok: bool = True
    status: int = 200
    description: str | None = None
    result: Any = None


@dataclass
class _Failure:
    method: str
    error: ApiError
    chat_id: int | None
    remaining: int


@dataclass
class _Reply:
    result: Any
    description: str | None = None


Handler = Callable[[dict[str, Any]], Any]


class FakeTelegram:
    """An in-process Telegram Bot API for one bot, served over HTTP by :attr:`app`."""

    def __init__(
        self,
        token: str = "123456:TEST",
        username: str = "carebot_sandbox_bot",
        *,
        first_name: str = "CareBot Sandbox",
        first_update_id: int | None = None,
        clock: Clock | None = None,
        max_poll_timeout: float = 50.0,
    ) -> None:
        self.token = token
        self.username = username
        self.first_name = first_name
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else zlib.crc32(token.encode()) + 1
        #: The ``update_id`` the next built update gets (deterministic per token by default).
        self.next_update_id = (
            first_update_id
            if first_update_id is not None
            else 100_000_000 + zlib.crc32(token.encode()) % 800_000_000
        )
        self.max_poll_timeout = max_poll_timeout
        self.requests: list[RecordedCall] = []
        self._call_counts: Counter[str] = Counter()
        self.webhook = WebhookState()
        self._clock: Clock = clock or SystemClock()
        self._commands = CommandRegistry()
        self._chats = Chats(lambda: self.bot_user, self._timestamp)
        self._queue = UpdateQueue()
        self._failures: list[_Failure] = []
        self._blocked: set[int] = set()
        self._activity = asyncio.Condition()
        #: Called after anything a person would see changes (the sandbox console listens).
        self.listeners: list[Callable[[], None]] = []
        self._poll_generation = 0
        self._active_polls = 0
        self._handlers: dict[str, Handler] = {
            "getMe": lambda _: self.me(),
            "sendMessage": self._chats.send_message,
            "editMessageText": self._chats.edit_message_text,
            "editMessageReplyMarkup": self._chats.edit_message_reply_markup,
            "deleteMessage": self._chats.delete_message,
            "sendChatAction": lambda p: bool(chat_id_param(p)),
            "answerCallbackQuery": self._chats.answer_callback_query,
            "setMyCommands": self._commands.set,
            "getMyCommands": self._commands.get,
            "deleteMyCommands": self._commands.delete,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": lambda _: self.webhook.info(len(self._queue)),
        }
        known = [*self._handlers, "getUpdates"]
        self._canonical = {name.lower(): name for name in known}
        self.app = Starlette(
            routes=[Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"])],
            exception_handlers={404: _not_found},
        )

    # -- inspection -------------------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        """The bot's ``User`` as getMe returns it."""
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @property
    def bot_user(self) -> dict[str, Any]:
        """The bot as it appears in the ``from`` of its messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    @property
    def polling(self) -> bool:
        """Whether a getUpdates long poll is waiting right now."""
        return self._active_polls > 0

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Queued updates not yet confirmed by a getUpdates ``offset``."""
        return self._queue.snapshot()

    def calls(self, method: str) -> list[RecordedCall]:
        """Recorded calls of ``method`` (case-insensitive, like the API), oldest first."""
        name = self._canonical.get(method.lower(), method)
        return [call for call in self.requests if call.method == name]

    def sent_messages(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """Parameters of successful sendMessage calls, optionally to one chat."""
        return [
            call.params
            for call in self.calls("sendMessage")
            if call.ok and (chat_id is None or call.params.get("chat_id") == chat_id)
        ]

    def transcript(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in ``chat_id`` as they stand now (edits applied), in order."""
        return self._chats.messages(chat_id, sender_id=self.bot_id)

    def conversation(self, chat_id: int) -> list[dict[str, Any]]:
        """Both sides of ``chat_id``: user messages from updates and the bot's, in order."""
        return self._chats.messages(chat_id)

    def my_commands(
        self, language_code: str = "", scope: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The commands set for exactly this language and scope (default scope if None)."""
        return self._commands.get({"language_code": language_code, "scope": scope})

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is the point of the helper
    ) -> list[RecordedCall]:
        """Wait until ``count`` calls of ``method`` are recorded; return all such calls.

        A call is recorded once answered (a getUpdates long poll when it returns).

        Raises:
            TimeoutError: fewer calls arrived within ``timeout`` seconds.
        """
        name = self._canonical.get(method.lower(), method)
        # A counter, not a scan: waiting on thousands of calls must not cost O(n) per call.
        await self._wait(lambda: self._call_counts[name] >= count, timeout, f"{count} {method}")
        return self.calls(method)

    async def wait_until_polling(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until a getUpdates long poll is parked on the server (see :attr:`polling`)."""
        await self._wait(lambda: self.polling, timeout, "a getUpdates long poll")

    async def _wait(self, predicate: Callable[[], bool], seconds: float, what: str) -> None:
        try:
            async with asyncio.timeout(seconds), self._activity:
                await self._activity.wait_for(predicate)
        except TimeoutError:
            seen = [call.method for call in self.requests]
            raise TimeoutError(f"no {what} within {seconds}s; recorded: {seen}") from None

    # -- failure injection ------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str | None = None,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (to ``chat_id``, if given) fail.

        ``description`` defaults to the real API's text for ``status``; a 429 always carries
        ``parameters.retry_after`` (1 unless given).
        """
        if status < 400 or times < 1:
            raise ValueError("fail_next needs an error status and times >= 1")
        error = ApiError(status, description, retry_after=retry_after)
        name = self._canonical.get(method.lower(), method)
        self._failures.append(_Failure(name, error, chat_id, times))

    def block_chat(self, chat_id: int) -> None:
        """From now on, sending to ``chat_id`` fails with 403 (the user blocked the bot)."""
        self._blocked.add(chat_id)

    def unblock_chat(self, chat_id: int) -> None:
        """Undo :meth:`block_chat`."""
        self._blocked.discard(chat_id)

    # -- updates ----------------------------------------------------------------------------

    def message_update(
        self, user_id: int, text: str, *, first_name: str = "Ana", language_code: str = "en"
    ) -> dict[str, Any]:
        """A private-chat text message from a user, as an Update (not yet queued).

        Text starting with a command gets its ``bot_command`` entity, as real Telegram adds.
        """
        message = self._chats.user_message(user_id, text, first_name, language_code)
        return {"update_id": self._take_update_id(), "message": message}

    def callback_update(
        self,
        user_id: int,
        data: str,
        *,
        message_id: int | None = None,
        first_name: str = "Ana",
        language_code: str = "en",
    ) -> dict[str, Any]:
        """A press of an inline button with callback ``data``, as an Update (not yet queued).

        The query carries the bot message the button was on: ``message_id`` if given (an
        inaccessible-message stub if it no longer exists), otherwise the bot's newest message
        in the chat with a button carrying ``data``, if any.
        """
        query = self._chats.callback_query(user_id, data, message_id, first_name, language_code)
        return {"update_id": self._take_update_id(), "callback_query": query}

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue ``update`` for getUpdates and wake a waiting long poll; returns it."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            raise ValueError("an update needs an int update_id")
        self.next_update_id = max(self.next_update_id, update_id + 1)
        self._queue.push(update)
        self._changed()
        return update

    # -- HTTP -------------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        name = self._canonical.get(request.path_params["method"].lower())
        call = RecordedCall(name or request.path_params["method"], {}, self._clock.now())
        try:
            call.params = await read_params(request)
            if request.path_params["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if name is None:
                raise ApiError(404, "Not Found")
            reply = await self._dispatch(request, name, call.params)
        except ApiError as error:
            call.ok, call.status, call.description = False, error.status, error.description
            response = error.response()
        else:
            if not isinstance(reply, _Reply):
                reply = _Reply(reply)
            call.result, call.description = reply.result, reply.description
            response = ok_response(reply.result, reply.description)
        async with self._activity:
            self.requests.append(call)
            self._call_counts[call.method] += 1
            self._activity.notify_all()
        if call.method != "getUpdates":
            self._changed()
        return response

    def _changed(self) -> None:
        for listener in self.listeners:
            listener()

    async def _dispatch(self, request: Request, name: str, params: dict[str, Any]) -> Any:
        for failure in self._failures:
            if failure.method == name and failure.chat_id in (None, params.get("chat_id")):
                failure.remaining -= 1
                if not failure.remaining:
                    self._failures.remove(failure)
                error = failure.error
                raise ApiError(error.status, error.description, retry_after=error.retry_after)
        chat_id = params.get("chat_id")
        if name.startswith("send") and isinstance(chat_id, int) and chat_id in self._blocked:
            raise ApiError(403, BLOCKED)
        if name == "getUpdates":
            return await self._get_updates(request, params)
        return self._handlers[name](params)

    # -- methods ----------------------------------------------------------------------------

    def _set_webhook(self, params: dict[str, Any]) -> _Reply:
        self.webhook.set(params)
        if params.get("drop_pending_updates") is True:
            self._queue.clear()
        self._queue.wake()  # a waiting long poll now ends with 409
        return _Reply(True, "Webhook was set" if self.webhook.url else "Webhook was deleted")

    def _delete_webhook(self, params: dict[str, Any]) -> _Reply:
        had_webhook = bool(self.webhook.url)
        self.webhook.set({"url": ""})
        if params.get("drop_pending_updates") is True:
            self._queue.clear()
        return _Reply(True, "Webhook was deleted" if had_webhook else "Webhook is already deleted")

    async def _get_updates(self, request: Request, params: dict[str, Any]) -> list[Any]:
        if self.webhook.url:
            raise ApiError(409, WEBHOOK_ACTIVE)
        self._poll_generation += 1
        generation = self._poll_generation
        self._queue.wake()  # an older long poll now ends with 409, as on the real API
        self._queue.confirm(params.get("offset"))
        self._queue.allow(params.get("allowed_updates"))
        limit = params.get("limit")
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(max(_seconds(params.get("timeout")), 0), self.max_poll_timeout)
        while True:
            if generation != self._poll_generation:
                raise ApiError(409)
            if self.webhook.url:
                raise ApiError(409, WEBHOOK_ACTIVE)
            changed = self._queue.changed  # taken before looking, so no wake-up is missed
            batch = self._queue.batch(limit)
            remaining = deadline - loop.time()
            if batch or remaining <= 0:
                return batch
            async with self._activity:
                self._active_polls += 1
                self._activity.notify_all()
            try:
                connected = await wait_unless_disconnected(request, changed, remaining)
            finally:
                self._active_polls -= 1
            if not connected:
                return []  # the client went away; nobody reads this answer

    def _take_update_id(self) -> int:
        update_id = self.next_update_id
        self.next_update_id += 1
        return update_id

    def _timestamp(self) -> int:
        return int(self._clock.now().timestamp())


def _seconds(value: Any) -> float:
    """A numeric parameter as float seconds; anything else (absent, text) is 0."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return 0.0


async def _not_found(request: Request, exc: Exception) -> Response:
    """Paths outside ``/bot<token>/<method>`` get the API's JSON 404, not Starlette's text."""
    return ApiError(404, "Not Found").response()
