"""MessageRepo's contract: inbound de-duplication, the conversation history, queueing outbound
messages with their buttons, and failing what can no longer be sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.messages import FailedForAuthor, ViewRequestRow
from storage.models import Button
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
ANA = "telegram:1001"
STAMP = "2026-11-23T14:00:00Z"


@dataclass(frozen=True)
class ViewRequest:
    channel: str
    event_id: str
    address: str
    slack_user_id: str
    body: str
    provider_message_id: str | None
    at: str


def view(event_id: str, slack_user_id: str = "U1") -> ViewRequest:
    return ViewRequest(
        "slack", event_id, f"slack:T/{slack_user_id}", slack_user_id, "/carebot today", None,
        STAMP,
    )  # fmt: skip


async def add_people(record: Record) -> None:
    for guardian_id in ("g-1", "g-2"):
        await record.conn.execute(
            "INSERT INTO guardian (id, first_name, last_name, phone, language, sms_consent,"
            " timezone, created_at, updated_at) VALUES (?, 'Ana', 'Rivera', NULL, 'en', 0, NULL,"
            " ?, ?)",
            (guardian_id, STAMP, STAMP),
        )
    await record.conn.execute(
        "INSERT INTO staff (id, name, role, slack_user_id, created_at, updated_at)"
        " VALUES ('s-1', 'Dana Brooks', 'clinician', 'U1', ?, ?)",
        (STAMP, STAMP),
    )


async def queue(
    record: Record,
    address: str = ANA,
    *,
    template: str = "reminder",
    buttons: tuple[Button, ...] = (),
    guardian_id: str | None = None,
    author: str | None = None,
    channel: str = "telegram",
    now: datetime = NOW,
) -> int:
    return await record.messages.queue(
        channel=channel, address=address, body=f"{template} text", template=template,
        guardian_id=guardian_id, staff_id=None, buttons=buttons, now=now, author_staff_id=author,
        reveals=frozenset(),
    )  # fmt: skip


def buttons(*tokens: str) -> tuple[Button, ...]:
    return tuple(Button(label=token.upper(), token=token) for token in tokens)


async def test_claiming_an_event_id_twice_says_the_second_time_it_was_already_handled(
    record: Record,
) -> None:
    assert await record.messages.claim_event("telegram", "u-1", NOW) is True
    assert await record.messages.claim_event("telegram", "u-1", NOW) is False
    assert await record.messages.claim_event("sms", "u-1", NOW) is True


async def test_forgetting_old_event_ids_drops_only_older_ones_and_lets_them_be_claimed_again(
    record: Record,
) -> None:
    assert await record.messages.forget_events_before(NOW) == 0
    await record.messages.claim_event("telegram", "old", NOW - timedelta(days=8))
    await record.messages.claim_event("telegram", "new", NOW)
    assert await record.messages.forget_events_before(NOW - timedelta(days=7)) == 1
    assert await record.messages.claim_event("telegram", "old", NOW) is True
    assert await record.messages.claim_event("telegram", "new", NOW) is False


async def test_a_queued_message_is_an_outbound_row_stored_in_utc_with_its_buttons_in_order(
    record: Record,
) -> None:
    local = NOW.astimezone(ZoneInfo("America/New_York"))
    message_id = await queue(record, buttons=buttons("yes", "no", "call"), now=local)
    assert isinstance(message_id, int)
    assert await record.messages.status(message_id) == "queued"
    assert await record.messages.provider_id(message_id) is None
    [row] = await record.conn.execute_fetchall(
        "SELECT direction, not_before, created_at, attempts FROM message WHERE id = ?",
        (message_id,),
    )
    assert tuple(row) == ("out", "2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z", 0)
    assert await record.messages.latest_buttons("telegram", ANA) == ["yes", "no", "call"]


async def test_queueing_with_a_naive_datetime_is_refused_and_writes_nothing(
    record: Record,
) -> None:
    with pytest.raises(ValueError, match="naive"):
        await queue(record, now=datetime(2026, 11, 23, 14, 0))
    assert await record.messages.last_template_to("telegram", ANA) is None


async def test_last_template_to_names_the_latest_outbound_template_and_ignores_inbound(
    record: Record,
) -> None:
    assert await record.messages.last_template_to("telegram", ANA) is None
    await queue(record, template="welcome")
    await queue(record, template="reminder")
    await queue(record, "telegram:2002", template="other")
    await record.messages.record_inbound(
        channel="telegram", address=ANA, body="hi", guardian_id=None, staff_id=None,
        provider_message_id="77", now=NOW,
    )  # fmt: skip
    assert await record.messages.last_template_to("telegram", ANA) == "reminder"
    assert await record.messages.last_template_to("sms", ANA) is None


async def test_last_offered_choices_looks_at_the_latest_outbound_message_only(
    record: Record,
) -> None:
    assert await record.messages.last_offered_choices("telegram", ANA) is False
    await queue(record, buttons=buttons("yes", "no"))
    assert await record.messages.last_offered_choices("telegram", ANA) is True
    await queue(record)
    assert await record.messages.last_offered_choices("telegram", ANA) is False


async def test_latest_buttons_come_from_the_latest_message_with_buttons_that_did_not_fail(
    record: Record,
) -> None:
    assert await record.messages.latest_buttons("telegram", ANA) == []
    await queue(record, buttons=buttons("a", "b"))
    second = await queue(record, buttons=buttons("c", "d", "e"))
    await queue(record)  # a later message without buttons leaves the numbered choices standing
    assert await record.messages.latest_buttons("telegram", ANA) == ["c", "d", "e"]
    await record.messages.mark_failed(second, "blocked")
    assert await record.messages.latest_buttons("telegram", ANA) == ["a", "b"]


async def test_history_gives_a_guardians_latest_messages_oldest_first(record: Record) -> None:
    await add_people(record)
    assert await record.messages.history("g-1") == []
    inbound = await record.messages.record_inbound(
        channel="telegram", address=ANA, body="first", guardian_id="g-1", staff_id=None,
        provider_message_id="501", now=NOW,
    )  # fmt: skip
    await queue(record, template="second", guardian_id="g-1")
    await queue(record, "sms:+15550001", template="third", guardian_id="g-1", channel="sms")
    await queue(record, "telegram:2002", template="theirs", guardian_id="g-2")
    assert await record.messages.history("g-1") == [
        ("in", "telegram", "first"),
        ("out", "telegram", "second text"),
        ("out", "sms", "third text"),
    ]
    assert await record.messages.history("g-1", limit=2) == [
        ("out", "telegram", "second text"),
        ("out", "sms", "third text"),
    ]
    assert await record.messages.status(inbound) == "received"
    assert await record.messages.provider_id(inbound) == "501"


async def test_an_unknown_message_id_has_no_status_and_no_provider_id(record: Record) -> None:
    assert await record.messages.status(999) is None
    assert await record.messages.provider_id(999) is None


async def test_mark_failed_fails_the_message_counts_the_attempt_and_keeps_why(
    record: Record,
) -> None:
    message_id = await queue(record)
    await record.messages.mark_failed(message_id, "chat not found")
    assert await record.messages.status(message_id) == "failed"
    [row] = await record.conn.execute_fetchall(
        "SELECT attempts, error FROM message WHERE id = ?", (message_id,)
    )
    assert tuple(row) == (1, "chat not found")


async def test_fail_queued_to_fails_only_what_is_still_queued_to_that_channel_and_address(
    record: Record,
) -> None:
    first, second = await queue(record), await queue(record)
    in_flight = await queue(record)
    await record.outbox.start_sending([in_flight], NOW)
    other_address = await queue(record, "telegram:2002")
    other_channel = await queue(record, channel="sms")
    withdrawn = await record.messages.fail_queued_to("telegram", ANA, "recipient opted out")
    assert sorted(withdrawn) == [first, second]
    assert [await record.messages.status(i) for i in (first, in_flight, other_address)] == [
        "failed", "sending", "queued",
    ]  # fmt: skip
    assert await record.messages.status(other_channel) == "queued"
    assert await record.messages.fail_queued_to("telegram", ANA, "again") == []


async def test_authored_lists_the_staff_written_ones_in_id_order_with_their_error(
    record: Record,
) -> None:
    await add_people(record)
    assert await record.messages.authored([]) == []
    by_bot = await queue(record, guardian_id="g-1")
    written = await queue(record, guardian_id="g-1", author="s-1")
    unexplained = await queue(record, "slack:T/C1", channel="slack", author="s-1")
    await record.messages.mark_failed(written, "recipient blocked the bot")
    found = await record.messages.authored([unexplained, 999, written, by_bot])
    assert found == [
        FailedForAuthor(written, "telegram", "g-1", "s-1", "recipient blocked the bot"),
        FailedForAuthor(unexplained, "slack", None, "s-1", ""),
    ]


async def test_staff_requests_are_recorded_once_per_event_id_with_the_staff_member_resolved(
    record: Record,
) -> None:
    await add_people(record)
    assert await record.messages.record_staff_requests([]) == set()
    assert await record.messages.record_staff_requests([view("e1")]) == {"e1"}
    assert await record.messages.record_staff_requests([view("e1")]) == set()
    batch: list[ViewRequestRow] = [
        view("e1"),
        view("e2"),
        view("e2"),
        view("e3", slack_user_id="U404"),
    ]
    assert await record.messages.record_staff_requests(batch) == {"e2", "e3"}
    rows = await record.conn.execute_fetchall(
        "SELECT event_id, direction, status, staff_id, created_at FROM message ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [
        ("e1", "in", "received", "s-1", "2026-11-23T14:00:00Z"),
        ("e2", "in", "received", "s-1", "2026-11-23T14:00:00Z"),
        ("e3", "in", "received", None, "2026-11-23T14:00:00Z"),
    ]
