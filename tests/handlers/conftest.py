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


DANA = "U1"  # clinician s-1, on Maya's care team
LEE = "U2"  # clinician s-2, on Leo's care team
ROSA = "U9"  # coordinator
NOBODY = "U404"  # in the workspace, not on the staff list


@pytest.fixture
async def staffed(linked: Harness) -> Harness:
    """The linked families, with clinicians Dana (Maya) and Lee (Leo, Sofía), coordinator Rosa."""
    await linked.add_staff("s-1", "Dana Brooks", "clinician", DANA, ("p-maya",))
    await linked.add_staff("s-2", "Lee Park", "clinician", LEE, ("p-leo", "p-sofia"))
    await linked.add_staff("s-9", "Rosa Díaz", "coordinator", ROSA)
    return linked
