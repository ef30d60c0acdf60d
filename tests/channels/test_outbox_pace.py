"""The outbox's pace against the real adapters and fakes, on the fake clock (no timed
assertions): the platforms' limits kept exactly, a 429 waited out for exactly as long as the
platform said, at most ``in_flight`` rows ``sending``, and the outbox's series in /metrics."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from bot.outbox import DEFAULT_IN_FLIGHT
from storage.models import OutboundMessage
from tests.channels.conftest import Stack
from tests.channels.test_outbox import queue
from tests.channels.test_sms_e2e import ANA, SmsStack
from tests.channels.test_sms_e2e import sms as sms  # noqa: F401 - the fixture

CHAT = 7_000_000  # chats CHAT, CHAT + 1, ... (the outbox sends to any address it is given)


async def queue_to_chats(stack: Stack, count: int, *, chats: int | None = None) -> list[int]:
    """``count`` messages, to ``chats`` chats in turn (one chat each by default)."""
    return [
        await queue(stack, f"telegram:{CHAT + n % (chats or count)}", f"message {n}")
        for n in range(count)
    ]


def sent_at(stack: Stack) -> list[float]:
    """When the fake accepted each sendMessage (the fake clock's time)."""
    return [c.at.timestamp() for c in stack.fake.calls("sendMessage") if c.ok]


async def metrics(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = (await client.get("/metrics")).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


async def test_telegram_gets_exactly_30_sends_in_a_second_never_31(stack: Stack) -> None:
    await queue_to_chats(stack, 100)
    await stack.deliver()
    assert len(sent_at(stack)) == 30
    await stack.deliver()  # the same instant: the window is full
    assert len(sent_at(stack)) == 30
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver()
    assert len(sent_at(stack)) == 60
    for _second in range(3):
        stack.clock.advance(timedelta(seconds=1))
        await stack.deliver()
    times = sent_at(stack)
    assert len(times) == 100
    # In no sliding second more than 30, and the oldest first (sends of a turn overlap, so
    # within a second they arrive in any order).
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) == 30
    texts = [m["text"] for m in stack.fake.sent_messages()]
    assert set(texts[:30]) == {f"message {n}" for n in range(30)}
    assert sorted(texts) == sorted(f"message {n}" for n in range(100))


async def test_a_chat_gets_one_message_a_second_in_order(stack: Stack) -> None:
    await queue_to_chats(stack, 6, chats=2)  # three to each of two chats
    await stack.deliver()
    assert len(sent_at(stack)) == 2  # one to each chat
    await stack.deliver()
    assert len(sent_at(stack)) == 2
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver()
    assert len(sent_at(stack)) == 4
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver()
    assert [m["text"] for m in stack.fake.sent_messages(CHAT)] == [
        "message 0",
        "message 2",
        "message 4",
    ]
    assert [c.at for c in stack.fake.calls("sendMessage")][::2] == [
        stack.clock.now() - timedelta(seconds=s) for s in (2, 1, 0)
    ]


async def test_the_loop_sleeps_until_the_window_frees_not_in_a_spin(stack: Stack) -> None:
    await queue_to_chats(stack, 40)
    outbox = stack.carebot.outbox
    sent = await outbox.deliver_channel("telegram")
    assert sent.sent == 30
    assert outbox.next_wake_in("telegram", sent) == 0  # it moved: look again at once
    held = await outbox.deliver_channel("telegram")
    assert (held.sent, held.deferred) == (0, 10)
    assert outbox.next_wake_in("telegram", held) == 1.0  # when the first place frees


async def test_a_429_pauses_the_channel_for_exactly_its_retry_after(stack: Stack) -> None:
    first = await queue(stack, f"telegram:{CHAT}", "first")
    stack.fake.fail_next("sendMessage", status=429, retry_after=3)
    await stack.deliver()
    assert sent_at(stack) == []
    await queue(stack, f"telegram:{CHAT + 1}", "to another chat")
    stack.clock.advance(timedelta(seconds=2))
    await stack.deliver()
    assert sent_at(stack) == []  # the whole channel waits, not only the first chat
    stack.clock.advance(timedelta(seconds=1))  # 3 s after the 429
    await stack.deliver()
    assert sorted(m["text"] for m in stack.fake.sent_messages()) == ["first", "to another chat"]
    assert await stack.harness.scalar(
        "SELECT status || ' ' || attempts FROM message WHERE id = ?", first
    ) == ("sent 2")
    found = await metrics(stack.client)
    assert sample(found, "carebot_outbox_rate_limited_total", channel="telegram") == 1.0
    assert sample(found, "carebot_outbox_sends_total", channel="telegram") == 3.0


async def test_a_twilio_429_with_retry_after_waits_exactly_that_long(sms: SmsStack) -> None:
    sms.twilio.fail_next(status=429, code=20429, message="Too Many Requests", retry_after=4)
    await queue(sms, f"sms:{ANA}", "Bright Steps Therapy: see you Thursday.")
    outbox = sms.carebot.outbox
    await outbox.deliver_due()
    assert sms.twilio.sent == []
    for _second in range(3):
        sms.harness.clock.advance(timedelta(seconds=1))
        await outbox.deliver_due()
    assert sms.twilio.sent == []  # 3 s later: still waiting
    sms.harness.clock.advance(timedelta(seconds=1))
    await outbox.deliver_due()
    assert sms.twilio.to(ANA) == ["Bright Steps Therapy: see you Thursday."]


async def test_a_twilio_429_that_says_nothing_backs_off_1_then_2_seconds(sms: SmsStack) -> None:
    """Twilio documents no Retry-After for 20429 (it asks to back off): 1 s, then 2 s, and a
    text that goes out starts the backoff again."""
    outbox = sms.carebot.outbox
    for _ in range(2):
        sms.twilio.fail_next(status=429, code=20429, message="Too Many Requests")
    await queue(sms, f"sms:{ANA}", "Bright Steps Therapy: see you Thursday.")
    await outbox.deliver_due()
    sms.harness.clock.advance(timedelta(seconds=1))
    await outbox.deliver_due()  # the second 429: now 2 s
    assert len(sms.twilio.requests) == 2
    sms.harness.clock.advance(timedelta(seconds=1))
    await outbox.deliver_due()
    assert len(sms.twilio.requests) == 2
    sms.harness.clock.advance(timedelta(seconds=1))
    await outbox.deliver_due()
    assert sms.twilio.to(ANA) == ["Bright Steps Therapy: see you Thursday."]
    sms.twilio.fail_next(status=429, code=20429, message="Too Many Requests")
    await queue(sms, f"sms:{ANA}", "Bright Steps Therapy: a second note.")
    sms.harness.clock.advance(timedelta(seconds=1))
    await outbox.deliver_due()
    sms.harness.clock.advance(timedelta(seconds=1))  # 1 s again, not 4
    await outbox.deliver_due()
    assert sms.twilio.to(ANA)[-1] == "Bright Steps Therapy: a second note."


async def test_never_more_than_in_flight_messages_are_sending(stack: Stack) -> None:
    """What bounds the duplicates of a crash: each send finds at most ``in_flight`` rows
    ``sending`` (itself included), with sends overlapping at the platform."""
    telegram = stack.carebot.telegram
    assert telegram is not None
    seen: list[int] = []
    real_send = telegram.send

    async def watched(message: OutboundMessage) -> Any:
        with sqlite3.connect(f"file:{stack.carebot.db.path}?mode=ro", uri=True) as conn:
            seen.append(conn.execute("SELECT COUNT(*) FROM message WHERE status = 'sending'")
                        .fetchone()[0])  # fmt: skip
        return await real_send(message)

    telegram.send = watched  # type: ignore[method-assign]
    await queue_to_chats(stack, 30)
    await stack.deliver()
    assert len(seen) == 30
    assert max(seen) == DEFAULT_IN_FLIGHT


async def test_metrics_show_the_queue_sends_and_latency_after_a_round(stack: Stack) -> None:
    await queue_to_chats(stack, 35)
    stack.clock.advance(timedelta(seconds=5))  # they have waited 5 s when the round comes
    await stack.deliver()
    found = await metrics(stack.client)
    assert sample(found, "carebot_outbox_queued", channel="telegram") == 5.0
    assert sample(found, "carebot_outbox_oldest_due_seconds", channel="telegram") == 5.0
    assert sample(found, "carebot_outbox_sends_total", channel="telegram") == 30.0
    assert sample(found, "carebot_outbox_send_seconds_count", channel="telegram") == 30.0
    assert sample(found, "carebot_outbox_send_seconds_bucket", channel="telegram", le="+Inf") == 30
    assert sample(found, "carebot_outbox_rate_limited_total", channel="telegram") is None
    assert (
        sample(found, "carebot_outbound_messages_total", channel="telegram", outcome="sent") == 30
    )
    for _second in range(2):
        stack.clock.advance(timedelta(seconds=1))
        await stack.deliver()
    found = await metrics(stack.client)
    assert sample(found, "carebot_outbox_queued", channel="telegram") == 0.0
    assert sample(found, "carebot_outbox_oldest_due_seconds", channel="telegram") == 0.0
