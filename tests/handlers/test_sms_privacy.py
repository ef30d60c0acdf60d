"""A message to a family carries only what a family channel may: one revealing more is refused
by the outbox, on SMS and on Telegram alike, whoever queued it, and the refusal is logged by
placeholder name (never the words)."""

from __future__ import annotations

import pytest

from bot.channels.base import FAMILY_CHANNEL_CARRIES, Capabilities
from bot.i18n import BabelTranslator
from handlers.core.context import Outgoing, reveals
from handlers.core.texts import Msg, _
from storage.clock import FakeClock
from storage.db import Database
from storage.record import Record
from tests.harness import PRACTICE

REVEALING = Msg("{child} has {service} on {date}", {"child": "Maya", "service": "ABA",
                                                     "date": "Thursday"})  # fmt: skip


async def test_each_message_is_queued_with_what_it_reveals(db: Database, clock: FakeClock) -> None:
    nested = _("{intro} for {line0}", intro=_("Hi {guardian}", guardian="Ana"), line0="x")
    assert reveals([REVEALING]) == {"child", "service", "date"}
    assert reveals([nested]) == {"intro", "guardian", "line"}  # nested, numbered by stem
    async with db.transaction() as conn:
        out = Outgoing(Record(conn), clock.now(), PRACTICE, BabelTranslator(), frozenset({"sms"}))
        message_id = await out.to_address(
            channel="sms", address="sms:+15551230001", parts=[REVEALING], language="en",
            guardian_id=None,
        )  # fmt: skip
    async with db.read() as conn:
        [row] = await conn.execute_fetchall(
            "SELECT reveals, status FROM message WHERE id = ?", (message_id,)
        )
    assert tuple(row) == ("child,date,service", "queued")  # the outbox decides, at sending


def test_family_channels_refuse_what_a_family_channel_may_not_carry() -> None:
    family = Capabilities(False, False, 10, "segments", lambda _t: True, FAMILY_CHANNEL_CARRIES)
    staff = Capabilities(True, True, 4000, "characters", lambda _t: True)
    assert family.refuses(frozenset({"child", "service", "date"})) == {"service"}
    assert family.refuses(frozenset({"child", "date", "time", "practice", "choice"})) == set()
    assert staff.refuses(frozenset({"service", "diagnosis"})) == set()


@pytest.mark.parametrize("name", ["service", "discipline", "date_of_birth", "location"])
def test_nothing_clinical_is_among_what_a_family_channel_carries(name: str) -> None:
    assert name not in FAMILY_CHANNEL_CARRIES
