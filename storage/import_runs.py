"""Import runs: how far each batched import got, so one that did not finish is said."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import aiosqlite

from storage.clock import from_db, to_db
from storage.rows import fetch_all


@dataclass(frozen=True)
class ImportRun:
    """One run of ``carebot import``: ``written`` of its ``rows`` rows are in the record."""

    id: int
    kind: str
    file: str
    rows: int
    written: int
    started_at: datetime


class ImportRunRepo:
    """The import_run table."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def start(self, kind: str, file: str, rows: int, now: datetime) -> int:
        cur = await self._conn.execute(
            "INSERT INTO import_run (kind, file, rows, started_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (kind, file, rows, to_db(now), to_db(now)),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def wrote(self, run_id: int, rows: int, now: datetime) -> None:
        """``rows`` more rows of the run are written (in the caller's transaction)."""
        await self._conn.execute(
            "UPDATE import_run SET written = written + ?, updated_at = ? WHERE id = ?",
            (rows, to_db(now), run_id),
        )

    async def finish(self, run_id: int, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE import_run SET finished_at = ?, updated_at = ? WHERE id = ?",
            (to_db(now), to_db(now), run_id),
        )

    async def unfinished(self) -> list[ImportRun]:
        """Runs that did not finish and that no later run of the same kind and file completed
        (oldest first)."""
        rows = await fetch_all(
            self._conn,
            "SELECT r.id, r.kind, r.file, r.rows, r.written, r.started_at FROM import_run r"
            " WHERE r.finished_at IS NULL AND NOT EXISTS (SELECT 1 FROM import_run later"
            " WHERE later.kind = r.kind AND later.file = r.file AND later.id > r.id"
            " AND later.finished_at IS NOT NULL) ORDER BY r.id",
        )
        return [ImportRun(row[0], row[1], row[2], row[3], row[4], from_db(row[5])) for row in rows]
