"""Every recorded Slack request (tests/fixtures/slack/) through ``POST /slack/events`` over real
HTTP, signed as Slack signs it, into the real bot (Bolt, the pipeline, slack_sdk against the
fake Web API): what staff and families see, and what the record keeps. Unsigned, stale and
garbled requests are refused before anything reads them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
from typing import Any

import httpx
import pytest

from bot.sandbox.slack_signing import sign
from tests.channels import test_slack_e2e as slack_e2e
from tests.channels.test_slack_e2e import (
    COORDINATORS,
    DANA,
    ROSA,
    SIGNING,
    TEAM,
    SlackStack,
    root_post,
)
from tests.fixtures.load import form_body, load, names

sstack = slack_e2e.sstack  # the staff-side stack (Bolt, fake Slack, fake Telegram, one record)

JSON_BODIES = {name for name in names("slack") if name.startswith("event_")} | {"url_verification"}
DM = "D07C4R3DM01"
IGNORED_EVENTS = [
    "event_message_changed",
    "event_bot_message",
    "event_member_joined_channel",
    "event_reaction_added",
]
_ids = itertools.count(1)


def fixture(stack: SlackStack, name: str, **values: Any) -> Any:
    """Fixture ``name`` as Rosa (a coordinator) in her DM with the bot, fresh ids; the
    response_url points at the fake Slack (the real one is off this machine)."""
    n = next(_ids)
    return load(
        "slack",
        name,
        **{
            "team_id": TEAM,
            "user_id": ROSA,
            "channel_id": DM,
            "event_id": f"EvFx{n:08d}",
            "text": "today",
            "challenge": f"challenge-{n}",
            "action_id": "confirm",
            "value": "cf:5521",
            "trigger_id": f"{n}.5809352173203.fixture",
            "response_url": stack.slack.response_url(f"fx-{n}"),
            **values,
        },
    )


def signed(name: str, data: Any, **signing: Any) -> tuple[bytes, dict[str, str]]:
    """The request Slack posts for fixture ``name`` (JSON body or form), signed."""
    if name in JSON_BODIES:
        body, kind = json.dumps(data).encode(), "application/json"
    else:
        body, kind = form_body(data).encode(), "application/x-www-form-urlencoded"
    return body, {**sign(SIGNING, body, **signing), "Content-Type": kind}


async def post(stack: SlackStack, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await stack.client.post("/slack/events", content=body, headers=headers)


async def record_counts(stack: SlackStack) -> tuple[object, ...]:
    return (
        await stack.rows("SELECT COUNT(*) FROM message"),
        await stack.rows("SELECT COUNT(*) FROM inbound_event"),
        await stack.rows("SELECT COUNT(*) FROM unusable_request"),
    )


def seen_by_staff(stack: SlackStack) -> int:
    """Everything the fake Slack was asked to show anyone (``auth.test``, which Bolt calls
    once on the first request it authorizes, shows nothing)."""
    shown = [call for call in stack.slack.calls_made if call.method != "auth.test"]
    return len(shown) + len(stack.slack.responses)


async def sentinel(stack: SlackStack) -> None:
    """A request that does reach the pipeline, sent after one that must not: once it is
    handled, Bolt has run every listener for what came before it."""
    before = stack.handled
    await stack.act(signed("event_message_im", fixture(stack, "event_message_im")))
    assert stack.handled == before + 1


def test_every_fixture_is_driven_by_this_file() -> None:
    driven = {
        "url_verification",
        "event_message_im",
        "event_message_thread_reply",
        "event_app_home_opened",
        "slash_command",
        "slash_command_enterprise",
        "block_actions",
        "view_submission",
        "view_closed",
        "block_suggestion",
        "shortcut",
        *IGNORED_EVENTS,
    }
    assert driven == set(names("slack"))


@pytest.mark.parametrize("name", names("slack"))
async def test_every_fixture_signed_is_answered_200(sstack: SlackStack, name: str) -> None:
    response = await post(sstack, *signed(name, fixture(sstack, name)))
    assert response.status_code == 200, response.text
    assert await sstack.rows("SELECT COUNT(*) FROM unusable_request") == 0


async def test_url_verification_answers_its_challenge(sstack: SlackStack) -> None:
    data = fixture(sstack, "url_verification", challenge="3eZbrw1aBm2rZgRNFdxV2595E9CY3gm")
    response = await post(sstack, *signed("url_verification", data))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gm"}


async def test_a_direct_message_reaches_the_pipeline(sstack: SlackStack) -> None:
    data = fixture(sstack, "event_message_im", text="today")
    await sstack.act(signed("event_message_im", data))
    await sstack.slack.wait_for_calls("chat.postEphemeral")
    [note] = sstack.slack.notes_for(ROSA)
    assert note.startswith("*The practice — Mon Nov 23*")
    assert (
        await sstack.rows(
            f"SELECT staff_id || ' / ' || body FROM message WHERE event_id = '{data['event_id']}'"
        )
        == "s-9 / today"
    )


async def test_a_recorded_thread_reply_is_relayed_to_the_family(sstack: SlackStack) -> None:
    await sstack.family_says("Is the parking lot open on Saturday?")
    root = root_post(sstack)
    data = fixture(
        sstack,
        "event_message_thread_reply",
        user_id=DANA,
        channel_id=COORDINATORS,
        text="Yes, from 8 &amp; on",
    )
    data["event"]["thread_ts"] = root.ts  # under the escalation's post, as Slack would say
    await sstack.act(signed("event_message_thread_reply", data))
    assert sstack.family_texts()[-1] == "Dana (Bright Steps Therapy): Yes, from 8 & on"


async def test_a_thread_reply_also_sent_to_the_channel_is_relayed_too(sstack: SlackStack) -> None:
    """ "Also send to #channel" makes the reply a ``thread_broadcast`` (docs.slack.dev/reference/
    events/message/thread_broadcast): still the coordinator's answer to the family."""
    await sstack.family_says("Is the parking lot open on Saturday?")
    root = root_post(sstack)
    data = fixture(
        sstack,
        "event_message_thread_reply",
        user_id=DANA,
        channel_id=COORDINATORS,
        text="Yes, all day",
    )
    event = data["event"]
    event["thread_ts"] = root.ts
    event["subtype"] = "thread_broadcast"
    event["root"] = {
        "type": "message",
        "text": root.text,
        "user": "U07C4R3B0TU",
        "bot_id": "B07C4R3B0TB",
        "ts": root.ts,
        "thread_ts": root.ts,
        "reply_count": 1,
        "reply_users_count": 1,
        "latest_reply": event["ts"],
        "reply_users": [DANA],
        "is_locked": False,
    }
    await sstack.act(signed("event_message_thread_reply", data))
    assert sstack.family_texts()[-1] == "Dana (Bright Steps Therapy): Yes, all day"


async def test_a_recorded_home_opened_publishes_the_home_tab(sstack: SlackStack) -> None:
    await sstack.act(signed("event_app_home_opened", fixture(sstack, "event_app_home_opened")))
    await sstack.slack.wait_for_calls("views.publish")
    texts = [b["text"]["text"] for b in sstack.slack.home[ROSA]["blocks"] if b["type"] == "section"]
    assert texts[0].startswith("*The practice — Mon Nov 23*")


@pytest.mark.parametrize("name", ["slash_command", "slash_command_enterprise"])
async def test_a_recorded_slash_command_is_answered_to_the_one_who_typed_it(
    sstack: SlackStack, name: str
) -> None:
    data = fixture(sstack, name, text="today")
    await sstack.act(signed(name, data))
    [answer] = await sstack.slack.wait_for_calls("response_url")
    text = sstack.slack.responses[0]["text"]
    if name == "slash_command":
        assert text.startswith("*The practice — Mon Nov 23*")
    else:  # a bare /carebot: what it can do
        assert data["text"] == ""
        assert "today" in text and "patient" in text
    assert answer is not None


async def test_a_recorded_button_press_claims_the_escalation(sstack: SlackStack) -> None:
    await sstack.family_says("Can we move Thursday to Friday?")
    root = root_post(sstack)
    claim = root.buttons()["Claim"]
    data = fixture(
        sstack,
        "block_actions",
        channel_id=COORDINATORS,
        action_id=claim["action_id"],
        value=claim["value"],
    )
    await sstack.act(signed("block_actions", data))
    assert sstack.family_texts()[-1] == (
        "Rosa from Bright Steps Therapy has your message and will answer you here."
    )
    assert await sstack.rows("SELECT status FROM escalation") == "claimed"


async def test_a_recorded_press_of_a_button_carebot_never_made_is_refused(
    sstack: SlackStack,
) -> None:
    await sstack.act(signed("block_actions", fixture(sstack, "block_actions")))
    await sstack.slack.wait_for_calls("response_url")
    assert sstack.slack.responses[0]["text"] == "Sorry, that button can't be used."


async def test_a_submitted_form_carebot_never_opened_is_acknowledged(sstack: SlackStack) -> None:
    data = fixture(sstack, "view_submission", text="Lucas is sick")
    response = await post(sstack, *signed("view_submission", data))
    assert response.status_code == 200
    assert response.text == ""  # no errors: the modal closes
    await sentinel(sstack)
    assert sstack.family_texts()[-1].startswith("Thank you, Ana!")  # nothing new for the family


@pytest.mark.parametrize("name", IGNORED_EVENTS)
async def test_events_that_are_not_a_person_writing_are_answered_and_do_nothing(
    sstack: SlackStack, name: str
) -> None:
    before_rows, before_seen = await record_counts(sstack), seen_by_staff(sstack)
    before_handled, family = sstack.handled, len(sstack.family_texts())
    response = await post(sstack, *signed(name, fixture(sstack, name, channel_id=COORDINATORS)))
    assert response.status_code == 200
    await sentinel(sstack)
    assert sstack.handled == before_handled + 1  # only the sentinel reached the pipeline
    after = await record_counts(sstack)
    assert after[2] == before_rows[2]  # nothing unusable
    assert after[0] == before_rows[0] + 1  # the sentinel's own row, nothing else
    # The sentinel shows Rosa one note; nothing else was posted.
    assert seen_by_staff(sstack) == before_seen + 1
    assert sstack.slack.calls("chat.postMessage") == []
    assert len(sstack.family_texts()) == family


@pytest.mark.parametrize(
    ("name", "answer"),
    [("view_closed", ""), ("block_suggestion", {"options": []}), ("shortcut", "")],
)
async def test_kinds_without_a_listener_are_acknowledged(
    sstack: SlackStack, name: str, answer: Any
) -> None:
    before_handled, before_seen = sstack.handled, seen_by_staff(sstack)
    response = await post(sstack, *signed(name, fixture(sstack, name)))
    assert response.status_code == 200
    assert (response.json() if isinstance(answer, dict) else response.text) == answer
    await sentinel(sstack)
    assert sstack.handled == before_handled + 1
    assert seen_by_staff(sstack) == before_seen + 1
    assert await sstack.rows("SELECT COUNT(*) FROM unusable_request") == 0


def _signed_with_timestamp(body: bytes, timestamp: str) -> dict[str, str]:
    """A signature that is right for ``timestamp`` (whatever it is), as a forger would make."""
    basestring = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(SIGNING.encode(), basestring, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": f"v0={digest}"}


def _refused_requests(stack: SlackStack) -> dict[str, tuple[bytes, dict[str, str]]]:
    im = json.dumps(fixture(stack, "event_message_im", text="today")).encode()
    command = form_body(fixture(stack, "slash_command", text="today")).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    stale = sign(SIGNING, command, now=time.time() - 6 * 60)
    missing_signature = {
        k: v for k, v in sign(SIGNING, command).items() if k != "X-Slack-Signature"
    }
    missing_timestamp = {
        k: v for k, v in sign(SIGNING, command).items() if k != "X-Slack-Request-Timestamp"
    }
    return {
        "unsigned-garbage": (b"{{{", {"Content-Type": "application/json"}),
        "unsigned-not-utf-8": (b"\xff\xfe\x00payload=\xc3", form),
        "unsigned-event": (im, {"Content-Type": "application/json"}),
        "forged": (command, {**form, **sign("not-the-secret", command)}),
        "stale": (command, {**form, **stale}),
        "timestamp-not-a-number": (command, {**form, **_signed_with_timestamp(command, "soon")}),
        "timestamp-empty": (command, {**form, **_signed_with_timestamp(command, "")}),
        "timestamp-huge": (command, {**form, **_signed_with_timestamp(command, "9" * 5000)}),
        "missing-signature": (command, {**form, **missing_signature}),
        "missing-timestamp": (command, {**form, **missing_timestamp}),
        "signature-for-another-body": (im, {**form, **sign(SIGNING, command)}),
    }


REFUSED = [
    "unsigned-garbage",
    "unsigned-not-utf-8",
    "unsigned-event",
    "forged",
    "stale",
    "timestamp-not-a-number",
    "timestamp-empty",
    "timestamp-huge",
    "missing-signature",
    "missing-timestamp",
    "signature-for-another-body",
]


@pytest.mark.parametrize("kind", REFUSED)
async def test_a_request_slack_did_not_sign_just_now_is_refused_and_writes_nothing(
    sstack: SlackStack, kind: str
) -> None:
    body, headers = _refused_requests(sstack)[kind]
    before_rows, before_seen, before_handled = (
        await record_counts(sstack),
        seen_by_staff(sstack),
        sstack.handled,
    )
    response = await post(sstack, body, headers)
    assert response.status_code == 401
    await asyncio.sleep(0)  # nothing is scheduled; give it a turn all the same
    assert await record_counts(sstack) == before_rows
    assert seen_by_staff(sstack) == before_seen
    assert sstack.handled == before_handled


@pytest.mark.parametrize(
    ("kind", "body", "content_type"),
    [
        ("not-utf-8", b"\xff\xfe\x00payload=\xc3", "application/x-www-form-urlencoded"),
        ("not-json", b"{{{", "application/json"),
        ("payload-not-json", b"payload=%7B%7B%7B", "application/x-www-form-urlencoded"),
        ("json-array", b"[1, 2]", "application/json"),
        ("json-null", b"null", "application/json"),
    ],
)
async def test_a_signed_body_carebot_cannot_read_is_kept_as_unusable(
    sstack: SlackStack, kind: str, body: bytes, content_type: str
) -> None:
    before_rows = await record_counts(sstack)
    headers = {**sign(SIGNING, body), "Content-Type": content_type}
    response = await post(sstack, body, headers)
    assert response.status_code == 200
    after = await record_counts(sstack)
    assert after[:2] == before_rows[:2]
    assert after[2] == before_rows[2] + 1
    row = await sstack.rows(
        "SELECT channel || ' / ' || size || ' / ' || reason FROM unusable_request"
    )
    assert isinstance(row, str) and row.startswith(f"slack / {len(body)} / unreadable body")


async def test_a_retried_event_has_no_second_effect(sstack: SlackStack) -> None:
    await sstack.family_says("Do you validate parking?")
    root = root_post(sstack)
    data = fixture(
        sstack,
        "event_message_thread_reply",
        user_id=DANA,
        channel_id=COORDINATORS,
        event_id="EvRetried01",
        text="We do, at the front desk",
    )
    data["event"]["thread_ts"] = root.ts
    await sstack.act(signed("event_message_thread_reply", data))
    await sstack.act(signed("event_message_thread_reply", data, retry_num=1))
    relayed = [t for t in sstack.family_texts() if "front desk" in t]
    assert relayed == ["Dana (Bright Steps Therapy): We do, at the front desk"]
    assert (
        await sstack.rows("SELECT COUNT(*) FROM inbound_event WHERE event_id = 'EvRetried01'") == 1
    )
    assert (
        await sstack.rows(
            "SELECT COUNT(*) FROM message WHERE direction = 'in' AND body LIKE '%front desk'"
        )
        == 1
    )


async def test_a_retried_direct_message_is_answered_once(sstack: SlackStack) -> None:
    data = fixture(sstack, "event_message_im", event_id="EvRetried02", text="today")
    await sstack.act(signed("event_message_im", data))
    await sstack.act(signed("event_message_im", data, retry_num=1))
    await sstack.act(signed("event_message_im", data, retry_num=2))
    await sstack.slack.wait_for_calls("chat.postEphemeral")
    assert len(sstack.slack.notes_for(ROSA)) == 1
    assert await sstack.rows("SELECT COUNT(*) FROM message WHERE event_id = 'EvRetried02'") == 1
