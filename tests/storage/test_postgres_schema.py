"""The care record's schema on PostgreSQL: migrated once however many workers start together,
and in step with SQLite's, table by table, column by column, index by index."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from storage import postgres
from storage.db import Database, DatabaseUnusable, _migrations
from storage.rows import fetch_all

Connect = Callable[[], Awaitable[asyncpg.Connection]]


async def test_workers_starting_together_migrate_once(pg_schema: Connect) -> None:
    workers = [await pg_schema() for _ in range(3)]
    applied = await asyncio.gather(*(postgres.migrate(conn) for conn in workers))
    newest = postgres.migrations()[-1][0]
    assert sorted(applied, key=len) == [[], [], [v for v, _, _ in postgres.migrations()]]
    rows = await workers[0].fetch("SELECT version FROM schema_migration ORDER BY version")
    assert [row[0] for row in rows] == [v for v, _, _ in postgres.migrations()]
    assert await postgres.version(workers[1]) == newest
    assert await postgres.migrate(workers[2]) == []  # a restart: nothing left to do


async def test_a_database_carebot_never_migrated_is_at_version_0(pg_schema: Connect) -> None:
    assert await postgres.version(await pg_schema()) == 0


async def test_both_engines_migrate_to_the_same_version() -> None:
    """A change to the record is a migration in both folders, with the same number."""
    assert postgres.migrations()[-1][0] == _migrations()[-1][0]


async def sqlite_schema(tmp_path: Path) -> tuple[dict[str, list[str]], set[str]]:
    db = await Database.open(tmp_path / "schema.db")
    try:
        async with db.read() as conn:
            tables = [
                row[0]
                for row in await fetch_all(
                    conn,
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    " AND name NOT LIKE 'sqlite_%'",
                )
            ]
            columns = {
                table: sorted(r[1] for r in await fetch_all(conn, f"PRAGMA table_info({table})"))
                for table in tables
            }
            indexes = {
                row[0]
                for row in await fetch_all(
                    conn,
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
                )
            }
    finally:
        await db.close()
    return columns, indexes


async def test_postgres_has_sqlites_tables_columns_and_indexes(
    pg_schema: Connect, tmp_path: Path
) -> None:
    conn = await pg_schema()
    await postgres.migrate(conn)
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    )
    columns: dict[str, list[str]] = {}
    for row in rows:
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    indexes = {
        row[0]
        for row in await conn.fetch(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'"
        )
    }
    sqlite_columns, sqlite_indexes = await sqlite_schema(tmp_path)
    assert {t: sorted(c) for t, c in columns.items()} == sqlite_columns
    assert indexes == sqlite_indexes


async def test_ids_are_assigned_by_the_database_as_sqlite_assigns_rowids(
    pg_schema: Connect,
) -> None:
    conn = await pg_schema()
    await postgres.migrate(conn)
    ids = [
        await conn.fetchval(
            "INSERT INTO audit_event (at, actor_type, action, entity_type, entity_id)"
            " VALUES ($1, 'system', 'test', 'message', $2) RETURNING id",
            "2026-12-01T00:00:00Z",
            str(n),
        )
        for n in range(3)
    ]
    assert ids == [1, 2, 3]


async def test_carebot_says_plainly_that_it_does_not_serve_postgres_yet() -> None:
    with pytest.raises(DatabaseUnusable, match="PostgreSQL is not served yet"):
        await Database.open("postgresql://postgres@127.0.0.1:5432/test")
