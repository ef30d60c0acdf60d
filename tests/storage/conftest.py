"""The storage contract suites' record: every repository's suite runs against each backend.

A contract suite (``test_contract_<repository>.py``) says what a repository promises its
callers: what it returns, in which order, what an unknown id or an empty list gives, what it
refuses. The suites take ``store`` (a migrated, empty record) and ``record`` (the repositories
over one open write transaction of it), so a second backend (PostgreSQL, issue 14) runs the
same suites by joining ``BACKENDS``.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
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


#: The PostgreSQL every PostgreSQL test runs against (this machine kind runs one; `.ci/run`
#: starts it where it is not running). Each test gets a schema of its own in it.
POSTGRES_URL = os.environ.get(
    "CAREBOT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
async def pg_schema() -> AsyncIterator[Callable[[], Awaitable[asyncpg.Connection]]]:
    """Connections to an empty schema of the test PostgreSQL, dropped afterwards. A missing
    PostgreSQL fails the test (nothing is skipped silently)."""
    try:
        admin = await asyncpg.connect(POSTGRES_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as error:
        pytest.fail(f"PostgreSQL is needed at {POSTGRES_URL} (.ci/run starts it): {error}")
    schema = f"carebot_test_{secrets.token_hex(6)}"
    await admin.execute(f"CREATE SCHEMA {schema}")
    opened: list[asyncpg.Connection] = []

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(POSTGRES_URL, server_settings={"search_path": schema})
        opened.append(conn)
        return conn

    try:
        yield connect
    finally:
        for conn in opened:
            await conn.close()
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.close()
