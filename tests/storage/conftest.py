"""The storage contract suites' record: every repository's suite runs against each backend.

A contract suite (``test_contract_<repository>.py``) says what a repository promises its
callers: what it returns, in which order, what an unknown id or an empty list gives, what it
refuses. The suites take ``store`` (a migrated, empty record) and ``record`` (the repositories
over one open write transaction of it), so a second backend (PostgreSQL, issue 14) runs the
same suites by joining ``BACKENDS``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database
from storage.record import Record

#: The backends every contract suite runs against.
BACKENDS = ("sqlite",)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty care record, migrated to the newest schema."""
    assert request.param == "sqlite"
    db = await Database.open(tmp_path / "contract.db")
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
async def record(store: Database) -> AsyncIterator[Record]:
    """The repositories over one write transaction of ``store`` (committed after the test)."""
    async with store.transaction() as conn:
        yield Record(conn)
