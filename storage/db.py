"""The SQLite connection of the care record: pragmas, migrations and transactions.

One writing connection per process. SQLite allows one writer at a time, and aiosqlite runs every
statement on one thread, so every unit of work on it (reads included) takes an asyncio lock: a
coroutine never sees another coroutine's half-done transaction. Writes run in ``BEGIN IMMEDIATE``
so a second process waits on ``busy_timeout`` instead of failing half-way.

A second, read-only connection serves :meth:`Database.snapshot` (WAL lets it read while the
writer writes), for work that changes nothing, such as a staff member's day view, so that it
does not queue behind the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import aiosqlite

from storage.rows import fetch_all, fetch_one

T = TypeVar("T")

BUSY_TIMEOUT_MS = 5000
#: A migration that starts with this line runs with foreign keys off (SQLite's procedure for
#: rebuilding a table another table refers to); it is checked with foreign_key_check first.
FOREIGN_KEYS_OFF = "-- carebot: foreign-keys-off"


class DatabaseUnusable(Exception):
    """The record cannot be opened: the message is one line saying why (no traceback)."""


class Database:
    """An open care record. Create with :meth:`open`; close with :meth:`close`."""

    def __init__(
        self, conn: aiosqlite.Connection, path: str, reader: aiosqlite.Connection | None = None
    ) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()
        self._reader = reader
        self._reader_lock = asyncio.Lock()
        self._closed = False
        self.path = path
        #: Called with the seconds each write transaction held the writer.
        self.observers: list[Callable[[float], None]] = []

    @classmethod
    async def open(cls, path: str | Path) -> Database:
        """Open (creating if needed) the database at ``path`` and apply pending migrations.

        Raises:
            DatabaseUnusable: the folder is missing, the file is not a SQLite database, or it
                cannot be read or written; every connection opened so far is closed again (an
                open aiosqlite connection would keep the process from exiting).
        """
        where = str(path)
        if where.startswith(("postgresql://", "postgres://")):
            raise DatabaseUnusable(
                "PostgreSQL is not served yet: its schema and migrations are in place"
                " (storage/postgres.py), the care record's repositories run on SQLite only"
                " (issue 14); set CAREBOT_DATABASE to a SQLite file"
            )
        if where != ":memory:":
            _check_path(where)
        conn = await aiosqlite.connect(where, isolation_level=None)
        db = cls(conn, where)
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA journal_mode = WAL")
            await conn.execute("PRAGMA synchronous = FULL")
            await conn.execute("PRAGMA foreign_keys = ON")
            await db.migrate()
            if where != ":memory:":
                reader = await aiosqlite.connect(
                    _read_only_uri(path), uri=True, isolation_level=None
                )
                db._reader = reader
                reader.row_factory = aiosqlite.Row
                await reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        except sqlite3.DatabaseError as error:
            await db.close()
            raise DatabaseUnusable(_why_unusable(where, error)) from None
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        """Close the connection (waits for a running unit of work); closing twice is harmless."""
        async with self._lock, self._reader_lock:
            if not self._closed:
                self._closed = True
                await self._conn.close()
                if self._reader is not None:
                    await self._reader.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error.

        How long it held the writer (from BEGIN to the end of COMMIT) goes to every
        :attr:`observers` callback (the metrics' writer-transaction histogram, a test).
        """
        async with self._lock:
            started = time.perf_counter()
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                try:
                    yield self._conn
                except BaseException:
                    await self._conn.execute("ROLLBACK")
                    raise
                await self._conn.execute("COMMIT")
            finally:
                held = time.perf_counter() - started
                for observe in self.observers:
                    observe(held)

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """A write transaction in one trip to aiosqlite's thread: ``BEGIN IMMEDIATE``, ``work``
        on the plain sqlite3 connection, ``COMMIT`` (``ROLLBACK`` if it raises).

        For hot paths: :meth:`transaction` makes a trip per statement (BEGIN and COMMIT
        included), and under load each trip waits for the event loop's next turn (the outbox's
        turn of four statements held the writer 8.5 ms that way, median, and 4 ms in one trip,
        fsync included). ``work`` runs on that thread, so it must not touch the event loop.
        Observed like :meth:`transaction`.
        """

        def run() -> T:
            conn = self._conn._conn  # noqa: SLF001 - aiosqlite's own sqlite3 connection
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._lock:
            started = time.perf_counter()
            try:
                # aiosqlite's own trip to its thread (untyped): one trip for it all.
                result: T = await self._conn._execute(run)  # type: ignore[no-untyped-call]  # noqa: SLF001
                return result
            finally:
                held = time.perf_counter() - started
                for observe in self.observers:
                    observe(held)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A consistent read (``BEGIN DEFERRED``), for queries that change nothing."""
        async with self._lock:
            await self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                await self._conn.execute("ROLLBACK")

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection that does not wait for the writer (writes fail on it).

        No transaction is held: each statement sees a consistent state on its own, which is
        what a screen of a few queries needs (a change landing between two of them shows on the
        next look). Use :meth:`read` where several statements must agree.
        """
        if self._reader is None:
            async with self.query() as conn:
                yield conn
            return
        async with self._reader_lock:
            yield self._reader

    @asynccontextmanager
    async def query(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection for one read statement (SQLite makes a single statement consistent)."""
        async with self._lock:
            yield self._conn

    async def pragma(self, name: str) -> object:
        """Read one pragma's value (for health checks and tests)."""
        async with self._lock:
            row = await fetch_one(self._conn, f"PRAGMA {name}")
            return row[0] if row else None

    async def migrate(self) -> list[int]:
        """Apply the numbered migrations in ``storage/migrations`` not yet applied; forward only."""
        applied: list[int] = []
        async with self._lock:
            await self._conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migration ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            rows = await fetch_all(self._conn, "SELECT version FROM schema_migration")
            done = {row[0] for row in rows}
            for version, name, sql in _migrations():
                if version in done:
                    continue
                keys_off = sql.startswith(FOREIGN_KEYS_OFF)
                if keys_off:  # only outside a transaction does this pragma take effect
                    await self._conn.execute("PRAGMA foreign_keys = OFF")
                try:
                    await self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        for statement in _statements(sql):
                            await self._conn.execute(statement)
                        if keys_off:
                            broken = await fetch_all(self._conn, "PRAGMA foreign_key_check")
                            if broken:
                                raise sqlite3.IntegrityError(
                                    f"migration {version} breaks {len(broken)} foreign key(s)"
                                )
                        await self._conn.execute(
                            "INSERT INTO schema_migration (version, name, applied_at)"
                            " VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                            (version, name),
                        )
                    except BaseException:
                        await self._conn.execute("ROLLBACK")
                        raise
                    await self._conn.execute("COMMIT")
                finally:
                    if keys_off:
                        await self._conn.execute("PRAGMA foreign_keys = ON")
                applied.append(version)
        return applied


def _check_path(where: str) -> None:
    """A missing folder or a folder given as the file: said plainly, before SQLite tries."""
    folder = Path(where).resolve().parent
    if not folder.is_dir():
        raise DatabaseUnusable(f"{where}: the folder {folder} does not exist")
    if Path(where).is_dir():
        raise DatabaseUnusable(f"{where} is a folder, not a database file")


def _why_unusable(path: str, error: sqlite3.DatabaseError) -> str:
    text = str(error)
    if "not a database" in text or "malformed" in text:
        return f"{path} is not a SQLite database (or it is damaged)"
    if "unable to open" in text:
        return f"{path} cannot be opened (check the path and its permissions)"
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only; carebot needs to write to it"
    return f"{path}: {text}"


def _read_only_uri(path: str | Path) -> str:
    """A ``file:`` URI opening the database read-only (writes through it fail)."""
    return f"file:{quote(str(Path(path).resolve()))}?mode=ro"


def _migrations() -> list[tuple[int, str, str]]:
    folder = resources.files("storage") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number, _, name = entry.name.partition("_")
            found.append((int(number), name.removesuffix(".sql"), entry.read_text("utf-8")))
    return sorted(found)


def _statements(sql: str) -> list[str]:
    """Split a migration file on ';' at line ends (our migrations hold no triggers)."""
    parts, current = [], []
    for line in sql.splitlines():
        if line.strip().startswith("--"):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            parts.append("\n".join(current))
            current = []
    if "".join(current).strip():
        parts.append("\n".join(current))
    return parts
