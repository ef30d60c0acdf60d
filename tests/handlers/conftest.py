"""A harness with a small practice: Ana (English, one child), Carmen (Spanish, two children)."""

from __future__ import annotations

import pytest

from storage.clock import FakeClock
from storage.db import Database
from tests.harness import Harness

ANA = "telegram:1001"
CARMEN = "telegram:1002"
STRANGER = "telegram:9999"


@pytest.fixture
async def h(db: Database, clock: FakeClock) -> Harness:
    harness = Harness(db, clock)
    await harness.setup()
    await harness.family("g-ana", "Ana", [("p-maya", "Maya", "2019-03-14")])
    await harness.family(
        "g-carmen",
        "Carmen",
        [("p-leo", "Leo", "2017-05-02"), ("p-sofia", "Sofía", "2020-11-09")],
        language="es",
    )
    return harness


@pytest.fixture
async def linked(h: Harness) -> Harness:
    await h.link("g-ana", ANA, "03/14/2019")
    await h.link("g-carmen", CARMEN, "02/05/2017")
    return h
