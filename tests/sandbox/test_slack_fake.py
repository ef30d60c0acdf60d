"""The fake Slack Web API answers slack_sdk as Slack does; the request builders sign as Slack."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox import slack_signing
from bot.sandbox.server import serve_app
from bot.sandbox.slack_fake import FakeSlack


@pytest.fixture
async def api() -> AsyncIterator[tuple[FakeSlack, AsyncWebClient]]:
    fake = FakeSlack()
    async with serve_app(fake.app) as root, aiohttp.ClientSession() as session:
        fake.root = root
        yield fake, AsyncWebClient(token=fake.token, base_url=f"{root}/api/", session=session)


async def test_auth_and_a_thread(api: tuple[FakeSlack, AsyncWebClient]) -> None:
    fake, client = api
    assert (await client.auth_test())["team_id"] == "T0CAREBOT"
    root = await client.chat_postMessage(
        channel="C1",
        text="hello",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}],
    )
    await client.chat_postMessage(channel="C1", text="in thread", thread_ts=root["ts"])
    assert [m.text for m in fake.messages("C1")] == ["hello"]
    assert [m.text for m in fake.thread("C1", root["ts"])] == ["in thread"]
    assert fake.messages("C1")[0].blocks[0]["type"] == "section"
    with pytest.raises(SlackApiError) as missing:
        await client.chat_postMessage(channel="C1", text="x", thread_ts="1.000001")
    assert missing.value.response["error"] == "thread_not_found"


async def test_a_wrong_token_is_refused(api: tuple[FakeSlack, AsyncWebClient]) -> None:
    fake, client = api
    client.token = "xoxb-wrong"
    with pytest.raises(SlackApiError) as refused:
        await client.chat_postMessage(channel="C1", text="x")
    assert refused.value.response["error"] == "invalid_auth"
    assert fake.posted == []


async def test_rate_limits_and_errors_are_injected(api: tuple[FakeSlack, AsyncWebClient]) -> None:
    fake, client = api
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        await client.chat_postMessage(channel="C1", text="x")
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] == "7"
    fake.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as missing:
        await client.chat_postMessage(channel="C1", text="x")
    assert missing.value.response["error"] == "channel_not_found"
    await client.chat_postMessage(channel="C1", text="third time")
    assert [m.text for m in fake.messages("C1")] == ["third time"]


async def test_views_are_kept_and_waiting_needs_no_sleep(
    api: tuple[FakeSlack, AsyncWebClient],
) -> None:
    fake, client = api
    await client.views_open(trigger_id="t1", view={"type": "modal", "callback_id": "update"})
    await client.views_publish(user_id="U1", view={"type": "home", "blocks": []})
    [call] = await fake.wait_for_calls("views.open")
    assert call.params["view"]["callback_id"] == "update"
    assert fake.home["U1"]["type"] == "home"
    with pytest.raises(TimeoutError):
        await fake.wait_for_calls("views.open", 2, timeout=0.05)


def test_every_builder_signs_as_slack_does_and_stale_ones_fail() -> None:
    secret = "s3cret"
    verifier = SignatureVerifier(secret)
    requests = [
        slack_signing.slash_command(secret, team_id="T", user_id="U1", text="today"),
        slack_signing.block_action(
            secret, team_id="T", user_id="U1", action_id="a", value="1", channel_id="C1"
        ),
        slack_signing.view_submission(
            secret, team_id="T", user_id="U1", view={"id": "V1", "blocks": []}, values={"x": "y"}
        ),
        slack_signing.message_event(secret, team_id="T", user_id="U1", channel="C1", text="hi"),
        slack_signing.app_home_opened(secret, team_id="T", user_id="U1"),
    ]
    for body, headers in requests:
        assert verifier.is_valid_request(body, headers)
        assert not SignatureVerifier("other").is_valid_request(body, headers)
    body, headers = slack_signing.slash_command(
        secret, team_id="T", user_id="U1", text="today", now=time.time() - 301
    )
    assert not verifier.is_valid_request(body, headers)
