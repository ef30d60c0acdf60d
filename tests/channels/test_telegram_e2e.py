"""End to end: python-telegram-bot against the fake Bot API, real webhook requests in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from bot.app import CareBot
from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.server import serve_app
from bot.scheduler import wake_dispatcher
from storage.clock import FakeClock
from storage.db import Database
from tests.channels.conftest import Stack, settings_for

ANA_ID = 5551001
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)  # Thursday 3:30 pm in New York


async def linked_family(stack: Stack) -> None:
    h = stack.harness
    await h.family("g-ana", "Ana", [("p-maya", "Maya", "2019-03-14")])
    link = await stack.carebot.create_invite("g-ana")
    token = parse_qs(urlparse(link).query)["start"][0]
    assert await stack.say(ANA_ID, f"/start {token}") == 200
    assert await stack.say(ANA_ID, "03/14/2019") == 200
    await stack.deliver_all()
    stack.clock.advance(timedelta(seconds=1))


async def reminder_message(stack: Stack) -> dict[str, Any]:
    await stack.harness.appointment("a-1", "p-maya", VISIT)
    stack.clock.set(VISIT - timedelta(hours=24))
    await wake_dispatcher(stack.carebot)
    await stack.deliver_all()
    return stack.fake.sent_messages(ANA_ID)[-1]


async def test_start_up_registers_the_menu_in_both_languages_and_the_webhook(
    stack: Stack,
) -> None:
    assert [c["command"] for c in stack.fake.my_commands("en")] == ["next", "language", "help"]
    assert [c["command"] for c in stack.fake.my_commands("es")] == ["next", "language", "help"]
    assert stack.fake.my_commands("en")[0]["description"] == "Your upcoming appointments"
    assert stack.fake.my_commands("es")[0]["description"] == "Sus próximas citas"
    assert stack.fake.my_commands("")[0]["description"] == "Your upcoming appointments"
    assert stack.fake.webhook.url == "https://carebot.example.org/telegram/webhook"
    assert stack.fake.webhook.secret_token is not None
    registered = stack.fake.calls("setWebhook")[-1].params
    assert registered["max_connections"] == 16
    assert registered["allowed_updates"] == ["message", "callback_query", "my_chat_member"]


async def test_a_webhook_without_the_secret_is_refused_and_writes_nothing(stack: Stack) -> None:
    update = stack.fake.message_update(ANA_ID, "hello")
    assert await stack.post_update(update, secret=None) == 403
    assert await stack.post_update(update, secret="wrong") == 403
    assert await stack.harness.scalar("SELECT COUNT(*) FROM message") == 0
    assert await stack.harness.scalar("SELECT COUNT(*) FROM inbound_event") == 0
    # The same update with the right secret is then handled normally.
    assert await stack.post_update(update) == 200
    await stack.deliver()
    assert "only help families the practice has invited" in stack.texts_to(ANA_ID)[0]


async def test_linking_over_telegram(stack: Stack) -> None:
    await linked_family(stack)
    link = await stack.carebot.create_invite("g-ana")
    assert link.startswith("https://t.me/carebot_sandbox_bot?start=")
    texts = stack.texts_to(ANA_ID)
    assert "date of birth" in texts[0]
    assert "Thank you, Ana! You're all set." in texts[1]
    assert (
        await stack.harness.scalar(
            "SELECT guardian_id FROM channel_identity WHERE address = ?", f"telegram:{ANA_ID}"
        )
        == "g-ana"
    )


async def test_a_reminder_goes_out_at_its_time_and_confirm_is_recorded(stack: Stack) -> None:
    await linked_family(stack)
    await stack.harness.appointment("a-1", "p-maya", VISIT)
    stack.clock.set(VISIT - timedelta(hours=72, seconds=1))
    await wake_dispatcher(stack.carebot)
    await stack.deliver()
    assert len(stack.fake.sent_messages(ANA_ID)) == 2  # nothing new yet
    stack.clock.advance(timedelta(seconds=1))
    await wake_dispatcher(stack.carebot)
    await stack.deliver()
    reminder = stack.fake.sent_messages(ANA_ID)[-1]
    assert "Maya has an appointment on Thursday, November 26 at 3:30 PM" in reminder["text"]
    buttons = stack.buttons_of(reminder)
    assert list(buttons) == ["Confirm", "Cancel", "Reschedule"]
    assert all(len(data) <= 64 and "a-1" not in data for data in buttons.values())

    assert await stack.press(ANA_ID, buttons["Confirm"]) == 200
    [answer] = stack.fake.calls("answerCallbackQuery")
    assert answer.params["text"] == "Confirmed"
    await stack.deliver_all()
    assert "is confirmed" in stack.texts_to(ANA_ID)[-1]
    row = await stack.harness.appointment_row("a-1")
    assert (row.participant_status, row.answered_by_guardian_id) == ("accepted", "g-ana")
    # The reminder itself now says so, and no button on it is live any more.
    [edit] = stack.fake.calls("editMessageText")
    [shown] = [m for m in stack.fake.transcript(ANA_ID) if m.get("edit_date")]
    assert edit.ok and edit.params["message_id"] == shown["message_id"]
    assert shown["text"].startswith(reminder["text"] + "\n\n✓ Confirmed by you at ")
    assert "reply_markup" not in shown


async def test_cancel_with_a_reason(stack: Stack) -> None:
    await linked_family(stack)
    reminder = await reminder_message(stack)
    await stack.press(ANA_ID, stack.buttons_of(reminder)["Cancel"])
    await stack.deliver_all()
    ask = stack.fake.sent_messages(ANA_ID)[-1]
    await stack.press(ANA_ID, stack.buttons_of(ask)["Sick"])
    await stack.deliver_all()
    assert "is cancelled" in stack.texts_to(ANA_ID)[-1]
    assert "late-cancellation policy may apply" in stack.texts_to(ANA_ID)[-1]
    row = await stack.harness.appointment_row("a-1")
    assert (row.status, row.cancellation_reason) == ("cancelled", "sick")


async def test_a_forged_callback_is_refused(stack: Stack) -> None:
    await linked_family(stack)
    await reminder_message(stack)
    sent_before = len(stack.fake.sent_messages())
    assert await stack.press(ANA_ID, "confirm:a-1") == 200
    [answer] = stack.fake.calls("answerCallbackQuery")
    assert answer.params["text"] == "Sorry, this button can't be used."
    await stack.deliver()
    assert len(stack.fake.sent_messages()) == sent_before
    assert (await stack.harness.appointment_row("a-1")).participant_status == "needs-action"


async def test_a_duplicate_update_is_ignored(stack: Stack) -> None:
    update = stack.fake.message_update(ANA_ID, "hello")
    assert await stack.post_update(update) == 200
    assert await stack.post_update(update) == 200
    await stack.deliver()
    assert len(stack.texts_to(ANA_ID)) == 1
    assert await stack.harness.scalar("SELECT COUNT(*) FROM message WHERE direction = 'in'") == 1


async def test_a_429_is_waited_out(stack: Stack) -> None:
    await linked_family(stack)
    await stack.harness.appointment("a-1", "p-maya", VISIT)
    stack.clock.set(VISIT - timedelta(hours=24))
    stack.fake.fail_next("sendMessage", status=429, retry_after=7)
    await wake_dispatcher(stack.carebot)
    await stack.deliver()
    assert len(stack.texts_to(ANA_ID)) == 2
    stack.clock.advance(timedelta(seconds=6))
    await stack.deliver()
    assert len(stack.texts_to(ANA_ID)) == 2
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver()
    assert "Maya has an appointment" in stack.texts_to(ANA_ID)[-1]
    assert (
        await stack.harness.scalar(
            "SELECT status || ' ' || attempts FROM message ORDER BY id DESC LIMIT 1"
        )
        == "sent 2"
    )


async def test_a_network_error_is_retried_with_backoff(stack: Stack) -> None:
    await linked_family(stack)
    stack.fake.fail_next("sendMessage", status=502, description="Bad Gateway", times=2)
    await stack.say(ANA_ID, "/help")
    await stack.deliver()
    stack.clock.advance(timedelta(seconds=2))
    await stack.deliver()
    assert "/language" not in " ".join(stack.texts_to(ANA_ID))
    stack.clock.advance(timedelta(seconds=4))
    await stack.deliver()
    assert "/language" in stack.texts_to(ANA_ID)[-1]
    assert (
        await stack.harness.scalar(
            "SELECT status || ' ' || attempts FROM message ORDER BY id DESC LIMIT 1"
        )
        == "sent 3"
    )


async def test_a_403_marks_the_chat_blocked_and_stops_sending(stack: Stack) -> None:
    await linked_family(stack)
    stack.fake.block_chat(ANA_ID)
    await stack.say(ANA_ID, "/next")
    await stack.deliver()
    assert (
        await stack.harness.scalar(
            "SELECT blocked_at IS NOT NULL FROM channel_identity WHERE address = ?",
            f"telegram:{ANA_ID}",
        )
        == 1
    )
    assert (
        await stack.harness.scalar(
            "SELECT status FROM message WHERE direction = 'out' ORDER BY id DESC LIMIT 1"
        )
        == "failed"
    )
    calls_before = len(stack.fake.calls("sendMessage"))
    await stack.harness.appointment("a-1", "p-maya", VISIT)
    stack.clock.set(VISIT - timedelta(hours=24))
    await wake_dispatcher(stack.carebot)
    await stack.deliver()
    assert len(stack.fake.calls("sendMessage")) == calls_before
    assert (
        await stack.harness.scalar("SELECT status FROM reminder WHERE offset_hours = 24")
        == "undeliverable"
    )


async def test_per_chat_pace_is_one_message_a_second(stack: Stack) -> None:
    await linked_family(stack)
    await stack.say(ANA_ID, "/help")
    await stack.say(ANA_ID, "/next")
    await stack.deliver()
    assert len(stack.texts_to(ANA_ID)) == 3
    await stack.deliver()
    assert len(stack.texts_to(ANA_ID)) == 3
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver()
    assert len(stack.texts_to(ANA_ID)) == 4
    assert "upcoming appointments" in stack.texts_to(ANA_ID)[-1]


async def test_health_and_metrics(stack: Stack) -> None:
    health = await stack.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["checks"] == {"database": "ok", "telegram": "started"}
    await stack.say(ANA_ID, "hi")
    metrics = (await stack.client.get("/metrics")).text
    assert 'carebot_inbound_events_total{channel="telegram",duplicate="false"} 1' in metrics


async def test_a_restart_mid_schedule_loses_and_duplicates_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    await linked_family(stack)
    await stack.harness.appointment("a-1", "p-maya", VISIT)
    await stack.harness.appointment("a-2", "p-maya", VISIT + timedelta(days=1))
    stack.clock.set(VISIT - timedelta(hours=72))
    await wake_dispatcher(stack.carebot)
    # The reminder is queued, but the process dies before the outbox runs.
    await stack.carebot.stop()
    await stack.carebot.db.close()

    db = await Database.open(stack.settings.database)
    again = CareBot(stack.settings, db, stack.clock)
    await again.start(run_outbox=False)
    try:
        for _hour in range(24 * 5):
            await wake_dispatcher(again)
            await again.outbox.deliver_due()
            stack.clock.advance(timedelta(hours=1))
    finally:
        await again.stop()
        await db.close()
    reminders = [t for t in stack.texts_to(ANA_ID) if "Reminder" in t]
    assert len(reminders) == 4  # 72 h and 24 h, for each of the two visits
    assert sum("Thursday, November 26" in t for t in reminders) == 2
    assert sum("Friday, November 27" in t for t in reminders) == 2


async def test_polling_mode_reads_updates_and_answers(
    tmp_path: Path, clock: FakeClock, fake: FakeTelegram
) -> None:
    async with serve_app(fake.app) as root:
        settings = settings_for(root, tmp_path / "polling.db", mode="polling")
        db = await Database.open(settings.database)
        carebot = CareBot(settings, db, clock)
        await carebot.start()
        try:
            await fake.wait_until_polling()
            fake.push_update(fake.message_update(ANA_ID, "hello"))
            [call] = await fake.wait_for_calls("sendMessage", 1)
            assert "only help families the practice has invited" in call.params["text"]
        finally:
            await carebot.stop()
            await db.close()
