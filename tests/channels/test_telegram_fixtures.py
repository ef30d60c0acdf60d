"""Every recorded Telegram update (tests/fixtures/telegram/) through the real webhook over HTTP
(and through polling), into the real bot: what the family sees at the fake Bot API, what the
record keeps, and what the webhook answers."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import CareBot
from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.server import serve_app
from storage.clock import FakeClock
from storage.db import Database
from tests.channels.conftest import SECRET, Stack, settings_for
from tests.channels.test_telegram_e2e import ANA_ID, linked_family, reminder_message
from tests.fixtures.load import load, names

STRANGER_ID = 6123456789  # not linked to anyone in the record
ONLY_TEXT = "Sorry, I can only read text, so I couldn't see what you sent."
ONLY_TEXT_ES = "Lo siento, solo puedo leer texto, así que no pude ver lo que envió."
NOT_INVITED = "only help families the practice has invited"

ATTACHMENTS = {
    "sticker": "sticker",
    "voice": "voice",
    "photo_no_caption": "photo",
    "document": "document",
    "contact": "contact",
    "location": "location",
}
IGNORED = [
    "edited_message",
    "group_message",
    "channel_post",
    "inline_query",
    "message_reaction",
    "chat_member",
    "business_message",
    "purchased_paid_media",
    "unknown_kind",
]
MALFORMED = ["malformed_message_is_number", "malformed_no_date", "malformed_callback_no_fields"]
HANDLED = [
    "text",
    "command_start_with_payload",
    "callback_query",
    "callback_query_inaccessible_message",
    "photo_with_caption",
    "my_chat_member_kicked",
    "my_chat_member_member",
]
_update_ids = itertools.count(734_198_562)


def update(name: str, user_id: int = STRANGER_ID, **values: Any) -> dict[str, Any]:
    """Fixture ``name`` from ``user_id`` with a fresh update id (other tokens: defaults)."""
    filled = {
        "update_id": next(_update_ids),
        "user_id": user_id,
        "chat_id": -4726613835,
        "text": "Is Thursday still on?",
        "token": "not-an-invite",
        "data": "not-a-button",
        **values,
    }
    return load("telegram", name, **filled)


async def post_raw(stack: Stack, body: bytes, secret: str | None = SECRET) -> int:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    response = await stack.client.post("/telegram/webhook", content=body, headers=headers)
    return response.status_code


async def counts(stack: Stack) -> tuple[object, ...]:
    h = stack.harness
    return (
        await h.scalar("SELECT COUNT(*) FROM message"),
        await h.scalar("SELECT COUNT(*) FROM inbound_event"),
        await h.scalar("SELECT COUNT(*) FROM unusable_request"),
        await h.scalar("SELECT COUNT(*) FROM escalation"),
    )


async def blocked(stack: Stack, user_id: int = ANA_ID) -> bool:
    return bool(
        await stack.harness.scalar(
            "SELECT blocked_at IS NOT NULL FROM channel_identity WHERE address = ?",
            f"telegram:{user_id}",
        )
    )


def test_every_fixture_is_driven_by_this_file() -> None:
    covered = {*ATTACHMENTS, *IGNORED, *MALFORMED, *HANDLED}
    assert covered == set(names("telegram"))


@pytest.mark.parametrize("name", sorted(set(names("telegram"))))
async def test_every_fixture_with_the_secret_is_answered_200(stack: Stack, name: str) -> None:
    assert await stack.post_update(update(name)) == 200


async def test_a_text_from_someone_not_linked_gets_the_polite_refusal(stack: Stack) -> None:
    assert await stack.post_update(update("text")) == 200
    await stack.deliver()
    [reply] = stack.texts_to(STRANGER_ID)
    assert NOT_INVITED in reply and "+1 555 010 2030" in reply
    assert (
        await stack.harness.scalar("SELECT body FROM message WHERE direction = 'in'")
        == "Is Thursday still on?"
    )


async def test_a_text_from_a_linked_family_is_handled(stack: Stack) -> None:
    await linked_family(stack)
    assert await stack.post_update(update("text", ANA_ID, text="/next")) == 200
    await stack.deliver_all()
    assert "upcoming appointments" in stack.texts_to(ANA_ID)[-1]


async def test_start_with_an_invite_asks_for_the_date_of_birth(stack: Stack) -> None:
    await stack.harness.family("g-ana", "Ana", [("p-maya", "Maya", "2019-03-14")])
    token = await stack.harness.invite("g-ana")
    assert await stack.post_update(update("command_start_with_payload", token=token)) == 200
    await stack.deliver()
    assert "date of birth" in stack.texts_to(STRANGER_ID)[-1]
    assert await stack.say(STRANGER_ID, "03/14/2019") == 200
    await stack.deliver_all()
    assert "You're all set." in stack.texts_to(STRANGER_ID)[-1]


async def test_a_recorded_button_press_confirms_the_visit(stack: Stack) -> None:
    await linked_family(stack)
    reminder = await reminder_message(stack)
    confirm = stack.buttons_of(reminder)["Confirm"]
    assert await stack.post_update(update("callback_query", ANA_ID, data=confirm)) == 200
    [answer] = stack.fake.calls("answerCallbackQuery")
    assert answer.params["callback_query_id"] == "6123456789012345678"
    assert answer.params["text"] == "Confirmed"
    assert (await stack.harness.appointment_row("a-1")).participant_status == "accepted"


async def test_a_press_on_a_message_telegram_no_longer_shows_still_gets_an_answer(
    stack: Stack,
) -> None:
    await linked_family(stack)
    reminder = await reminder_message(stack)
    cancel = stack.buttons_of(reminder)["Cancel"]
    stale = update("callback_query_inaccessible_message", ANA_ID, data=cancel)
    assert stale["callback_query"]["message"]["date"] == 0
    assert await stack.post_update(stale) == 200
    assert len(stack.fake.calls("answerCallbackQuery")) == 1
    await stack.deliver_all()
    assert "Why are you cancelling?" in stack.texts_to(ANA_ID)[-1]
    forged = update("callback_query_inaccessible_message", ANA_ID, data="cf:5521")
    assert await stack.post_update(forged) == 200
    answer = stack.fake.calls("answerCallbackQuery")[-1]
    assert answer.params["text"] == "Sorry, this button can't be used."


@pytest.mark.parametrize("name", list(ATTACHMENTS))
async def test_a_message_without_text_from_a_linked_family_is_answered_only_text(
    stack: Stack, name: str
) -> None:
    await linked_family(stack)
    sent_before = len(stack.texts_to(ANA_ID))
    assert await stack.post_update(update(name, ANA_ID)) == 200
    await stack.deliver_all()
    [reply] = stack.texts_to(ANA_ID)[sent_before:]
    assert reply == (
        f"{ONLY_TEXT} Please write it in words, or call Bright Steps Therapy at +1 555 010 2030."
    )
    kept = await stack.harness.scalar(
        "SELECT body FROM message WHERE direction = 'in' ORDER BY id DESC LIMIT 1"
    )
    assert kept == f"[{ATTACHMENTS[name]}]"  # what was sent is never kept, only its kind
    assert await stack.harness.scalar("SELECT COUNT(*) FROM escalation") == 0


@pytest.mark.parametrize("name", list(ATTACHMENTS))
async def test_a_message_without_text_from_someone_not_linked_is_answered_only_text(
    stack: Stack, name: str
) -> None:
    assert await stack.post_update(update(name)) == 200
    await stack.deliver()
    [reply] = stack.texts_to(STRANGER_ID)
    assert reply.startswith(ONLY_TEXT)
    assert NOT_INVITED not in reply


async def test_a_sticker_from_a_spanish_speaker_is_answered_in_spanish(stack: Stack) -> None:
    sticker = update("sticker")
    sticker["message"]["from"]["language_code"] = "es-MX"
    assert await stack.post_update(sticker) == 200
    await stack.deliver()
    [reply] = stack.texts_to(STRANGER_ID)
    assert reply.startswith(ONLY_TEXT_ES)


async def test_a_photo_with_a_caption_is_handled_as_its_caption(stack: Stack) -> None:
    await linked_family(stack)
    photo = update("photo_with_caption", ANA_ID)
    photo["message"]["caption"] = "/next"
    assert await stack.post_update(photo) == 200
    await stack.deliver_all()
    assert "upcoming appointments" in stack.texts_to(ANA_ID)[-1]
    assert ONLY_TEXT not in " ".join(stack.texts_to(ANA_ID))


async def test_the_recorded_caption_goes_to_a_person_as_words(stack: Stack) -> None:
    await linked_family(stack)
    assert await stack.post_update(update("photo_with_caption", ANA_ID)) == 200
    await stack.deliver_all()
    assert ONLY_TEXT not in stack.texts_to(ANA_ID)[-1]
    assert await stack.harness.scalar("SELECT COUNT(*) FROM escalation") == 1
    assert (
        await stack.harness.scalar(
            "SELECT body FROM message WHERE direction = 'in' ORDER BY id DESC LIMIT 1"
        )
        == "[photo] The referral letter from Dr. Lima"
    )


async def test_a_caption_from_someone_not_linked_gets_the_polite_refusal(stack: Stack) -> None:
    assert await stack.post_update(update("photo_with_caption")) == 200
    await stack.deliver()
    [reply] = stack.texts_to(STRANGER_ID)
    assert NOT_INVITED in reply


def without_words(user_id: int, **content: Any) -> dict[str, Any]:
    """The recorded text message with its words replaced by ``content`` (Bot API ``Message``
    fields no fixture file holds: a forwarded story, service messages)."""
    message = update("text", user_id)
    del message["message"]["text"]
    message["message"].update(content)
    return message


STORY = {"story": {"chat": {"id": -1001987654321, "type": "channel", "title": "Sol"}, "id": 17}}
SERVICE_MESSAGES = {
    # The family pinned carebot's reminder in their chat.
    "pinned_message": {
        "pinned_message": {
            "message_id": 1184,
            "from": {"id": 7391846205, "is_bot": True, "first_name": "Carebot"},
            "chat": {"id": ANA_ID, "type": "private", "first_name": "Ana"},
            "date": 1718110242,
            "text": "Reminder: Maya has an appointment on Thursday.",
        }
    },
    # They turned on auto-delete for the chat.
    "message_auto_delete_timer_changed": {
        "message_auto_delete_timer_changed": {"message_auto_delete_time": 86400}
    },
    # They allowed the bot to write to them (from a login or attachment menu).
    "write_access_allowed": {"write_access_allowed": {"from_request": True}},
}


async def test_a_forwarded_story_is_answered_only_text(stack: Stack) -> None:
    await linked_family(stack)
    sent_before = len(stack.texts_to(ANA_ID))
    assert await stack.post_update(without_words(ANA_ID, **STORY)) == 200
    await stack.deliver_all()
    [reply] = stack.texts_to(ANA_ID)[sent_before:]
    assert reply.startswith(ONLY_TEXT)
    assert await stack.harness.scalar("SELECT COUNT(*) FROM escalation") == 0
    assert (
        await stack.harness.scalar(
            "SELECT body FROM message WHERE direction = 'in' ORDER BY id DESC LIMIT 1"
        )
        == "[story]"
    )


@pytest.mark.parametrize("kind", list(SERVICE_MESSAGES))
async def test_a_service_message_in_the_chat_is_not_something_the_family_said(
    stack: Stack, kind: str
) -> None:
    """Pinning a reminder is not a question for a coordinator."""
    await linked_family(stack)
    before, sent = await counts(stack), len(stack.fake.sent_messages())
    assert await stack.post_update(without_words(ANA_ID, **SERVICE_MESSAGES[kind])) == 200
    await stack.deliver_all()
    assert len(stack.fake.sent_messages()) == sent
    assert await counts(stack) == before  # no message row, no escalation


@pytest.mark.parametrize("name", IGNORED)
async def test_kinds_carebot_does_not_act_on_are_answered_and_leave_no_trace(
    stack: Stack, name: str
) -> None:
    await linked_family(stack)
    before, sent = await counts(stack), len(stack.fake.sent_messages())
    assert await stack.post_update(update(name, ANA_ID)) == 200
    await stack.deliver_all()
    assert len(stack.fake.sent_messages()) == sent
    assert stack.fake.calls("answerCallbackQuery") == []
    assert await counts(stack) == before
    assert not await blocked(stack)


async def test_a_family_that_blocks_the_bot_is_marked_and_its_queue_fails(stack: Stack) -> None:
    await linked_family(stack)
    assert await stack.say(ANA_ID, "/help") == 200  # its answer is queued, not yet sent
    queued = await stack.harness.scalar(
        "SELECT id FROM message WHERE direction = 'out' AND status = 'queued'"
    )
    assert queued is not None
    sent = len(stack.fake.sent_messages())

    assert await stack.post_update(update("my_chat_member_kicked", ANA_ID)) == 200
    assert await blocked(stack)
    assert (
        await stack.harness.scalar(
            "SELECT status || ' / ' || error FROM message WHERE id = ?", queued
        )
        == "failed / recipient blocked the bot"
    )
    assert (
        await stack.harness.scalar(
            "SELECT COUNT(*) FROM audit_event WHERE action = 'identity.blocked'"
        )
        == 1
    )
    await stack.deliver_all()
    assert len(stack.fake.sent_messages()) == sent  # nothing was sent to them

    # Writing again unblocks them, and they are answered.
    stack.clock.advance(timedelta(seconds=1))
    assert await stack.say(ANA_ID, "/next") == 200
    assert not await blocked(stack)
    await stack.deliver_all()
    assert "upcoming appointments" in stack.texts_to(ANA_ID)[-1]


async def test_a_family_that_unblocks_the_bot_can_be_written_to_again(stack: Stack) -> None:
    await linked_family(stack)
    kicked = update("my_chat_member_kicked", ANA_ID)
    assert await stack.post_update(kicked) == 200
    assert await blocked(stack)
    assert await stack.post_update(kicked) == 200  # a redelivery does nothing more
    assert (
        await stack.harness.scalar(
            "SELECT COUNT(*) FROM audit_event WHERE action = 'identity.blocked'"
        )
        == 1
    )
    sent = len(stack.fake.sent_messages())
    assert await stack.post_update(update("my_chat_member_member", ANA_ID)) == 200
    assert not await blocked(stack)
    await stack.deliver_all()
    assert len(stack.fake.sent_messages()) == sent  # unblocking is not a message to answer


async def test_a_block_by_someone_not_linked_changes_nothing(stack: Stack) -> None:
    assert await stack.post_update(update("my_chat_member_kicked")) == 200
    assert await stack.harness.scalar("SELECT COUNT(*) FROM channel_identity") == 0
    assert await stack.harness.scalar("SELECT COUNT(*) FROM message") == 0
    assert await stack.harness.scalar("SELECT COUNT(*) FROM unusable_request") == 0


def _string_update_id() -> bytes:
    text = update("text")
    text["update_id"] = str(text["update_id"])
    return json.dumps(text).encode()


RAW_MALFORMED = {
    **{name: (lambda name=name: json.dumps(update(name)).encode()) for name in MALFORMED},
    "not_json": lambda: b"this is not json",
    "not_utf_8": lambda: b'{"update_id": 1, "message": "\xff\xfe"}',
    "json_array": lambda: json.dumps([update("text")]).encode(),
    "update_id_a_string": _string_update_id,
    "json_null": lambda: b"null",
}


@pytest.mark.parametrize("kind", list(RAW_MALFORMED))
async def test_a_malformed_update_is_kept_as_unusable_and_the_next_is_handled(
    stack: Stack, kind: str
) -> None:
    body = RAW_MALFORMED[kind]()
    assert await post_raw(stack, body) == 200
    assert await stack.harness.scalar("SELECT COUNT(*) FROM unusable_request") == 1
    row = await stack.harness.scalar(
        "SELECT channel || ' / ' || size || ' / ' || reason FROM unusable_request"
    )
    assert isinstance(row, str) and row.startswith(f"telegram / {len(body)} / ")
    assert await stack.harness.scalar("SELECT COUNT(*) FROM message") == 0
    assert stack.fake.sent_messages() == []
    # The next good update is handled as usual.
    assert await stack.post_update(update("text")) == 200
    await stack.deliver()
    assert NOT_INVITED in stack.texts_to(STRANGER_ID)[-1]
    assert await stack.harness.scalar("SELECT COUNT(*) FROM unusable_request") == 1


async def test_the_unusable_row_says_why_and_never_holds_the_body(stack: Stack) -> None:
    for name in MALFORMED:
        body = json.dumps(update(name, text="Maya's diagnosis")).encode()
        assert await post_raw(stack, body) == 200
    async with stack.harness.db.read() as conn:
        cur = await conn.execute("SELECT * FROM unusable_request ORDER BY id")
        columns = [c[0] for c in cur.description]
        rows = [dict(zip(columns, r, strict=True)) for r in await cur.fetchall()]
    assert "diagnosis" not in json.dumps(rows)
    reasons = [row["reason"] for row in rows]
    assert reasons == [
        "malformed update (AttributeError)",
        "malformed update (KeyError)",
        "malformed update (TypeError)",
    ]


@pytest.mark.parametrize("name", ["text", "my_chat_member_kicked", "malformed_no_date"])
@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
async def test_without_the_secret_nothing_is_written(
    stack: Stack, name: str, secret: str | None
) -> None:
    await linked_family(stack)
    before, sent = await counts(stack), len(stack.fake.sent_messages())
    assert await stack.post_update(update(name, ANA_ID), secret=secret) == 403
    await stack.deliver_all()
    assert await counts(stack) == before
    assert len(stack.fake.sent_messages()) == sent
    assert not await blocked(stack)


async def test_polling_reads_past_a_malformed_update_and_moves_the_offset_on(
    tmp_path: Path, clock: FakeClock, fake: FakeTelegram
) -> None:
    async with serve_app(fake.app) as root:
        settings = settings_for(root, tmp_path / "polling.db", mode="polling")
        db = await Database.open(settings.database)
        carebot = CareBot(settings, db, clock)
        await carebot.start()
        try:
            await fake.wait_until_polling()
            first = fake.push_update(update("text", 5551001))
            bad = fake.push_update(update("malformed_message_is_number", 5551002))
            second = fake.push_update(update("sticker", 5551003))
            calls = await fake.wait_for_calls("sendMessage", 2)
            by_chat = {call.params["chat_id"]: call.params["text"] for call in calls}
            assert NOT_INVITED in by_chat[5551001]
            assert by_chat[5551003].startswith(ONLY_TEXT)
            assert 5551002 not in by_chat
            # The next long poll confirms all three (offset past the last), so none comes again.
            await fake.wait_until_polling()
            assert fake.pending_updates == []
            async with db.read() as conn:
                cur = await conn.execute("SELECT channel, event_id, reason FROM unusable_request")
                rows = [tuple(r) for r in await cur.fetchall()]
            assert rows == [
                ("telegram", str(bad["update_id"]), "malformed update (AttributeError)")
            ]
            async with db.read() as conn:
                cur = await conn.execute("SELECT event_id FROM inbound_event ORDER BY event_id")
                claimed = [r[0] for r in await cur.fetchall()]
            assert claimed == [str(first["update_id"]), str(second["update_id"])]
        finally:
            await carebot.stop()
            await db.close()
