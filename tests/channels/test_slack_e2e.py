"""End to end on the staff side: signed Slack requests into the bot, slack_sdk against the fake
Slack Web API, python-telegram-bot against the fake Bot API, one care record behind both."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import CareBot
from bot.config import PracticeSettings, Settings, SlackSettings, TelegramSettings
from bot.sandbox import slack_signing as slack
from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.server import serve_app
from bot.sandbox.slack_fake import FakeSlack, Posted
from bot.web import build_web
from storage.clock import FakeClock
from storage.db import Database
from tests.channels.conftest import SECRET
from tests.harness import Harness

SIGNING = "slack-signing-secret-for-tests"
TEAM = "T0CAREBOT"
COORDINATORS = "C0COORD"
DANA, LEE, ROSA, NOBODY = "U1", "U2", "U9", "U404"
ANA_TG = 1001


@dataclass
class SlackStack:
    slack: FakeSlack
    telegram: FakeTelegram
    carebot: CareBot
    client: httpx.AsyncClient
    harness: Harness

    async def post(self, request: tuple[bytes, dict[str, str]]) -> httpx.Response:
        body, headers = request
        return await self.client.post("/slack/events", content=body, headers=headers)

    async def settle(self, before: int, count: int = 1) -> None:
        """Wait until ``count`` more events went through the pipeline, then deliver."""
        async with asyncio.timeout(5):
            await self.carebot.pipeline.wait_handled(before + count)
        for _round in range(10):
            await self.carebot.outbox.deliver_due()
            queued = await self.harness.scalar(
                "SELECT COUNT(*) FROM message WHERE status = 'queued'"
            )
            if not queued:
                return
            self.harness.clock.advance(timedelta(seconds=1))
        raise AssertionError("messages still queued")

    @property
    def handled(self) -> int:
        return self.carebot.pipeline.handled

    async def act(self, request: tuple[bytes, dict[str, str]], events: int = 1) -> httpx.Response:
        before = self.handled
        response = await self.post(request)
        assert response.status_code == 200, response.text
        await self.settle(before, events)
        return response

    async def family_says(self, text: str) -> None:
        before = self.handled
        update = self.telegram.message_update(ANA_TG, text)
        response = await self.client.post(
            "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        assert response.status_code == 200
        await self.settle(before)

    def family_texts(self) -> list[str]:
        return [m["text"] for m in self.telegram.sent_messages(ANA_TG)]

    def command(self, user: str, text: str, **kw: Any) -> tuple[bytes, dict[str, str]]:
        return slack.slash_command(
            SIGNING,
            team_id=TEAM,
            user_id=user,
            text=text,
            response_url=self.slack.response_url(f"{user}-{time.monotonic_ns()}"),
            **kw,
        )

    def press(self, user: str, message: Posted, label: str) -> tuple[bytes, dict[str, str]]:
        button = message.buttons()[label]
        return slack.block_action(
            SIGNING,
            team_id=TEAM,
            user_id=user,
            action_id=button["action_id"],
            value=button["value"],
            channel_id=message.channel,
            message_ts=message.ts,
            response_url=self.slack.response_url(f"{user}-{time.monotonic_ns()}"),
        )

    def thread_reply(
        self, user: str, root: Posted, text: str, **kw: Any
    ) -> tuple[bytes, dict[str, str]]:
        return slack.message_event(
            SIGNING,
            team_id=TEAM,
            user_id=user,
            channel=root.channel,
            text=text,
            thread_ts=root.ts,
            **kw,
        )

    async def rows(self, sql: str) -> object:
        return await self.harness.scalar(sql)


@pytest.fixture
async def sstack(tmp_path: Path, clock: FakeClock) -> AsyncIterator[SlackStack]:
    fake_tg = FakeTelegram(clock=clock)
    fake_slack = FakeSlack()
    async with serve_app(fake_tg.app) as tg_root, serve_app(fake_slack.app) as slack_root:
        fake_slack.root = slack_root
        settings = Settings(
            database=str(tmp_path / "carebot.db"),
            public_url="https://carebot.example.org",
            telegram=TelegramSettings(
                token=SecretStr(fake_tg.token), api_url=tg_root, webhook_secret=SecretStr(SECRET)
            ),
            slack=SlackSettings(
                bot_token=SecretStr(fake_slack.token),
                signing_secret=SecretStr(SIGNING),
                api_url=f"{slack_root}/api/",
                escalation_channel=COORDINATORS,
            ),
            practice=PracticeSettings(
                name="Bright Steps Therapy", phone="+1 555 010 2030", timezone="America/New_York"
            ),
        )
        db = await Database.open(settings.database)
        carebot = CareBot(settings, db, clock)
        await carebot.start(run_outbox=False)
        harness = Harness(db, clock)
        await harness.family("g-ana", "Ana", [("p-maya", "Maya", "2019-03-14")])
        await harness.family("g-carmen", "Carmen", [("p-leo", "Leo", "2017-05-02")], "es")
        await harness.add_staff("s-1", "Dana Brooks", "clinician", DANA, ("p-maya",))
        await harness.add_staff("s-2", "Lee Park", "clinician", LEE, ("p-leo",))
        await harness.add_staff("s-9", "Rosa Díaz", "coordinator", ROSA)
        async with serve_app(build_web(carebot)) as bot_root:
            async with httpx.AsyncClient(base_url=bot_root) as client:
                stack = SlackStack(fake_slack, fake_tg, carebot, client, harness)
                token = await harness.invite("g-ana")
                await stack.family_says(f"/start {token}")
                await stack.family_says("03/14/2019")
                assert "all set" in stack.family_texts()[-1]
                yield stack
        await carebot.stop()
        await db.close()


def root_post(stack: SlackStack) -> Posted:
    [root] = stack.slack.messages(COORDINATORS)[-1:]
    return root


async def test_free_text_to_a_person_and_back_in_the_thread(sstack: SlackStack) -> None:
    await sstack.family_says("Can Maya bring her own snack? <!channel>")
    assert sstack.family_texts()[-1].startswith("Thanks, I've passed your message")
    root = root_post(sstack)
    assert "escalation #1" in root.text
    assert "&lt;!channel&gt;" in root.text and "<!channel>" not in root.text
    assert list(root.buttons()) == ["Claim", "Reassign", "Resolve"]

    await sstack.act(sstack.press(ROSA, root, "Claim"))
    assert sstack.family_texts()[-1] == (
        "Rosa from Bright Steps Therapy has your message and will answer you here."
    )
    claimed = sstack.slack.thread(COORDINATORS, root.ts)[0]
    assert "Claimed by <@U9>" in claimed.text
    # What Slack shows is the blocks: the same mrkdwn, the mention not escaped a second time.
    assert [b["text"]["text"] for b in claimed.blocks] == [claimed.text]
    # The post itself (chat.update) shows who holds it, and Claim is gone.
    [update] = sstack.slack.updates
    assert update["ts"] == root.ts
    assert "\n:raising_hand: Claimed by <@U9> at " in root.text
    assert list(root.buttons()) == ["Reassign", "Resolve"]

    await sstack.act(sstack.thread_reply(ROSA, root, "Yes &amp; <https://x.org/snacks|see list>"))
    assert sstack.family_texts()[-1] == (
        "Rosa (Bright Steps Therapy): Yes & see list (https://x.org/snacks)"
    )

    await sstack.family_says("Thanks!")
    assert sstack.slack.thread(COORDINATORS, root.ts)[-1].text == "*Ana Rivera:*\n> Thanks!"

    await sstack.act(sstack.press(ROSA, root, "Resolve"))
    assert await sstack.rows("SELECT status FROM escalation") == "resolved"
    assert "Resolved by <@U9>" in sstack.slack.thread(COORDINATORS, root.ts)[-1].text
    assert "\n:white_check_mark: Resolved by <@U9> at " in root.text
    assert root.buttons() == {}  # a resolved post has nothing left to press
    assert [b["type"] for b in root.blocks] == ["section"]


async def test_a_retried_delivery_has_no_second_effect(sstack: SlackStack) -> None:
    await sstack.family_says("Question about parking")
    root = root_post(sstack)
    first = sstack.thread_reply(DANA, root, "Free parking behind the building", event_id="Ev1")
    await sstack.act(first)
    retry = sstack.thread_reply(
        DANA, root, "Free parking behind the building", event_id="Ev1", retry_num=1
    )
    await sstack.act(retry)
    relayed = [t for t in sstack.family_texts() if "Free parking" in t]
    assert relayed == ["Dana (Bright Steps Therapy): Free parking behind the building"]
    assert await sstack.rows("SELECT COUNT(*) FROM inbound_event WHERE event_id = 'Ev1'") == 1


async def test_forged_or_stale_signatures_are_refused_with_nothing_written(
    sstack: SlackStack,
) -> None:
    before = await sstack.rows("SELECT COUNT(*) FROM message")
    body, headers = sstack.command(ROSA, "today")
    forged = dict(headers, **{"X-Slack-Signature": "v0=" + "0" * 64})
    assert (
        await sstack.client.post("/slack/events", content=body, headers=forged)
    ).status_code == 401
    stale = sstack.command(ROSA, "today", now=time.time() - 6 * 60)
    assert (await sstack.post(stale)).status_code == 401
    unsigned = await sstack.client.post("/slack/events", content=body)
    assert unsigned.status_code == 401
    assert await sstack.rows("SELECT COUNT(*) FROM message") == before
    assert sstack.slack.responses == []


async def test_a_clinician_is_refused_a_patient_outside_their_care_team(
    sstack: SlackStack,
) -> None:
    await sstack.act(sstack.command(DANA, "patient Leo"))
    await sstack.slack.wait_for_calls("response_url")
    assert sstack.slack.notes_for(DANA) == ["No patient called “Leo” on your care team."]
    await sstack.act(sstack.command(LEE, "patient Leo"))
    await sstack.slack.wait_for_calls("response_url", 2)
    assert sstack.slack.notes_for(LEE)[0].startswith("*Leo Rivera* (`p-leo`)")


async def test_someone_not_on_the_staff_list_is_refused(sstack: SlackStack) -> None:
    await sstack.act(sstack.command(NOBODY, "today"))
    await sstack.slack.wait_for_calls("response_url")
    assert "only for Bright Steps Therapy's staff" in sstack.slack.notes_for(NOBODY)[0]


async def test_an_update_from_the_modal_reaches_the_family(sstack: SlackStack) -> None:
    await sstack.act(sstack.command(DANA, "update"))
    [call] = await sstack.slack.wait_for_calls("views.open")
    view = sstack.slack.views_opened[0]
    assert view["callback_id"] == "update"
    options = view["blocks"][0]["element"]["options"]
    assert [o["value"] for o in options] == ["p-maya"]

    refused = await sstack.post(
        slack.view_submission(
            SIGNING,
            team_id=TEAM,
            user_id=DANA,
            view=view,
            values={"patient": "p-leo", "text": "Hi", "audience": "family"},
        )
    )
    assert refused.json() == {
        "response_action": "errors",
        "errors": {"patient": "You can only update patients on your care team."},
    }
    await sstack.act(
        slack.view_submission(
            SIGNING,
            team_id=TEAM,
            user_id=DANA,
            view=view,
            values={"patient": "p-maya", "text": "Maya read a whole page!", "audience": "family"},
        )
    )
    assert sstack.family_texts()[-1] == (
        "A message from Dana at Bright Steps Therapy about Maya:\n\nMaya read a whole page!"
    )
    assert await sstack.rows("SELECT body FROM care_update") == "Maya read a whole page!"


async def test_a_handoff_end_to_end(sstack: SlackStack) -> None:
    await sstack.act(sstack.command(DANA, "handoff"))
    await sstack.slack.wait_for_calls("views.open")
    view = sstack.slack.views_opened[0]
    await sstack.act(
        slack.view_submission(
            SIGNING,
            team_id=TEAM,
            user_id=DANA,
            view=view,
            values={
                "patient": "p-maya",
                "to": "s-2",
                "summary": "Working on /s/",
                "open_items": "",
                "effective": "2026-11-30",
                "tell_family": ["yes"],
            },
        )
    )
    [dm] = sstack.slack.messages(LEE)
    assert "*Handoff #1* from <@U1>" in dm.text
    await sstack.act(sstack.press(LEE, dm, "Acknowledge"))
    assert (
        await sstack.rows(
            "SELECT COUNT(*) FROM care_team WHERE staff_id = 's-2' AND patient_id = 'p-maya'"
        )
        == 1
    )
    assert sstack.family_texts()[-1] == (
        "From Monday, November 30, Maya's clinician at Bright Steps Therapy will be Lee."
    )
    assert "acknowledged handoff #1" in sstack.slack.messages(DANA)[-1].text
    # Lee's request now says it is done, with no Acknowledge button left.
    assert "\n:white_check_mark: Acknowledged at " in dm.text
    assert dm.buttons() == {}


async def test_the_home_tab_shows_the_day_and_open_items(sstack: SlackStack) -> None:
    await sstack.act(slack.app_home_opened(SIGNING, team_id=TEAM, user_id=ROSA))
    await sstack.slack.wait_for_calls("views.publish")
    home = sstack.slack.home[ROSA]
    texts = [b["text"]["text"] for b in home["blocks"] if b["type"] == "section"]
    assert texts[0].startswith("*The practice — Mon Nov 23*")
    assert texts[-1] == "_No open items: no handoffs to acknowledge, no escalations._"


async def test_a_coordinators_busy_day_pages_through_real_block_actions(
    sstack: SlackStack,
) -> None:
    start = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)  # 8:00 AM in New York
    for n in range(30):
        await sstack.harness.appointment(f"a-{n:02d}", "p-maya", start + timedelta(minutes=10 * n))
    await sstack.act(sstack.command(ROSA, "today"))
    await sstack.slack.wait_for_calls("response_url")
    [first] = sstack.slack.responses
    later = [e for b in first["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(e["action_id"], e["value"]) for e in later] == [("today.page", "2026-11-23:2")]
    assert "30 appointments: 30 :hourglass: not answered" in first["text"]
    assert first["blocks"][-2]["text"]["text"] == "_Appointments 1–25 of 30._"

    # The button, pressed as Slack sends it: a signed block_actions form.
    await sstack.act(
        slack.block_action(
            SIGNING,
            team_id=TEAM,
            user_id=ROSA,
            action_id=later[0]["action_id"],
            value=later[0]["value"],
            channel_id="C0STAFF",
            response_url=sstack.slack.response_url(f"{ROSA}-page2"),
        )
    )
    await sstack.slack.wait_for_calls("response_url", 2)
    second = sstack.slack.responses[1]
    texts = [b["text"]["text"] for b in second["blocks"] if b["type"] == "section"]
    assert texts[0].splitlines()[2].startswith("• Mon Nov 23, 12:10 PM · Maya Rivera")
    assert len(texts[0].splitlines()) == 2 + 5
    assert texts[1] == "_Appointments 26–30 of 30._"
    earlier = [e for b in second["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(e["text"]["text"], e["value"]) for e in earlier] == [("← Earlier", "2026-11-23:1")]


async def test_the_clinician_hears_the_familys_confirmation(sstack: SlackStack) -> None:
    visit = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)
    await sstack.harness.appointment("a-1", "p-maya", visit)
    sstack.harness.clock.set(visit - timedelta(hours=24))
    await sstack.carebot.reminders.run_due()
    await sstack.settle(sstack.handled, 0)
    reminder = sstack.telegram.sent_messages(ANA_TG)[-1]
    data = {
        b["text"]: b["callback_data"]
        for row in reminder["reply_markup"]["inline_keyboard"]
        for b in row
    }
    before = sstack.handled
    await sstack.client.post(
        "/telegram/webhook",
        json=sstack.telegram.callback_update(ANA_TG, data["Confirm"]),
        headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
    )
    await sstack.settle(before)
    [dm] = sstack.slack.messages(DANA)
    assert (
        dm.text == ":white_check_mark: Maya Rivera confirmed Thu Nov 26, 3:30 PM (by Ana Rivera)."
    )


async def test_a_retried_home_event_is_answered_once(sstack: SlackStack) -> None:
    first = slack.app_home_opened(SIGNING, team_id=TEAM, user_id=ROSA, event_id="EvHome")
    await sstack.act(first)
    await sstack.slack.wait_for_calls("views.publish")
    retry = slack.app_home_opened(
        SIGNING, team_id=TEAM, user_id=ROSA, event_id="EvHome", retry_num=1
    )
    await sstack.act(retry)
    assert len(sstack.slack.calls("views.publish")) == 1
    assert await sstack.rows("SELECT COUNT(*) FROM message WHERE event_id = 'home:EvHome'") == 1
    assert await sstack.rows("SELECT staff_id FROM message WHERE event_id = 'home:EvHome'") == "s-9"


async def test_slack_rate_limits_are_waited_out_and_a_missing_channel_fails_loudly(
    sstack: SlackStack, caplog: pytest.LogCaptureFixture
) -> None:
    sstack.slack.fail_next("chat.postMessage", status=429, retry_after=3)
    before = sstack.handled
    update = sstack.telegram.message_update(ANA_TG, "Is Friday's session still on?")
    await sstack.client.post(
        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    async with asyncio.timeout(5):
        await sstack.carebot.pipeline.wait_handled(before + 1)
    await sstack.carebot.outbox.deliver_due()
    assert sstack.slack.messages(COORDINATORS) == []
    assert await sstack.rows("SELECT error FROM message WHERE address = 'slack:C0COORD'") == (
        "rate limited"
    )
    sstack.harness.clock.advance(timedelta(seconds=3))
    await sstack.carebot.outbox.deliver_due()
    assert "escalation #1" in root_post(sstack).text

    sstack.slack.fail_next("chat.postMessage", error="channel_not_found")
    await sstack.act(sstack.press(ROSA, root_post(sstack), "Claim"))
    assert (
        await sstack.rows(
            "SELECT status || ' ' || error FROM message WHERE thread_message_id IS NOT NULL"
        )
        == "failed channel_not_found"
    )
    assert "failed for good: channel_not_found" in caplog.text
