"""Telegram: Bot API updates -> :class:`Inbound`; outbound rows -> ``sendMessage``.

Uses python-telegram-bot's ``Bot`` for every API call and ``Update.de_json`` for parsing. Updates
of one chat are handled in order; different chats concurrently. In polling mode an update is
acknowledged (``offset``) only after its effect has committed, so a crash re-reads it and the
inbound de-duplication drops what was already done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

# Opt in to PTB's future: durations (retry_after, timeouts) as timedelta, without deprecation noise.
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels.base import (
    FAMILY_CHANNEL_CARRIES,
    Capabilities,
    PermanentFailure,
    RateLimits,
    RecipientUnreachable,
    RetryLater,
    Sent,
    TemporaryFailure,
    UnusableInput,
    send_parts,
)
from bot.channels.parts import fits_utf16
from bot.channels.starting import StartRefused
from bot.channels.telegram_http import AiohttpRequest
from bot.edge import describe_failure, is_transient
from handlers.core.events import ButtonPressed, FamilyText, Inbound
from handlers.core.pipeline import Outcome
from handlers.core.texts import Msg, Translator
from storage.models import OutboundMessage

log = logging.getLogger(__name__)

CHANNEL = "telegram"
#: Update kinds carebot asks for: a family's messages, their button presses, and whether they
#: blocked the bot (``my_chat_member``). Anything else that arrives is answered and ignored.
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
#: What a message without text is, by the field that carries it (first match wins: an
#: animation also carries a ``document``). A private message with neither words nor one of
#: these is a service message (the family pinned a message, set auto-delete, allowed the bot
#: to write): nothing they said, so nothing to answer or pass to a person.
ATTACHMENTS = (
    "photo", "video", "animation", "sticker", "voice", "video_note", "audio", "document",
    "contact", "location", "venue", "poll", "dice", "story", "live_photo", "paid_media",
    "checklist", "game", "invoice",
)  # fmt: skip
MAX_LENGTH = 4096  # UTF-16 code units
POLL_SECONDS = 30
BUTTONS_PER_ROW = 3
# How many webhook requests Telegram may have open at once (its default is 40). Every update's
# effect commits through the record's single writer, so more connections only queue up in front
# of it: bench/telegram_inbound.py measures throughput at this concurrency.
WEBHOOK_CONNECTIONS = 16


def parse_update(data: dict[str, Any], bot: Bot | None) -> Update:
    """An update as python-telegram-bot reads it.

    Raises:
        UnusableInput: the update has a shape PTB cannot read (``"message": 5``, a message
            without ``date``, a callback without its fields): authentic but unusable.
    """
    try:
        return Update.de_json(data, bot)
    except Exception as error:  # noqa: BLE001 - any shape PTB cannot read is unusable
        raise UnusableInput(f"malformed update ({type(error).__name__})") from None


def to_inbound(update: Update) -> Inbound | None:
    """The normalized event of an update, or None for updates carebot does not act on
    (edits, group chats, channel posts, reactions, inline queries, service messages, kinds
    added later).

    Raises:
        UnusableInput: an update PTB accepted but whose fields are not what the Bot API
            documents (a callback without ``from``, a message without ``chat``, an id that is
            not a number, a text that is not a string).
    """
    try:
        event = _to_inbound(update)
    except (AttributeError, TypeError, ValueError) as error:  # pydantic's errors are ValueErrors
        raise UnusableInput(f"update of an unexpected shape ({type(error).__name__})") from None
    if event is not None and not event.address.split(":", 1)[1].lstrip("-").isdigit():
        raise UnusableInput("update of an unexpected shape (a user id that is not a number)")
    return event


def _to_inbound(update: Update) -> Inbound | None:
    if update.callback_query is not None:
        query = update.callback_query
        return ButtonPressed(
            channel=CHANNEL,
            address=f"{CHANNEL}:{query.from_user.id}",
            event_id=str(update.update_id),
            choice=query.data or "",
            language_hint=query.from_user.language_code,
            on_message=str(query.message.message_id) if query.message is not None else None,
        )
    message = update.message
    if message is None or message.from_user is None or message.chat.type != "private":
        return None
    attachment = next((kind for kind in ATTACHMENTS if getattr(message, kind, None)), None)
    if not (message.text or message.caption) and attachment is None:
        return None
    return FamilyText(
        channel=CHANNEL,
        address=f"{CHANNEL}:{message.from_user.id}",
        event_id=str(update.update_id),
        text=message.text or message.caption or "",
        language_hint=message.from_user.language_code,
        provider_message_id=str(message.message_id),
        attachment=attachment,
    )


def membership(update: Update) -> tuple[str, bool] | None:
    """(address, blocked) when a family blocked (``kicked``) or unblocked the bot in their
    private chat; None for any other update."""
    change = update.my_chat_member
    if change is None or getattr(change.chat, "type", None) != "private":
        return None
    # python-telegram-bot does not check a payload's types: a forged id may be anything.
    user_id: object = change.from_user.id if change.from_user is not None else None
    if not isinstance(user_id, int):
        return None
    status = getattr(change.new_chat_member, "status", None)
    if status not in ("kicked", "member"):
        return None
    return f"{CHANNEL}:{user_id}", status == "kicked"


def keyboard(message: OutboundMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    buttons = [InlineKeyboardButton(b.label, callback_data=b.token) for b in message.buttons]
    rows = [buttons[i : i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)]
    return InlineKeyboardMarkup(rows)


class TelegramChannel:
    """The Telegram adapter: receive (webhook or polling) and send."""

    name = CHANNEL
    capabilities = Capabilities(
        supports_buttons=True,
        supports_threads=False,
        max_length=MAX_LENGTH,
        length_unit="UTF-16 code units",
        fits=fits_utf16(MAX_LENGTH),
        carries=FAMILY_CHANNEL_CARRIES,
    )

    def __init__(
        self,
        token: str,
        api_url: str,
        handle: Callable[[Inbound], Awaitable[Outcome]],
        limits: RateLimits,
        on_membership: Callable[[str, bool, str], Awaitable[None]] | None = None,
        on_unusable: Callable[[str, str, int], Awaitable[None]] | None = None,
    ) -> None:
        self._requests = (
            AiohttpRequest(connection_pool_size=16),
            AiohttpRequest(1, read_timeout=40.0),  # getUpdates' long poll
        )
        self.bot = Bot(
            token,
            base_url=f"{api_url.rstrip('/')}/bot",
            request=self._requests[0],
            get_updates_request=self._requests[1],
        )
        self.limits = limits
        self._handle = handle
        self._on_membership = on_membership
        #: Told of an authentic update carebot could not use: (update id, why, its size).
        self._on_unusable = on_unusable
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._polling: asyncio.Task[None] | None = None
        self.started = False

    async def start(self) -> None:
        """Initialize the bot (``getMe``).

        Raises:
            StartRefused: Telegram refused the token.
            NetworkError: Telegram could not be reached (the caller tries again later).
        """
        try:
            await self.bot.initialize()
        except InvalidToken:
            await self._close_requests()
            raise StartRefused("CAREBOT_TELEGRAM__TOKEN: Telegram refused the bot token") from None
        self.started = True

    async def _close_requests(self) -> None:
        """A failed ``initialize`` leaves the HTTP sessions open (python-telegram-bot reuses them
        when it is tried again); ``Bot.shutdown`` would not close them (it only undoes a
        finished ``initialize``)."""
        for request in self._requests:
            await request.shutdown()

    async def stop(self) -> None:
        if self._polling is not None:
            self._polling.cancel()
            await asyncio.gather(self._polling, return_exceptions=True)
            self._polling = None
        if self.started:
            await self.bot.shutdown()
            self.started = False
        else:
            await self._close_requests()

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
        """Register the webhook.

        Raises:
            StartRefused: Telegram will not take this URL or secret (its reason says why).
        """
        try:
            await self.bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=ALLOWED_UPDATES,
                max_connections=WEBHOOK_CONNECTIONS,
            )
        except BadRequest as error:
            raise StartRefused(
                f"CAREBOT_PUBLIC_URL or CAREBOT_TELEGRAM__WEBHOOK_SECRET: Telegram refused the"
                f" webhook ({error.message})"
            ) from None

    async def handle_update_json(self, data: dict[str, Any]) -> Outcome | None:
        """Handle one webhook body.

        Raises:
            UnusableInput: the update's shape cannot be read (the caller records it, answers
                200, and Telegram does not send it again).
        """
        return await self.handle_update(parse_update(data, self.bot))

    async def handle_update(self, update: Update) -> Outcome | None:
        blocked = membership(update)
        if blocked is not None:
            if self._on_membership is not None:
                await self._on_membership(blocked[0], blocked[1], str(update.update_id))
            return None
        event = to_inbound(update)
        if event is None:
            log.info("telegram update %s ignored: not a kind carebot acts on", update.update_id)
            return None
        chat_id = int(event.address.split(":", 1)[1])
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        try:
            async with lock:
                outcome = await self._handle(event)
        finally:
            if not lock.locked() and not lock._waiters:
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

    async def _fetch_updates(self, offset: int | None) -> list[Any]:
        """One long poll, as raw JSON: each update is then read on its own, so one malformed
        update cannot stop the rest (PTB's get_updates parses, and logs, the whole batch)."""
        data: dict[str, Any] = {"timeout": POLL_SECONDS, "allowed_updates": ALLOWED_UPDATES}
        if offset is not None:
            data["offset"] = offset
        result = await self.bot._post(  # noqa: SLF001 - the raw call behind get_updates
            "getUpdates", data, read_timeout=POLL_SECONDS + 10.0
        )
        return result if isinstance(result, list) else []

    async def _poll(self) -> None:
        await self.bot.delete_webhook()
        offset: int | None = None
        while True:
            try:
                updates = await self._fetch_updates(offset)
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error))
                continue
            except TelegramError as error:
                log.warning("getUpdates failed: %s", type(error).__name__)
                await asyncio.sleep(3)
                continue
            moved = False
            for raw in updates:
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                if not isinstance(update_id, int):
                    log.warning("telegram sent an update without an update_id; skipped")
                    continue
                moved = True
                try:
                    await self.handle_update(parse_update(raw, self.bot))
                except UnusableInput as unusable:
                    if self._on_unusable is not None:
                        size = len(json.dumps(raw, ensure_ascii=False).encode())
                        await self._on_unusable(str(update_id), str(unusable), size)
                except Exception as error:  # noqa: BLE001
                    if is_transient(error):
                        log.warning(
                            "update %s failed (%s); it will be read again",
                            update_id,
                            type(error).__name__,
                        )
                        await asyncio.sleep(3)
                        break
                    if self._on_unusable is not None:
                        await self._on_unusable(str(update_id), describe_failure(error), 0)
                offset = update_id + 1
            if updates and not moved:
                await asyncio.sleep(1)  # nothing readable to move the offset past: no spin

    async def send(self, message: OutboundMessage) -> Sent:
        """Send a message in parts of at most 4,096 UTF-16 code units; buttons on the last."""
        chat_id = int(message.address.split(":", 1)[1])
        markup = keyboard(message)
        if message.edits_provider_id is not None:
            return await self._edit(chat_id, int(message.edits_provider_id), message, markup)

        async def one(text: str, last: bool) -> str:
            async with _delivery_errors():
                sent = await self.bot.send_message(
                    chat_id, text, reply_markup=markup if last else None
                )
            return str(sent.message_id)

        return await send_parts(message, self.capabilities, one)

    async def _edit(
        self,
        chat_id: int,
        message_id: int,
        message: OutboundMessage,
        markup: InlineKeyboardMarkup | None,
    ) -> Sent:
        """A message sent before, changed in place (``editMessageText``): its new text, and
        its keyboard replaced (none: no button stays live). A change to what it already says
        is no error. (The outbox sends only a change that fits one message.)"""
        try:
            async with _delivery_errors():
                await self.bot.edit_message_text(
                    message.body, chat_id=chat_id, message_id=message_id, reply_markup=markup
                )
        except PermanentFailure as refused:
            if "message is not modified" not in str(refused):
                raise
        return Sent(str(message_id))


@asynccontextmanager
async def _delivery_errors() -> AsyncIterator[None]:
    """python-telegram-bot's errors as the outbox's: a 429 waits, a block stops writing to the
    chat, a bad request fails for good, the network is tried again."""
    try:
        yield
    except RetryAfter as error:
        raise RetryLater(_seconds(error)) from error
    except Forbidden as error:
        raise RecipientUnreachable(error.message) from error
    except BadRequest as error:
        raise PermanentFailure(error.message) from error
    except NetworkError as error:
        raise TemporaryFailure(type(error).__name__) from error
    except TelegramError as error:
        raise PermanentFailure(type(error).__name__) from error


def _seconds(error: RetryAfter) -> float:
    delay = error.retry_after
    return float(delay) if isinstance(delay, int) else delay.total_seconds()
