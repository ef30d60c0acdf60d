"""A practice whose Twilio Webhook Rule signs carebot's URLs with a shared key (HMAC-SHA256)
instead of the Auth Token: carebot checks those signatures with the key, and refuses them (and
says which setting is missing) when it has none."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from bot.app import CareBot
from bot.config import PracticeSettings, Settings, SmsSettings
from bot.sandbox.fake_twilio import FakeTwilio
from bot.sandbox.server import serve_app
from bot.sandbox.twilio_forms import inbound_form
from bot.web import build_web
from storage.clock import FakeClock
from storage.db import Database

PUBLIC = "https://carebot.example.org"
SHARED_KEY = "shared-key-secret-for-tests"
SETTINGS_HEADER = "key=webhooks_sharedkey_0123456789abcdef,algorithm=HMAC_SHA256"


def sha256_signature(key: str, url: str, form: dict[str, str]) -> str:
    """Twilio's signature with a shared key: the URL then every parameter, sorted, HMAC-SHA256."""
    text = url + "".join(name + form[name] for name in sorted(form))
    return base64.b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()).decode()


async def bot(
    tmp_path: Path, clock: FakeClock, key: str | None
) -> AsyncIterator[httpx.AsyncClient]:
    twilio = FakeTwilio()
    async with serve_app(twilio.app) as root:
        settings = Settings(
            database=str(tmp_path / "carebot.db"),
            public_url=PUBLIC,
            sms=SmsSettings(
                account_sid=twilio.account_sid,
                auth_token=SecretStr(twilio.auth_token),
                from_number="+15550100000",
                api_url=root,
                webhook_shared_key=SecretStr(key) if key else None,
            ),
            practice=PracticeSettings(
                name="Bright Steps Therapy", phone="+1 555 010 2030", timezone="America/New_York"
            ),
        )
        db = await Database.open(settings.database)
        carebot = CareBot(settings, db, clock)
        await carebot.start(run_outbox=False)
        async with serve_app(build_web(carebot)) as bot_root:
            async with httpx.AsyncClient(base_url=bot_root) as client:
                yield client
        await carebot.stop()
        await db.close()


@pytest.fixture
async def keyed(tmp_path: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async for client in bot(tmp_path, clock, SHARED_KEY):
        yield client


@pytest.fixture
async def unkeyed(tmp_path: Path, clock: FakeClock) -> AsyncIterator[httpx.AsyncClient]:
    async for client in bot(tmp_path, clock, None):
        yield client


def form() -> dict[str, str]:
    return inbound_form(
        account_sid="AC" + "0" * 32, from_="+15551230001", to="+15550100000", body="HELP",
        message_sid="SMshared1",
    )  # fmt: skip


async def post(client: httpx.AsyncClient, signature: str, settings: str | None) -> int:
    headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"}
    if settings is not None:
        headers["X-Twilio-Webhooks-Signature-Settings"] = settings
    response = await client.post("/sms/twilio", data=form(), headers=headers)
    return response.status_code


async def test_a_shared_key_signature_is_accepted(keyed: httpx.AsyncClient) -> None:
    signature = sha256_signature(SHARED_KEY, PUBLIC + "/sms/twilio", form())
    assert await post(keyed, signature, SETTINGS_HEADER) == 200


async def test_a_shared_key_signature_with_another_key_is_refused(keyed: httpx.AsyncClient) -> None:
    signature = sha256_signature("not-the-key", PUBLIC + "/sms/twilio", form())
    assert await post(keyed, signature, SETTINGS_HEADER) == 403


async def test_without_the_key_configured_shared_key_signatures_are_refused(
    unkeyed: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    signature = sha256_signature(SHARED_KEY, PUBLIC + "/sms/twilio", form())
    assert await post(unkeyed, signature, SETTINGS_HEADER) == 403
    assert "CAREBOT_SMS__WEBHOOK_SHARED_KEY" in caplog.text
