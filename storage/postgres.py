"""The care record on PostgreSQL: its numbered migrations, applied once however many workers
start together (issue 14; the repositories still run on SQLite only).

Why asyncpg, not SQLAlchemy's async Core over asyncpg and aiosqlite: the repositories are
plain SQL tuned statement by statement against each engine's planner (covering indexes, SQLite's
``INDEXED BY``, its one-trip write path for the outbox, ``EXPLAIN QUERY PLAN`` in tests). A
query layer over both would translate the placeholders and little else, and hide the one thing
each engine must be told plainly. asyncpg is the driver PostgreSQL's own users measure others
against, speaks the binary protocol, prepares and caches statements, and has ``LISTEN/NOTIFY``
and advisory locks as plain calls, which the several-worker design needs.

Migrations live in ``storage/migrations_postgres``, numbered as SQLite's (the first file is the
schema SQLite reaches at its 0017, in one file). :func:`migrate` holds a session advisory lock
while it applies them, each in its own transaction: a second worker starting at the same time
waits on the lock, then finds nothing left to do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

import asyncpg

#: The advisory lock key of the migrations ("carebot" in ASCII, as a bigint).
MIGRATION_LOCK = int.from_bytes(b"carebot", "big")
FOLDER = "migrations_postgres"


def migrations() -> list[tuple[int, str, str]]:
    """The PostgreSQL migrations, by number: (version, name, SQL)."""
    found = []
    for entry in (resources.files("storage") / FOLDER).iterdir():
        if entry.name.endswith(".sql"):
            number, _, name = entry.name.partition("_")
            found.append((int(number), name.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> list[int]:
    """Apply the migrations this database has not had, forward only; returns their numbers.

    Several workers may call it at once: each waits for the migration lock, and the first
    applies what is missing (each migration and its row in ``schema_migration`` in one
    transaction, so a failed one leaves the ones before it applied and itself not at all).
    """
    applied: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migration ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in await conn.fetch("SELECT version FROM schema_migration")}
        for version, name, sql in migrations():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migration (version, name, applied_at) VALUES ($1, $2, $3)",
                    version,
                    name,
                    datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            applied.append(version)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    return applied


async def version(conn: asyncpg.Connection) -> int:
    """The newest migration applied (0 for a database carebot has not migrated)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migration') IS NOT NULL")
    if not exists:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migration"))
