"""The writer's connection while an import writes many batches in a row.

Two of SQLite's settings suit a stream of short transactions badly, so :class:`BulkWrites` sets
them for its duration and puts them back after:

- the page cache (2,000 KiB by default) is made :data:`CACHE_KIB`, so a batch's index pages stay
  in memory instead of being read again (the same size whatever the file's);
- the WAL is checkpointed by :meth:`BulkWrites.between` (called between two batches, outside
  any transaction) every :data:`CHECKPOINT_SECONDS`, instead of inside every commit that takes
  it past 1,000 pages: each batch rewrites many of the same index pages, which were copied into
  the database file (and synced) once per batch. Measured on 500,000 appointments: 61 s and a
  longest transaction of 114 ms, against 33 s and 64 ms. A passive checkpoint does not hold
  SQLite's writer: another process's writer commits meanwhile, and the gap around it is made
  :data:`LONG_GAP_SECONDS` long.
"""

from __future__ import annotations

import asyncio
import time
from types import TracebackType

from storage.db import Database
from storage.rows import fetch_all

#: The writer's page cache while bulk writes run, in KiB.
CACHE_KIB = 16384
#: How often bulk writes checkpoint the WAL.
CHECKPOINT_SECONDS = 0.25
#: Once a second (:data:`LONG_GAP_EVERY_SECONDS`), the gap between two batches is made this long
#: (a checkpoint in it included): another process's writer, waiting in SQLite's busy handler,
#: looks again at most 100 ms later, so it cannot miss this gap; one that missed the short gaps
#: between batches gets in within about a second.
LONG_GAP_SECONDS = 0.11
LONG_GAP_EVERY_SECONDS = 1.0


class BulkWrites:
    """``async with BulkWrites(db) as bulk:`` ... ``await bulk.between()`` after each batch."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._saved: tuple[int, int] | None = None
        self._last = self._last_gap = time.monotonic()

    async def __aenter__(self) -> BulkWrites:
        cache, pages = (
            await self._db.pragma("cache_size"),
            await self._db.pragma("wal_autocheckpoint"),
        )
        self._saved = (int(str(cache)), int(str(pages)))
        await self._set(f"cache_size = -{CACHE_KIB}", "wal_autocheckpoint = 0")
        self._last = self._last_gap = time.monotonic()
        return self

    async def between(self) -> None:
        """Checkpoint the WAL if it is time (call between transactions, never inside one)."""
        started = time.monotonic()
        if started - self._last >= CHECKPOINT_SECONDS:
            await self._set("wal_checkpoint(PASSIVE)")
            self._last = time.monotonic()
        if started - self._last_gap >= LONG_GAP_EVERY_SECONDS:
            await asyncio.sleep(max(0.0, LONG_GAP_SECONDS - (time.monotonic() - started)))
            self._last_gap = time.monotonic()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._saved is not None:
            cache, pages = self._saved
            await self._set(
                f"cache_size = {cache}", f"wal_autocheckpoint = {pages}", "wal_checkpoint(PASSIVE)"
            )

    async def _set(self, *pragmas: str) -> None:
        async with self._db.query() as conn:
            for pragma in pragmas:
                # Read to the end: a statement left part-read would keep a read transaction
                # open, and no checkpoint could go past it.
                await fetch_all(conn, f"PRAGMA {pragma}")
