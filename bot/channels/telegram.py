"""Telegram: Bot API updates -> :class:`Inbound`; outbound rows -> ``sendMessage``.

Uses python-telegram-bot's ``Bot`` for every API call and ``Update.de_json`` for parsing. Updates
of one chat are handled in order; different chats concurrently. In polling mode an update is
acknowledged (``offset``) only after its effect has committed, so a crash re-reads it and the
inbound de-duplication drops what was already done.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

# Opt in to PTB's future: durations (retry_after, timeouts) as timedelta, without deprecation noise.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.request import HTTPXRequest

from bot.channels.base import (
    Capabilities,
    PermanentFailure,
    RateLimits,
    RecipientUnreachable,
    RetryLater,
    TemporaryFailure,
)
from handlers.events import Inbound
from handlers.pipeline import Outcome
from handlers.texts import Msg, Translator
from storage.models import OutboundMessage

log = logging.getLogger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
BUTTONS_PER_ROW = 3
# How many webhook requests Telegram may have open at once (its default is 40). Every update's
# effect commits through the record's single writer, so more connections only queue up in front
# of it: bench/telegram_inbound.py measures throughput at this concurrency.
WEBHOOK_CONNECTIONS = 16


def to_inbound(update: Update) -> Inbound | None:
    """The normalized event of an update, or None for updates carebot does not act on."""
    if update.callback_query is not None:
        query = update.callback_query
        return Inbound(
            channel=CHANNEL,
            address=f"{CHANNEL}:{query.from_user.id}",
            event_id=str(update.update_id),
            choice=query.data or "",
            language_hint=query.from_user.language_code,
        )
    message = update.message
    if message is None or message.from_user is None or message.chat.type != "private":
        return None
    return Inbound(
        channel=CHANNEL,
        address=f"{CHANNEL}:{message.from_user.id}",
        event_id=str(update.update_id),
        text=message.text or message.caption or "",
        language_hint=message.from_user.language_code,
        provider_message_id=str(message.message_id),
    )


def keyboard(message: OutboundMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    buttons = [InlineKeyboardButton(b.label, callback_data=b.token) for b in message.buttons]
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


class TelegramChannel:
    """The Telegram adapter: receive (webhook or polling) and send."""

    name = CHANNEL
    capabilities = Capabilities(supports_buttons=True, supports_threads=False, max_length=4096)

    def __init__(
        self,
        token: str,
        api_url: str,
        handle: Callable[[Inbound], Awaitable[Outcome]],
        limits: RateLimits,
    ) -> None:
        self.bot = Bot(
            token,
            base_url=f"{api_url.rstrip('/')}/bot",
            request=HTTPXRequest(connection_pool_size=16),
            get_updates_request=HTTPXRequest(read_timeout=40.0),
        )
        self.limits = limits
        self._handle = handle
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._polling: asyncio.Task[None] | None = None
        self.started = False

    async def start(self) -> None:
        """Initialize the bot (``getMe``)."""
        await self.bot.initialize()
        self.started = True

    async def stop(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None
        if self.started:
            await self.bot.shutdown()
            self.started = False

    @property
    def username(self) -> str:
        return self.bot.username

    async def register_commands(
        self, menu: tuple[tuple[str, Msg], ...], translator: Translator, timezone: str
    ) -> None:
        """The command menu in every language (English also as the default for the rest)."""
        for language in translator.languages():
            commands = [
                BotCommand(name, translator.render(description, language, timezone))
                for name, description in menu
            ]
            await self.bot.set_my_commands(commands, language_code=language)
            if language == "en":
                await self.bot.set_my_commands(commands)

    async def set_webhook(self, url: str, secret: str) -> None:
        await self.bot.set_webhook(
            url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
            max_connections=WEBHOOK_CONNECTIONS,
        )

    async def handle_update_json(self, data: dict[str, Any]) -> Outcome | None:
        """Handle one webhook body; errors propagate: the caller answers 500, Telegram retries."""
        update = Update.de_json(data, self.bot)
        return await self.handle_update(update)

    async def handle_update(self, update: Update) -> Outcome | None:
        event = to_inbound(update)
        if event is None:
            return None
        chat_id = int(event.address.split(":", 1)[1])
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        try:
            async with lock:
                outcome = await self._handle(event)
        finally:
            if not lock.locked() and not lock._waiters:  # type: ignore[attr-defined]
                self._chat_locks.pop(chat_id, None)
        if update.callback_query is not None and not outcome.duplicate:
            try:
                await update.callback_query.answer(text=outcome.notice)
            except TelegramError as error:  # an expired query: the effect is already recorded
                log.info("answerCallbackQuery failed for update %s: %s", update.update_id, error)
        return outcome

    def start_polling(self) -> None:
        """Poll getUpdates in the background (for a practice without a public URL)."""
        self._polling = asyncio.create_task(self._poll())

    async def _poll(self) -> None:
        await self.bot.delete_webhook()
        offset: int | None = None
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=offset, timeout=30, allowed_updates=ALLOWED_UPDATES
                )
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error))
                continue
            except TelegramError as error:
                log.warning("getUpdates failed: %s", error)
                await asyncio.sleep(3)
                continue
            for update in updates:
                try:
                    await self.handle_update(update)
                except Exception:  # noqa: BLE001 - re-read this update on the next poll
                    log.exception("update %s failed; it will be read again", update.update_id)
                    await asyncio.sleep(3)
                    break
                offset = update.update_id + 1

    async def send(self, message: OutboundMessage) -> str:
        chat_id = int(message.address.split(":", 1)[1])
        try:
            sent = await self.bot.send_message(
                chat_id,
                message.body[: self.capabilities.max_length],
                reply_markup=keyboard(message),
            )
        except RetryAfter as error:
            raise RetryLater(_seconds(error)) from error
        except Forbidden as error:
            raise RecipientUnreachable(error.message) from error
        except BadRequest as error:
            raise PermanentFailure(error.message) from error
        except NetworkError as error:
            raise TemporaryFailure(str(error)) from error
        except TelegramError as error:
            raise PermanentFailure(str(error)) from error
        return str(sent.message_id)


def _seconds(error: RetryAfter) -> float:
    delay = error.retry_after
    return float(delay) if isinstance(delay, int) else delay.total_seconds()
