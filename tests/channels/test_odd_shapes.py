"""Authentic requests of shapes the platforms document loosely, found by the property test and
the fixture tests: answered at once, kept as unusable with their id, or handled as a person
would expect."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from bot.sandbox import slack_signing as slack
from tests.channels.conftest import SECRET, Stack
from tests.channels.test_slack_e2e import SIGNING, TEAM, SlackStack, root_post
from tests.channels.test_slack_e2e import sstack as sstack  # noqa: F401 - the fixture
from tests.channels.test_telegram_e2e import ANA_ID

HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
USER = {"id": ANA_ID, "is_bot": False, "first_name": "Ana"}


async def unusable(stack: Stack) -> list[tuple[Any, ...]]:
    async with stack.harness.db.read() as conn:
        rows = await conn.execute_fetchall(
            "SELECT channel, event_id, reason FROM unusable_request ORDER BY id"
        )
    return [tuple(r) for r in rows]


async def test_updates_ptb_reads_but_whose_fields_are_wrong_are_kept_with_their_id(
    stack: Stack,
) -> None:
    chat = {"id": ANA_ID, "type": "private", "first_name": "Ana"}
    odd = [
        {"update_id": 11, "callback_query": {"id": "1", "chat_instance": "1", "data": "x"}},
        {"update_id": 12, "message": {"message_id": 1, "date": 0, "from": USER}},
        {
            "update_id": 13,
            "message": {
                "message_id": 2,
                "date": 1,
                "chat": chat,
                "text": "hi",
                "from": {**USER, "id": "x"},
            },
        },  # fmt: skip
        {
            "update_id": 14,
            "message": {"message_id": 3, "date": 1, "chat": chat, "from": USER, "text": 5},
        },  # fmt: skip
    ]
    for update in odd:
        response = await stack.client.post("/telegram/webhook", json=update, headers=HEADERS)
        assert response.status_code == 200
    rows = await unusable(stack)
    assert [r[1] for r in rows] == ["11", "12", "13", "14"]
    assert all(r[0] == "telegram" and r[2].startswith(("malformed", "update of")) for r in rows)
    assert stack.fake.sent_messages() == []


async def test_json_nested_past_the_parser_is_unusable_not_a_failure(stack: Stack) -> None:
    response = await stack.client.post("/telegram/webhook", content=b"[" * 5000, headers=HEADERS)
    assert response.status_code == 200
    assert await unusable(stack) == [("telegram", None, "not JSON")]


async def test_a_webhook_while_telegram_is_still_starting_asks_to_be_sent_again(
    stack: Stack,
) -> None:
    telegram = stack.carebot.telegram
    assert telegram is not None
    telegram.started = False  # its API was unreachable at start; carebot is retrying
    try:
        update = stack.fake.message_update(ANA_ID, "hello")
        response = await stack.client.post("/telegram/webhook", json=update, headers=HEADERS)
    finally:
        telegram.started = True
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert await stack.harness.scalar("SELECT COUNT(*) FROM inbound_event") == 0


async def test_a_slack_command_without_a_user_is_answered_at_once(sstack: SlackStack) -> None:
    """Bolt waits out Slack's three seconds for a listener that fails after its ack (and then
    Slack sends it again): a command or a button press without a user is answered at once."""
    fields = {"command": "/carebot", "text": "today", "team_id": TEAM, "trigger_id": "t1"}
    body = urlencode(fields).encode()
    headers = {**slack.sign(SIGNING, body), "Content-Type": "application/x-www-form-urlencoded"}
    payload = {"type": "block_actions", "user": "", "team": {"id": TEAM}, "actions": []}
    action = urlencode({"payload": json.dumps(payload)}).encode()
    action_headers = {
        **slack.sign(SIGNING, action),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    for content, sent_headers in ((body, headers), (action, action_headers)):
        started = time.monotonic()
        response = await sstack.client.post("/slack/events", content=content, headers=sent_headers)
        assert response.status_code == 200
        assert time.monotonic() - started < 1.5
    # Nobody to act for: nothing recorded on the staff side.
    assert await sstack.harness.scalar("SELECT COUNT(*) FROM message WHERE channel = 'slack'") == 0


async def test_a_file_in_an_escalation_thread_is_not_passed_on_and_the_staff_are_told(
    sstack: SlackStack,
) -> None:
    await sstack.family_says("Can Maya bring her own snack?")
    root = root_post(sstack)
    event = {
        "type": "message",
        "subtype": "file_share",
        "text": "Here is the snack list",
        "user": "U9",
        "ts": f"{time.time():.6f}",
        "thread_ts": root.ts,
        "channel": root.channel,
        "channel_type": "channel",
        "files": [{"id": "F1", "name": "snacks.pdf", "mimetype": "application/pdf"}],
        "upload": False,
    }
    body = json.dumps(
        {"type": "event_callback", "team_id": TEAM, "event_id": "EvFile1", "event": event}
    ).encode()
    headers = {**slack.sign(SIGNING, body), "Content-Type": "application/json"}
    before = sstack.handled
    assert (
        await sstack.client.post("/slack/events", content=body, headers=headers)
    ).status_code == 200
    await sstack.settle(before)
    assert sstack.family_texts()[-1] == "Rosa (Bright Steps Therapy): Here is the snack list"
    assert any("the family did not get the file" in note for note in sstack.slack.notes_for("U9"))
