"""Socket Mode: a practice without a public URL; Slack's requests arrive over a websocket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.app import CareBot
from bot.config import PracticeSettings, Settings, SlackSettings
from bot.sandbox.server import serve_app
from bot.sandbox.slack_fake import FakeSlack
from bot.sandbox.slack_socket import FakeSocketMode
from storage.clock import FakeClock
from storage.db import Database
from tests.harness import Harness


@pytest.fixture
async def socket_bot(
    tmp_path: Path, clock: FakeClock
) -> AsyncIterator[tuple[CareBot, FakeSlack, FakeSocketMode]]:
    fake = FakeSlack()
    socket = FakeSocketMode()
    await socket.start()
    async with serve_app(fake.app) as root:
        fake.root, fake.socket_url = root, socket.url
        settings = Settings(
            database=str(tmp_path / "carebot.db"),
            slack=SlackSettings(
                bot_token=SecretStr(fake.token),
                app_token=SecretStr(fake.app_token),
                api_url=f"{root}/api/",
                escalation_channel="C0COORD",
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
        await harness.add_staff("s-9", "Rosa Díaz", "coordinator", "U9")
        try:
            yield carebot, fake, socket
        finally:
            await carebot.stop()
            await db.close()
            await socket.stop()


async def test_a_slash_command_over_socket_mode(
    socket_bot: tuple[CareBot, FakeSlack, FakeSocketMode],
) -> None:
    carebot, fake, socket = socket_bot
    await socket.wait_connected()
    assert fake.calls("apps.connections.open")[0].token == fake.app_token
    ack = await socket.send(
        "slash_commands",
        {
            "team_id": "T0CAREBOT",
            "user_id": "U9",
            "command": "/carebot",
            "text": "today",
            "channel_id": "C0STAFF",
            "trigger_id": "1.2.socket",
            "response_url": fake.response_url("U9-socket"),
        },
    )
    assert ack["envelope_id"] == "env-1"
    async with asyncio.timeout(5):
        await carebot.pipeline.wait_handled(1)
    await fake.wait_for_calls("response_url")
    assert fake.notes_for("U9")[0].startswith("*The practice — Mon Nov 23*")
    async with carebot.db.read() as conn:
        rows = await conn.execute_fetchall(
            "SELECT channel, staff_id, body FROM message WHERE direction = 'in'"
        )
    assert [tuple(r) for r in rows] == [("slack", "s-9", "/carebot today")]
