"""FakeTelegram driven over real HTTP by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes

from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.server import serve_app
from storage.clock import FakeClock

TOKEN = "123456:TEST"
ANA = 4242
KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Confirm", callback_data="confirm:7")]],
)


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram(TOKEN)


@pytest.fixture
async def root(fake: FakeTelegram) -> AsyncIterator[str]:
    async with serve_app(fake.app) as url:
        yield url


@pytest.fixture
async def bot(root: str) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=f"{root}/bot") as tg_bot:
        yield tg_bot


# -- basics ---------------------------------------------------------------------------------


async def test_initialize_calls_get_me(fake: FakeTelegram, bot: Bot) -> None:
    assert bot.username == "carebot_sandbox_bot"
    assert bot.id == 123456
    assert [call.ok for call in fake.calls("getMe")] == [True]


async def test_send_message_is_recorded_decoded(fake: FakeTelegram, bot: Bot) -> None:
    message = await bot.send_message(ANA, "Your appointment is tomorrow", reply_markup=KEYBOARD)

    assert fake.sent_messages(ANA) == [
        {
            "chat_id": ANA,
            "text": "Your appointment is tomorrow",
            "reply_markup": {
                "inline_keyboard": [[{"text": "Confirm", "callback_data": "confirm:7"}]]
            },
        }
    ]
    assert message.message_id == 1
    assert message.chat.id == ANA
    assert message.from_user is not None and message.from_user.is_bot
    assert message.reply_markup == KEYBOARD
    assert [m["text"] for m in fake.transcript(ANA)] == ["Your appointment is tomorrow"]


async def test_text_that_looks_like_json_stays_text(fake: FakeTelegram, bot: Bot) -> None:
    await bot.send_message(ANA, "42")
    await bot.send_message(ANA, "true")

    assert [params["text"] for params in fake.sent_messages(ANA)] == ["42", "true"]


async def test_message_ids_count_per_chat_and_dates_follow_the_clock() -> None:
    clock = FakeClock(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    fake = FakeTelegram(TOKEN, clock=clock)
    async with serve_app(fake.app) as other_root, Bot(TOKEN, base_url=f"{other_root}/bot") as b:
        fake.message_update(ANA, "hello")  # the user's message takes id 1 in that chat
        first = await b.send_message(ANA, "one")
        other = await b.send_message(777, "other chat")

    assert (first.message_id, other.message_id) == (2, 1)
    assert first.date == clock.now()
    assert fake.requests[-1].at == clock.now()


async def test_wrong_token_is_invalid_token(fake: FakeTelegram, root: str) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with Bot("999:WRONG", base_url=f"{root}/bot"):
            pass
    assert [(call.method, call.status) for call in fake.requests] == [("getMe", 401)]


async def test_raw_http_errors_and_encodings(fake: FakeTelegram, root: str) -> None:
    async with httpx.AsyncClient(base_url=f"{root}/bot{TOKEN}") as client:
        unknown = await client.post("/sendCarrierPigeon", data={"chat_id": "1"})
        off_path = await client.get(f"{root}/elsewhere")
        by_query = await client.get("/sendmessage", params={"chat_id": "5", "text": "q"})
        by_json = await client.post("/sendMessage", json={"chat_id": 5, "text": 7})
        upload = await client.post(
            "/sendMessage",
            data={"chat_id": "5", "text": "with file"},
            files={"document": ("a.txt", b"hi", "text/plain")},
        )

    not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
    assert (unknown.status_code, unknown.json()) == (404, not_found)
    assert (off_path.status_code, off_path.json()) == (404, not_found)
    assert by_query.json()["result"]["text"] == "q"
    assert by_json.json()["result"]["text"] == "7"
    assert upload.json()["ok"] is True
    document = fake.calls("sendMessage")[-1].params["document"]
    assert (document.filename, document.content_type, document.data) == (
        "a.txt",
        "text/plain",
        b"hi",
    )
    assert fake.calls("sendCarrierPigeon")[0].status == 404


# -- failure injection ----------------------------------------------------------------------


async def test_flood_wait_surfaces_as_retry_after(
    fake: FakeTelegram, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without PTB_TIMEDELTA, PTB 22 warns (PTBDeprecationWarning) when RetryAfter is built.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", status=429, retry_after=7)

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ANA, "first try")
    await bot.send_message(ANA, "second try")

    assert caught.value.retry_after == timedelta(seconds=7)
    assert [(call.ok, call.status) for call in fake.calls("sendMessage")] == [
        (False, 429),
        (True, 200),
    ]
    assert fake.calls("sendMessage")[0].description == "Too Many Requests: retry after 7"
    assert [params["text"] for params in fake.sent_messages()] == ["second try"]


async def test_injected_failure_can_target_one_chat_several_times(
    fake: FakeTelegram, bot: Bot
) -> None:
    fake.fail_next(
        "sendMessage", status=400, description="Bad Request: chat not found", chat_id=1, times=2
    )

    await bot.send_message(2, "unaffected")
    for _ in range(2):
        with pytest.raises(BadRequest, match="Chat not found"):
            await bot.send_message(1, "lost")
    await bot.send_message(1, "finally")

    assert [params["text"] for params in fake.sent_messages()] == ["unaffected", "finally"]


async def test_blocked_chat_is_forbidden_until_unblocked(fake: FakeTelegram, bot: Bot) -> None:
    fake.block_chat(ANA)

    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(ANA, "hello?")
    await bot.send_message(99, "someone else")
    fake.unblock_chat(ANA)
    await bot.send_message(ANA, "hello again")

    assert fake.sent_messages(ANA) == [{"chat_id": ANA, "text": "hello again"}]
    blocked = fake.calls("sendMessage")[0]
    assert (blocked.ok, blocked.status, blocked.params["chat_id"]) == (False, 403, ANA)


# -- editing --------------------------------------------------------------------------------


async def test_edits_follow_the_real_api(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(ANA, "Confirm?", reply_markup=KEYBOARD)

    edited = await bot.edit_message_text("Confirmed", chat_id=ANA, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Confirmed", chat_id=ANA, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("x", chat_id=ANA, message_id=999)
    with_keyboard = await bot.edit_message_reply_markup(
        chat_id=ANA, message_id=sent.message_id, reply_markup=KEYBOARD
    )

    assert not isinstance(edited, bool) and edited.text == "Confirmed"
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    assert edited.edit_date is not None
    assert not isinstance(with_keyboard, bool) and with_keyboard.reply_markup == KEYBOARD
    [current] = fake.transcript(ANA)
    assert current["text"] == "Confirmed" and "reply_markup" in current


# -- commands and webhook -------------------------------------------------------------------


async def test_commands_per_language(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Empezar")], language_code="es")
    await bot.set_my_commands([BotCommand("help", "Help")], scope=BotCommandScopeAllPrivateChats())

    assert await bot.get_my_commands(language_code="es") == (BotCommand("start", "Empezar"),)
    assert await bot.get_my_commands() == ()
    assert fake.calls("setMyCommands")[0].params == {
        "commands": [{"command": "start", "description": "Empezar"}],
        "language_code": "es",
    }
    assert fake.my_commands("es") == [{"command": "start", "description": "Empezar"}]
    assert fake.my_commands(scope={"type": "all_private_chats"})[0]["command"] == "help"
    await bot.delete_my_commands(language_code="es")
    assert fake.my_commands("es") == []
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start!", "bad name")])


async def test_webhook_is_remembered_and_blocks_polling(fake: FakeTelegram, bot: Bot) -> None:
    await bot.set_webhook("https://carebot.example/tg", secret_token="s3cret-token")

    info = await bot.get_webhook_info()
    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()

    assert info.url == "https://carebot.example/tg"
    assert (fake.webhook.url, fake.webhook.secret_token) == ("", None)
    assert fake.calls("setWebhook")[0].params["secret_token"] == "s3cret-token"
    assert fake.calls("deleteWebhook")[0].description == "Webhook was deleted"
    assert await bot.get_updates() == ()


# -- updates --------------------------------------------------------------------------------


async def test_built_updates_parse_in_ptb(fake: FakeTelegram, bot: Bot) -> None:
    sent = await bot.send_message(ANA, "Confirm?", reply_markup=KEYBOARD)
    command = Update.de_json(fake.message_update(ANA, "/start abc", language_code="es"), bot)
    press = Update.de_json(fake.callback_update(ANA, "confirm:7"), bot)
    stale = Update.de_json(fake.callback_update(ANA, "confirm:7", message_id=99), bot)

    assert command.message is not None and command.message.text == "/start abc"
    assert command.message.entities == (MessageEntity(MessageEntity.BOT_COMMAND, 0, 6),)
    assert command.effective_user is not None and command.effective_user.language_code == "es"
    assert command.message.chat.type == "private"
    query = press.callback_query
    assert query is not None and query.data == "confirm:7" and query.from_user.id == ANA
    assert query.message is not None and query.message.message_id == sent.message_id
    assert stale.callback_query is not None
    assert stale.callback_query.message is not None
    assert not stale.callback_query.message.is_accessible  # date 0: deleted or too old
    assert press.update_id == command.update_id + 1


async def test_get_updates_returns_pushed_and_offset_confirms(fake: FakeTelegram, bot: Bot) -> None:
    first = fake.push_update(fake.message_update(ANA, "hi"))
    fake.push_update(fake.callback_update(ANA, "later"))
    fake.push_update({"update_id": fake.next_update_id, "chat_member": {}})  # not by default

    updates = await bot.get_updates()
    again = await bot.get_updates(offset=updates[-1].update_id + 1)

    assert [u.update_id for u in updates] == [first["update_id"], first["update_id"] + 1]
    assert updates[0].message is not None and updates[0].message.text == "hi"
    assert updates[1].callback_query is not None and updates[1].callback_query.data == "later"
    assert again == ()
    assert fake.pending_updates == []


async def test_long_poll_wakes_on_push(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_until_polling()
    assert not poll.done()

    fake.push_update(fake.message_update(ANA, "/start"))
    updates = await poll

    assert [u.message.text for u in updates if u.message] == ["/start"]


async def test_long_poll_is_bounded() -> None:
    fake = FakeTelegram(TOKEN, max_poll_timeout=0.05)
    async with serve_app(fake.app) as other_root, Bot(TOKEN, base_url=f"{other_root}/bot") as b:
        assert await b.get_updates(timeout=30) == ()
    assert fake.calls("getUpdates")[0].params["timeout"] == 30


async def test_newer_poll_ends_older_with_conflict(fake: FakeTelegram, bot: Bot, root: str) -> None:
    # A second Bot, like a second running instance: one Bot polls over a single connection.
    older = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_until_polling()

    async with Bot(TOKEN, base_url=f"{root}/bot") as second_instance:
        assert await second_instance.get_updates() == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await older


async def test_cancelled_poll_ends_on_the_server(fake: FakeTelegram, bot: Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_until_polling()

    poll.cancel()
    await fake.wait_for_calls("getUpdates")

    assert not fake.polling
    assert fake.calls("getUpdates")[0].result == []


async def test_wait_for_calls_times_out_with_context(fake: FakeTelegram) -> None:
    with pytest.raises(TimeoutError, match="no 1 sendMessage within"):
        await fake.wait_for_calls("sendMessage", timeout=0.01)


# -- a whole application --------------------------------------------------------------------


async def test_application_polls_and_replies(fake: FakeTelegram, root: str) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, "Welcome", reply_markup=KEYBOARD)

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("Thanks")
        await query.edit_message_text(f"Done: {query.data}")

    app = Application.builder().token(TOKEN).base_url(f"{root}/bot").build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling()
        fake.push_update(fake.message_update(ANA, "/start"))
        await fake.wait_for_calls("sendMessage")
        fake.push_update(fake.callback_update(ANA, "confirm:7"))
        await fake.wait_for_calls("editMessageText")
        await app.updater.stop()
        await app.stop()

    assert fake.calls("answerCallbackQuery")[0].params["text"] == "Thanks"
    assert [m["text"] for m in fake.transcript(ANA)] == ["Done: confirm:7"]
    assert [m["from"]["is_bot"] for m in fake.conversation(ANA)] == [False, True]
    assert fake.pending_updates == []
