"""OutboxRepo's contract (and ``settle``, the outbox's one-trip writer): what is due and in which
order, one taker per message, the delivery states moving only forward, recovery after a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

from storage.db import Database
from storage.models import Button, OutboundMessage
from storage.outbox import Settlement, settle
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ANA, BEA = "telegram:1001", "telegram:1002"


async def queue(
    record: Record,
    address: str = ANA,
    *,
    channel: str = "telegram",
    not_before: datetime | None = None,
    buttons: tuple[Button, ...] = (),
    thread: int | None = None,
) -> int:
    return await record.messages.queue(
        channel=channel, address=address, body="See you Thursday", template="reminder",
        guardian_id=None, staff_id=None, buttons=buttons, now=NOW - timedelta(hours=1),
        reveals=frozenset(),
        not_before=not_before or NOW - timedelta(hours=1), thread_message_id=thread,
    )  # fmt: skip


async def status(store: Database, message_id: int) -> str | None:
    async with store.query() as conn:
        return await Record(conn).messages.status(message_id)


async def sent(store: Database, message_id: int, provider_id: str) -> None:
    """Through the outbox's own path: marked sending, then settled as sent."""
    async with store.transaction() as conn:
        assert await Record(conn).outbox.start_sending([message_id], NOW) == {message_id}
    turn = Settlement(sent=[(message_id, provider_id, 1)])
    assert await store.write(partial(settle, turn=turn, now=NOW)) == set()


async def test_due_offers_the_first_queued_message_of_each_address_earliest_first(
    record: Record,
) -> None:
    choices = (Button(label="Yes", token="t-yes"), Button(label="No", token="t-no"))
    ana_first = await queue(record, not_before=NOW - timedelta(minutes=10), buttons=choices)
    await queue(record, not_before=NOW - timedelta(minutes=30))  # behind Ana's first
    bea = await queue(record, BEA, not_before=NOW - timedelta(minutes=20))
    await queue(record, "slack:T/C1", channel="slack")
    due = await record.outbox.due("telegram", NOW, limit=10)
    assert [m.id for m in due] == [bea, ana_first]
    head = due[1]
    assert isinstance(head, OutboundMessage)
    assert (head.channel, head.address, head.template, head.body) == (
        "telegram", ANA, "reminder", "See you Thursday",
    )  # fmt: skip
    assert (head.attempts, head.parts_sent, head.sending_at, head.thread_message_id) == (
        0, 0, None, None,
    )  # fmt: skip
    assert head.buttons == choices
    assert [m.id for m in await record.outbox.due("telegram", NOW, limit=1)] == [bea]
    assert await record.outbox.due("sms", NOW, limit=10) == []


async def test_a_message_held_for_later_waits_without_holding_back_the_next_one(
    record: Record,
) -> None:
    later = await queue(record, not_before=NOW + timedelta(hours=1))
    now_one = await queue(record)
    assert [m.id for m in await record.outbox.due("telegram", NOW, limit=10)] == [now_one]
    in_an_hour = NOW + timedelta(hours=1)
    assert [m.id for m in await record.outbox.due("telegram", in_an_hour, limit=10)] == [later]


async def test_a_message_waiting_for_a_retry_holds_back_later_ones_to_its_address(
    store: Database,
) -> None:
    async with store.transaction() as conn:
        first, second = await queue(Record(conn)), await queue(Record(conn))
        assert await Record(conn).outbox.start_sending([first], NOW) == {first}
    retry_at = NOW + timedelta(seconds=30)
    await store.write(partial(settle, turn=Settlement(retries=[(first, retry_at, "502")]), now=NOW))
    async with store.query() as conn:
        assert await Record(conn).outbox.due("telegram", NOW, limit=10) == []
        [again] = await Record(conn).outbox.due("telegram", retry_at, limit=10)
    assert (again.id, again.attempts) == (first, 1)
    assert await status(store, second) == "queued"


async def test_start_sending_hands_a_message_to_one_taker_only_and_marks_it_sending(
    record: Record,
) -> None:
    first, second = await queue(record), await queue(record, BEA)
    assert await record.outbox.start_sending([], NOW) == set()
    assert await record.outbox.start_sending([first, second, 999], NOW) == {first, second}
    assert await record.outbox.start_sending([first, second], NOW) == set()
    assert await record.messages.status(first) == "sending"
    assert [m.id for m in await record.outbox.due("telegram", NOW, limit=10)] == []


async def test_settle_records_sends_and_marks_the_next_messages_sending_in_one_write(
    store: Database,
) -> None:
    async with store.transaction() as conn:
        first, second = await queue(Record(conn)), await queue(Record(conn), BEA)
        await Record(conn).outbox.start_sending([first], NOW)
    assert not Settlement(start=[second])
    turn = Settlement(sent=[(first, "tg-77", 1)], start=[second])
    assert turn
    assert await store.write(partial(settle, turn=turn, now=NOW)) == {second}
    assert (await status(store, first), await status(store, second)) == ("sent", "sending")
    async with store.query() as conn:
        assert await Record(conn).messages.provider_id(first) == "tg-77"
        [row] = await conn.execute_fetchall(
            "SELECT attempts, sent_at FROM message WHERE id = ?", (first,)
        )
    assert tuple(row) == (1, "2026-11-23T14:00:00Z")


async def test_a_late_sent_report_never_moves_a_delivered_message_back(store: Database) -> None:
    async with store.transaction() as conn:
        message_id = await queue(Record(conn), "sms:+15551230077", channel="sms")
    await sent(store, message_id, "SM1")
    async with store.transaction() as conn:
        outbox = Record(conn).outbox
        assert await outbox.report_status("SM1", "delivered", None) == "sms:+15551230077"
        assert await outbox.report_status("SM1", "sent", None) == "sms:+15551230077"
        await outbox.report_status("SM1", "queued", None)
        await outbox.report_status("SM1", "failed", "30003")
    assert await status(store, message_id) == "delivered"


async def test_a_failed_report_fails_a_sent_message_with_the_providers_error_code(
    store: Database,
) -> None:
    async with store.transaction() as conn:
        message_id = await queue(Record(conn), "sms:+15551230077", channel="sms")
    await sent(store, message_id, "SM2")
    async with store.transaction() as conn:
        await Record(conn).outbox.report_status("SM2", "failed", "30003")
        [row] = await conn.execute_fetchall(
            "SELECT status, error FROM message WHERE id = ?", (message_id,)
        )
    assert tuple(row) == ("failed", "provider error 30003")


async def test_a_report_for_an_unknown_or_inbound_provider_id_changes_nothing(
    record: Record,
) -> None:
    inbound = await record.messages.record_inbound(
        channel="sms", address="sms:+15551230077", body="C", guardian_id=None, staff_id=None,
        provider_message_id="SM-in", now=NOW,
    )  # fmt: skip
    assert await record.outbox.report_status("SM-nobody", "delivered", None) is None
    assert await record.outbox.report_status("SM-in", "failed", "30005") is None
    assert await record.messages.status(inbound) == "received"


async def test_after_a_crash_messages_left_sending_become_unknown_oldest_first(
    record: Record,
) -> None:
    first, second, waiting = await queue(record), await queue(record, BEA), await queue(record)
    await record.outbox.start_sending([second, first], NOW)
    assert await record.outbox.in_flight_to_unknown() == 2
    assert await record.outbox.in_flight_to_unknown() == 0
    unknown = await record.outbox.unknown(limit=10)
    assert [m.id for m in unknown] == [first, second]
    assert unknown[0].sending_at == NOW
    assert unknown[0].sending_at.utcoffset() == timedelta(0)
    assert [m.id for m in await record.outbox.unknown(limit=1)] == [first]
    assert await record.messages.status(waiting) == "queued"


async def test_an_unknown_message_found_at_the_provider_counts_as_sent_when_its_send_began(
    record: Record,
) -> None:
    message_id, queued = await queue(record), await queue(record, BEA)
    await record.outbox.start_sending([message_id], NOW)
    await record.outbox.in_flight_to_unknown()
    later = NOW + timedelta(minutes=5)
    await record.outbox.found_at_provider(message_id, "tg-5", later)
    await record.outbox.found_at_provider(queued, "tg-6", later)  # not unknown: untouched
    rows = await record.conn.execute_fetchall(
        "SELECT status, provider_message_id, recovery, recovered_at, sent_at FROM message"
        " WHERE id IN (?, ?) ORDER BY id",
        (message_id, queued),
    )
    assert [tuple(r) for r in rows] == [
        ("sent", "tg-5", "found", "2026-11-23T14:05:00Z", "2026-11-23T14:00:00Z"),
        ("queued", None, None, None, None),
    ]
    assert await record.outbox.unknown(limit=10) == []


async def test_an_unknown_message_sent_again_is_queued_flagged_and_due_at_once(
    record: Record,
) -> None:
    message_id = await queue(record)
    await record.outbox.start_sending([message_id], NOW)
    await record.outbox.in_flight_to_unknown()
    await record.outbox.send_again(message_id, NOW)
    [row] = await record.conn.execute_fetchall(
        "SELECT status, recovery FROM message WHERE id = ?", (message_id,)
    )
    assert tuple(row) == ("queued", "resent")
    assert [m.id for m in await record.outbox.due("telegram", NOW, limit=10)] == [message_id]
    await record.outbox.start_sending([message_id], NOW)
    await record.outbox.send_again(message_id, NOW)  # not unknown: untouched
    assert await record.messages.status(message_id) == "sending"


async def test_queue_state_counts_the_queue_and_names_its_earliest_and_next_upcoming_times(
    record: Record,
) -> None:
    assert await record.outbox.queue_state("telegram", NOW) == (0, None, None)
    await queue(record, not_before=NOW - timedelta(minutes=5))
    await queue(record, BEA, not_before=NOW + timedelta(minutes=30))
    await queue(record, BEA, not_before=NOW + timedelta(minutes=10))
    await record.outbox.start_sending(
        [await queue(record, not_before=NOW - timedelta(hours=2))], NOW
    )
    depth, oldest, upcoming = await record.outbox.queue_state("telegram", NOW)
    assert (depth, oldest, upcoming) == (3, NOW - timedelta(minutes=5), NOW + timedelta(minutes=10))
    assert oldest is not None and oldest.tzinfo is not None
    assert await record.outbox.queue_state("telegram", NOW + timedelta(hours=1)) == (
        3, NOW - timedelta(minutes=5), None,
    )  # fmt: skip


async def test_fail_queued_elsewhere_fails_only_what_waits_for_a_channel_not_run(
    record: Record,
) -> None:
    telegram, slack = await queue(record), await queue(record, "slack:T/C1", channel="slack")
    sms = await queue(record, "sms:+15551230077", channel="sms")
    failed = await record.outbox.fail_queued_elsewhere(
        ["telegram", "sms"], "channel not configured"
    )
    assert failed == [slack]
    assert [await record.messages.status(i) for i in (telegram, slack, sms)] == [
        "queued", "failed", "queued",
    ]  # fmt: skip
    assert await record.outbox.fail_queued_elsewhere(["telegram", "sms"], "again") == []


async def test_a_thread_reply_carries_its_threads_provider_id_once_that_post_went_out(
    store: Database,
) -> None:
    async with store.transaction() as conn:
        thread = await queue(Record(conn), "slack:T/C1", channel="slack")
        reply = await queue(Record(conn), "slack:T/C1", channel="slack", thread=thread)
    await sent(store, thread, "1700000000.000100")
    async with store.query() as conn:
        [head] = await Record(conn).outbox.due("slack", NOW, limit=10)
    assert (head.id, head.thread_message_id, head.thread_provider_id) == (
        reply, thread, "1700000000.000100",
    )  # fmt: skip


async def test_a_report_on_the_first_part_leaves_a_partly_sent_message_queued_for_the_rest(
    store: Database,
) -> None:
    async with store.transaction() as conn:
        message_id = await queue(Record(conn), "sms:+15551230077", channel="sms")
        await Record(conn).outbox.start_sending([message_id], NOW)
    retry_at = NOW + timedelta(seconds=2)
    turn = Settlement(parts=[(message_id, 1, "SM-part1")], retries=[(message_id, retry_at, "5xx")])
    await store.write(partial(settle, turn=turn, now=NOW))
    async with store.transaction() as conn:
        await Record(conn).outbox.report_status("SM-part1", "delivered", None)
        due = await Record(conn).outbox.due("sms", retry_at, limit=10)
    assert [(m.id, m.parts_sent) for m in due] == [(message_id, 1)]


async def test_a_delivery_report_that_beats_the_outbox_is_not_moved_back_to_sent(
    store: Database,
) -> None:
    """The provider may report a one-part text delivered before the outbox's turn records it
    sent: the turn's ``sent`` keeps ``delivered``."""
    async with store.transaction() as conn:
        message_id = await queue(Record(conn), "sms:+15551230078", channel="sms")
        await Record(conn).outbox.start_sending([message_id], NOW)
        await conn.execute(
            "UPDATE message SET provider_message_id = 'SM-early' WHERE id = ?", (message_id,)
        )
        assert await Record(conn).outbox.report_status("SM-early", "delivered", None)
    turn = Settlement(sent=[(message_id, "SM-early", 1)])
    await store.write(partial(settle, turn=turn, now=NOW))
    async with store.query() as conn:
        row = await (
            await conn.execute("SELECT status, attempts FROM message WHERE id = ?", (message_id,))
        ).fetchone()
    assert tuple(row) == ("delivered", 1)
