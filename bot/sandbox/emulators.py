"""The three platform emulators together, and settings that point carebot at them.

The tests' fakes, run side by side on free local ports: the Telegram Bot API, the Slack Web API
and Twilio's Messages API. The sandbox (``carebot sandbox``) and end-to-end tests start them
with :func:`emulators` and run the real bot against them with :meth:`Emulators.settings`.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import SecretStr

from bot.config import PracticeSettings, Settings, SlackSettings, SmsSettings, TelegramSettings
from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.fake_twilio import FakeTwilio
from bot.sandbox.server import serve_app
from bot.sandbox.slack_fake import FakeSlack
from storage.clock import Clock

COORDINATORS = "C0COORD"
PRACTICE_NUMBER = "+15550100000"


@dataclass
class Emulators:
    """The running fakes and their roots."""

    telegram: FakeTelegram
    slack: FakeSlack
    twilio: FakeTwilio
    telegram_root: str
    slack_root: str
    twilio_root: str
    slack_signing_secret: str
    telegram_webhook_secret: str

    def settings(
        self, database: str, public_url: str, practice: PracticeSettings | None = None
    ) -> Settings:
        """carebot's settings for these emulators: every channel on, no real platform."""
        return Settings(
            database=database,
            public_url=public_url,
            telegram=TelegramSettings(
                token=SecretStr(self.telegram.token),
                api_url=self.telegram_root,
                webhook_secret=SecretStr(self.telegram_webhook_secret),
                bot_username=self.telegram.me()["username"],
            ),
            slack=SlackSettings(
                bot_token=SecretStr(self.slack.token),
                signing_secret=SecretStr(self.slack_signing_secret),
                api_url=f"{self.slack_root}/api/",
                escalation_channel=COORDINATORS,
            ),
            sms=SmsSettings(
                account_sid=self.twilio.account_sid,
                auth_token=SecretStr(self.twilio.auth_token),
                from_number=PRACTICE_NUMBER,
                api_url=self.twilio_root,
            ),
            practice=practice or PracticeSettings(),
        )


@contextlib.asynccontextmanager
async def emulators(clock: Clock | None = None) -> AsyncIterator[Emulators]:
    """Start the three fakes on free local ports for the duration of the ``async with``;
    their messages are dated by ``clock`` (the sandbox's; the wall clock by default)."""
    telegram = FakeTelegram(clock=clock)
    slack = FakeSlack(clock=clock)
    twilio = FakeTwilio(clock=clock)
    async with (
        serve_app(telegram.app) as telegram_root,
        serve_app(slack.app) as slack_root,
        serve_app(twilio.app) as twilio_root,
    ):
        slack.root = slack_root
        yield Emulators(
            telegram,
            slack,
            twilio,
            telegram_root,
            slack_root,
            twilio_root,
            secrets.token_hex(16),
            secrets.token_hex(16),
        )
