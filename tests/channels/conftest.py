"""An end-to-end stack: the real bot (PTB, Starlette, outbox) against the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import CareBot
from bot.config import PracticeSettings, Settings, TelegramSettings
from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.server import serve_app
from bot.web import build_web
from storage.clock import FakeClock
from storage.db import Database
from tests.harness import Harness

SECRET = "webhook-secret-for-tests"


def settings_for(root: str, db_path: Path, **telegram: Any) -> Settings:
    return Settings(
        database=str(db_path),
        public_url="https://carebot.example.org",
        telegram=TelegramSettings(
            token=SecretStr(FakeTelegram().token),
            api_url=root,
            webhook_secret=SecretStr(SECRET),
            **telegram,
        ),
        practice=PracticeSettings(
            name="Bright Steps Therapy", phone="+1 555 010 2030", timezone="America/New_York"
        ),
    )


@dataclass
class Stack:
    fake: FakeTelegram
    carebot: CareBot
    client: httpx.AsyncClient
    clock: FakeClock
    harness: Harness
    settings: Settings

    async def post_update(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        response = await self.client.post("/telegram/webhook", json=update, headers=headers)
        return response.status_code

    async def say(self, user_id: int, text: str, **kwargs: Any) -> int:
        return await self.post_update(self.fake.message_update(user_id, text, **kwargs))

    async def press(self, user_id: int, data: str) -> int:
        return await self.post_update(self.fake.callback_update(user_id, data))

    async def deliver(self) -> None:
        """One outbox round at the current (fake) time."""
        await self.carebot.outbox.deliver_due()

    async def deliver_all(self) -> None:
        """Deliver everything queued, letting the clock run a second per round (per-chat pace)."""
        for _round in range(20):
            await self.carebot.outbox.deliver_due()
            if not await self.harness.scalar(
                "SELECT COUNT(*) FROM message WHERE status = 'queued'"
            ):
                return
            self.clock.advance(timedelta(seconds=1))
        raise AssertionError("messages still queued after 20 rounds")

    def texts_to(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.fake.sent_messages(chat_id)]

    def buttons_of(self, message: dict[str, Any]) -> dict[str, str]:
        rows = message["reply_markup"]["inline_keyboard"]
        return {b["text"]: b["callback_data"] for row in rows for b in row}


@pytest.fixture
async def fake(clock: FakeClock) -> FakeTelegram:
    return FakeTelegram(clock=clock)


@pytest.fixture
async def stack(tmp_path: Path, clock: FakeClock, fake: FakeTelegram) -> AsyncIterator[Stack]:
    async with serve_app(fake.app) as root:
        settings = settings_for(root, tmp_path / "carebot.db")
        db = await Database.open(settings.database)
        carebot = CareBot(settings, db, clock)
        await carebot.start(run_outbox=False)
        harness = Harness(db, clock)
        async with serve_app(build_web(carebot)) as bot_root:
            async with httpx.AsyncClient(base_url=bot_root) as client:
                yield Stack(fake, carebot, client, clock, harness, settings)
        await carebot.stop()
        await db.close()
