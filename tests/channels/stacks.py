"""A stack with every channel at once: the real bot with Telegram, Slack and SMS configured
against the three fakes, its one Starlette app served over real HTTP. For tests that need all
four webhooks behind the same edge, with settings they vary (the body limit).

The single-channel stacks stay where they are (tests/channels/conftest.py ``stack``,
test_sms_e2e.py ``sms``, test_slack_e2e.py ``sstack``); this one only adds what they lack.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from bot.app import CareBot
from bot.config import PracticeSettings, Settings, SlackSettings, SmsSettings, TelegramSettings
from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.fake_twilio import FakeTwilio
from bot.sandbox.server import serve_app
from bot.sandbox.slack_fake import FakeSlack
from bot.web import build_web
from storage.clock import FakeClock
from storage.db import Database
from tests.channels.conftest import SECRET
from tests.harness import Harness

PUBLIC = "https://carebot.example.org"
SLACK_SIGNING = "slack-signing-secret-for-tests"
SMS_FROM = "+15550100000"
COORDINATORS = "C0COORD"


@dataclass
class AllChannels:
    telegram: FakeTelegram
    slack: FakeSlack
    twilio: FakeTwilio
    carebot: CareBot
    client: httpx.AsyncClient
    harness: Harness
    #: Where the bot's web app listens (``http://127.0.0.1:<port>``).
    root: str

    @property
    def host_port(self) -> tuple[str, int]:
        parts = urlsplit(self.root)
        assert parts.hostname is not None and parts.port is not None
        return parts.hostname, parts.port


@contextlib.asynccontextmanager
async def all_channels(
    db_path: Path, clock: FakeClock, twilio: FakeTwilio | None = None, **settings: Any
) -> AsyncIterator[AllChannels]:
    """The whole bot on the three fakes; ``settings`` are passed to :class:`Settings`
    (``http=HttpSettings(max_body_bytes=4096)``, ...); ``twilio`` gives the fake Twilio
    account its credentials, when a test signs with known ones."""
    telegram, slack, twilio = FakeTelegram(clock=clock), FakeSlack(), twilio or FakeTwilio()
    async with (
        serve_app(telegram.app) as telegram_root,
        serve_app(slack.app) as slack_root,
        serve_app(twilio.app) as twilio_root,
    ):
        slack.root = slack_root
        config = Settings(
            database=str(db_path),
            public_url=PUBLIC,
            telegram=TelegramSettings(
                token=SecretStr(telegram.token),
                api_url=telegram_root,
                webhook_secret=SecretStr(SECRET),
            ),
            slack=SlackSettings(
                bot_token=SecretStr(slack.token),
                signing_secret=SecretStr(SLACK_SIGNING),
                api_url=f"{slack_root}/api/",
                escalation_channel=COORDINATORS,
            ),
            sms=SmsSettings(
                account_sid=twilio.account_sid,
                auth_token=SecretStr(twilio.auth_token),
                from_number=SMS_FROM,
                api_url=twilio_root,
            ),
            practice=PracticeSettings(
                name="Bright Steps Therapy", phone="+1 555 010 2030", timezone="America/New_York"
            ),
            **settings,
        )
        db = await Database.open(config.database)
        carebot = CareBot(config, db, clock)
        await carebot.start(run_outbox=False)
        try:
            async with serve_app(build_web(carebot)) as root:
                async with httpx.AsyncClient(base_url=root) as client:
                    yield AllChannels(
                        telegram, slack, twilio, carebot, client, Harness(db, clock), root
                    )
        finally:
            await carebot.stop()
            await db.close()
