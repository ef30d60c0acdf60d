"""The three emulators together run the whole bot, every channel on, with the demo practice."""

from __future__ import annotations

from pathlib import Path

import httpx

from bot.app import CareBot
from bot.sandbox import slack_signing
from bot.sandbox.emulators import PRACTICE_NUMBER, emulators
from bot.sandbox.fake_twilio import signed_form
from bot.sandbox.server import serve_app
from bot.sandbox.twilio_forms import inbound_form
from bot.web import build_web
from handlers.records.demo import load_demo
from storage.clock import FakeClock
from storage.db import Database


async def test_the_demo_practice_answers_on_all_three_channels(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with emulators() as fakes:
        db = await Database.open(tmp_path / "sandbox.db")
        await load_demo(db, clock.now())
        settings = fakes.settings(str(tmp_path / "sandbox.db"), "https://sandbox.invalid")
        carebot = CareBot(settings, db, clock)
        await carebot.start(run_outbox=False)
        try:
            async with (
                serve_app(build_web(carebot)) as root,
                httpx.AsyncClient(base_url=root) as client,
            ):
                # Slack: the demo coordinator asks for the day.
                body, headers = slack_signing.slash_command(
                    fakes.slack_signing_secret,
                    team_id=fakes.slack.team_id,
                    user_id="U0DEMO05",
                    text="today",
                    response_url=fakes.slack.response_url("U0DEMO05-1"),
                )
                assert (
                    await client.post("/slack/events", content=body, headers=headers)
                ).status_code == 200
                await fakes.slack.wait_for_calls("response_url")
                assert fakes.slack.notes_for("U0DEMO05")[0].startswith("*The practice")
                # SMS: a demo parent who consented asks for help.
                params = inbound_form(
                    account_sid=fakes.twilio.account_sid,
                    from_="+15550100101",
                    to=PRACTICE_NUMBER,
                    body="HELP",
                    message_sid="SMdemo1",
                )
                body, headers = signed_form(
                    fakes.twilio.auth_token, "https://sandbox.invalid/sms/twilio", params
                )
                response = await client.post("/sms/twilio", content=body, headers=headers)
                assert response.status_code == 200
                # Telegram: someone not linked writes; the webhook answers politely.
                update = fakes.telegram.message_update(4242, "hello")
                response = await client.post(
                    "/telegram/webhook",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": fakes.telegram_webhook_secret},
                )
                assert response.status_code == 200
                await carebot.outbox.deliver_due()
                assert carebot.practice is not None
                [help_text] = fakes.twilio.to("+15550100101")
                assert help_text.startswith(f"{carebot.practice.name}: appointment reminders")
                assert "invite" in fakes.telegram.sent_messages(4242)[0]["text"]
        finally:
            await carebot.stop()
            await db.close()
