"""A message to a family carries only what a family channel may: a template revealing more is
refused and logged, on SMS and on Telegram alike."""

from __future__ import annotations

import pytest

from bot.i18n import BabelTranslator
from handlers.context import Outgoing
from handlers.texts import Msg
from storage.clock import FakeClock
from storage.db import Database
from storage.record import Record
from tests.harness import PRACTICE


async def test_a_template_that_reveals_a_service_is_refused_on_every_family_channel(
    db: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    revealing = Msg("{child} has {service} on {date}", {"child": "Maya", "service": "ABA",
                                                         "date": "Thursday"})  # fmt: skip
    async with db.transaction() as conn:
        out = Outgoing(Record(conn), clock.now(), PRACTICE, BabelTranslator(), frozenset({"sms"}))
        refused = await out.to_address(
            channel="sms", address="sms:+15551230001", parts=[revealing], language="en",
            guardian_id=None,
        )  # fmt: skip
        on_telegram = await out.to_address(
            channel="telegram", address="telegram:1", parts=[revealing], language="en",
            guardian_id=None,
        )  # fmt: skip
        plain = await out.to_address(
            channel="sms", address="sms:+15551230001",
            parts=[Msg("{child} on {date}", {"child": "Maya", "date": "Thursday"})],
            language="en", guardian_id=None,
        )  # fmt: skip
    assert out.queued == [plain]
    async with db.read() as conn:
        rows = {
            row[0]: (row[1], row[2])
            for row in await conn.execute_fetchall("SELECT id, status, error FROM message")
        }
    assert rows[refused] == ("failed", "refused on sms: reveals service")
    assert rows[on_telegram] == ("failed", "refused on telegram: reveals service")
    assert rows[plain] == ("queued", None)
    assert "refused on sms" in caplog.text and "ABA" not in caplog.text
