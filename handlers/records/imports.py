"""CSV import of the care record: patients, guardians, staff, care teams and appointments.

Two passes, streamed: the file is never held in memory.

1. Every row is read (UTF-8 decoded as it is read) and checked against the file and the record;
   every problem is collected, with its line and column. Nothing is written to the record: a
   checked row is kept in a :class:`~handlers.records.import_spill.Spill` (a private temporary
   SQLite file, with the keys seen so far to find an id used twice). A file with any problem is
   rejected here, so bad input writes nothing.
2. Only a clean file is written, from the spill, in batches, each its own short transaction
   (sized to hold the writer about :data:`BATCH_SECONDS`, so that a family's button press or a
   delivery report commits between two of them). Writes are upserts by id: re-importing a file
   changes only what it changes, and re-running an import that died in this pass completes it.
   An ``import_run`` row says how far each run got; one that did not finish is reported by the
   next import. Meanwhile :class:`~storage.bulk.BulkWrites` checkpoints the WAL between batches
   and leaves a longer gap once a second.
"""

from __future__ import annotations

import asyncio
import codecs
import csv
import io
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from handlers.records.columns import COLUMNS, KINDS, OPTIONAL
from handlers.records.import_checks import (
    E164,
    ROLES,
    Checker,
    CsvRow,
    ImportRejected,
    RowError,
    phone_region,
    printable,
)
from handlers.records.import_kinds import Context, Kind
from handlers.records.import_records import NO_PRACTICE, PREPARERS, kind_of, plan_page
from handlers.records.import_spill import Spill
from handlers.reminders.planning import PLAN_BATCH
from storage.bulk import BulkWrites
from storage.db import Database
from storage.import_runs import ImportRun, ImportRunRepo
from storage.record import Record

__all__ = [
    "COLUMNS",
    "E164",
    "KINDS",
    "NO_PRACTICE",
    "PREPARERS",
    "ROLES",
    "Checker",
    "CsvRow",
    "ImportRejected",
    "ImportReport",
    "RowError",
    "import_csv",
    "iter_rows",
]

log = logging.getLogger(__name__)


#: How long one batch should hold the record's writer; batches are sized to it as they go.
BATCH_SECONDS = 0.03
#: The fewest and the most rows a batch takes.
BATCH_ROWS = (50, 2000)
#: After each batch the import waits this share of the time the batch held the writer: another
#: process's writer, waiting in SQLite's busy handler (which looks again after 1, 2, 5 ... 100
#: ms), finds the record free in between.
PAUSE_SHARE = 0.2
#: How much of the file is read at a time.
CHUNK_BYTES = 1 << 20
_BOM = codecs.BOM_UTF8


@dataclass(frozen=True)
class ImportReport:
    """What an import did. A row is "updated" when the record it names already existed.

    ``unfinished``: earlier runs that had not finished when this one started (each is also
    logged as a warning); a run of the same kind and file that finishes completes them.
    """

    kind: str
    rows: int
    inserted: int
    updated: int
    batches: int = 0
    unfinished: tuple[ImportRun, ...] = ()
    #: Languages carebot has no texts in yet, by how many rows name them: kept in the record,
    #: and English is used for them (the command says so).
    fallbacks: dict[str, int] = field(default_factory=dict)


async def import_csv(db: Database, kind: str, path: Path, now: datetime) -> ImportReport:
    """Import one CSV file of ``kind`` into the care record: every row is checked first, and
    only a clean file is written, in batches.

    Args:
        db: the open care record.
        kind: one of :data:`KINDS`.
        path: the CSV file (UTF-8, with or without a byte order mark; header row required).
        now: the current instant (for timestamps and reminder planning).

    Returns:
        How many rows were read, and how many of them were new or updates.

    Raises:
        ImportRejected: the kind, the file or any row is bad; nothing was written.
    """
    if kind not in COLUMNS:
        raise ImportRejected(
            [RowError(None, None, f'unknown kind "{kind}": expected one of {", ".join(KINDS)}')]
        )
    async with db.read() as conn:
        unfinished = tuple(await ImportRunRepo(conn).unfinished())
        for run in unfinished:
            log.warning(
                "the import of %s from %s started %s did not finish (%d of %d rows written, or"
                " it is still running): importing that file again completes it",
                run.kind,
                run.file,
                run.started_at.isoformat(),
                run.written,
                run.rows,
            )
        handler = kind_of(kind)
        context = await handler.context(Record(conn), now)
    spill = Spill(handler.width)
    try:
        rows, fallbacks = await asyncio.to_thread(_check_file, handler, kind, path, context, spill)
        async with BulkWrites(db) as bulk:
            inserted, batches = await _write(
                db, bulk, handler, kind, path.name, spill, context, rows, now
            )
    finally:
        spill.close()
    log.info(
        "import %s from %s: %d rows, %d new, in %d batches",
        kind,
        path.name,
        rows,
        inserted,
        batches,
    )
    return ImportReport(kind, rows, inserted, rows - inserted, batches, unfinished, fallbacks)


def _check_file(
    handler: Kind, kind: str, path: Path, context: Context, spill: Spill
) -> tuple[int, dict[str, int]]:
    """Pass 1: check every row, keep the checked ones; how many rows the file has, and the
    languages carebot has no texts in (by rows)."""
    check = Checker(phone_region(context.practice.phone if context.practice else None))
    count = 0
    for row in iter_rows(kind, path):
        count += 1
        values = handler.check(check, row, context, spill)
        if values is not None and not check.errors:  # a rejected file keeps nothing
            spill.add(row.line, values)
    check.settle(spill)
    handler.finish(check, context, spill)
    if check.errors:
        raise ImportRejected(check.errors)
    return count, check.fallbacks


async def _write(
    db: Database,
    bulk: BulkWrites,
    handler: Kind,
    kind: str,
    name: str,
    spill: Spill,
    context: Context,
    rows: int,
    now: datetime,
) -> tuple[int, int]:
    """Pass 2: write the checked rows in batches; (rows new to the record, batches)."""
    async with db.transaction() as conn:
        run = await ImportRunRepo(conn).start(kind, name, rows, now)
    heavy = handler.heavy(context)
    phases = handler.phases()
    inserted = batches = 0
    size = _Size(handler.batch)
    for number, phase in enumerate(phases):
        last_phase = number == len(phases) - 1
        batch, after, weight = spill.take(0, size.rows, heavy, size.heavy)
        while batch:
            async with db.transaction() as conn:
                started = time.perf_counter()
                new = await phase(Record(conn), batch, context)
                if last_phase:
                    await ImportRunRepo(conn).wrote(run, len(batch), now)
            held = time.perf_counter() - started
            batches += 1
            inserted += new if number == 0 else 0
            size.after(len(batch), weight, held)
            written = batch
            # The pause, and meanwhile the next batch read from the spill.
            (batch, after, weight), _ = await asyncio.gather(
                asyncio.to_thread(spill.take, after, size.rows, heavy, size.heavy),
                asyncio.sleep(held * PAUSE_SHARE),
            )
            await bulk.between()
            if last_phase and context.practice is not None:
                patients = handler.replan(written)
                if patients:
                    await _plan_patients(db, context, patients, now, size)
    async with db.transaction() as conn:
        await ImportRunRepo(conn).finish(run, now)
        await Record(conn).audit.record(
            actor_type="operator",
            actor_id="",
            action=f"import.{kind}",
            entity_type="import",
            entity_id=name,
            now=now,
            detail=f"rows={rows}",
        )
    return inserted, batches


async def _plan_patients(
    db: Database, context: Context, patients: list[str], now: datetime, size: _Size
) -> None:
    """Plan these patients' visits inside the planning window, a page per transaction (as
    many visits as :data:`BATCH_SECONDS` allows, as batches are sized)."""
    assert context.practice is not None
    position: tuple[datetime, str] | None = (now, "")
    while position is not None:
        limit = size.heavy
        async with db.transaction() as conn:
            started = time.perf_counter()
            _, position = await plan_page(
                Record(conn), context.practice, patients, now, position, limit
            )
        held = time.perf_counter() - started
        if position is not None:  # a whole page
            size.after(0, limit, held)
        await asyncio.sleep(held * PAUSE_SHARE)


class _Size:
    """How many rows the next batch takes, and at most how many heavy ones (visits to plan):
    what would have held the writer :data:`BATCH_SECONDS` at the last batch's pace, growing at
    most twofold at a time."""

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.heavy = PLAN_BATCH

    def after(self, taken: int, heavy: int, held: float) -> None:
        scale = BATCH_SECONDS / max(held, 1e-4)
        if heavy and heavy >= self.heavy:  # cut short by its heavy rows: they set the pace
            self.heavy = max(BATCH_ROWS[0] // 5, min(PLAN_BATCH, int(heavy * scale)))
        elif taken >= self.rows:  # a whole batch (not the file's last rows)
            self.rows = max(BATCH_ROWS[0], min(BATCH_ROWS[1], int(taken * scale), 2 * self.rows))


def iter_rows(kind: str, path: Path) -> Iterator[CsvRow]:
    """The data rows of a CSV file, read as they are needed, after checking the header.

    Raises:
        ImportRejected: the file cannot be read, is not UTF-8 (the line of the first byte that
            is not), is not CSV, is empty, or its header lacks a column.
    """
    wanted = COLUMNS[kind]
    optional = OPTIONAL.get(kind, ())
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise _unreadable(path, exc) from None
    with handle:
        reader = csv.reader(_lines(_decoded(handle, path)))
        index: list[tuple[str, int]] | None = None
        first_line = 1
        try:
            for fields in reader:
                if any(f.strip() for f in fields):
                    if index is None:
                        header = [f.strip().lower() for f in fields]
                        _check_header(header, wanted, first_line)
                        index = [(c, header.index(c)) for c in wanted]  # the first one counts
                        index += [(c, header.index(c)) for c in optional if c in header]
                    else:
                        width = len(fields)
                        yield CsvRow(
                            first_line,
                            {c: fields[i].strip() if i < width else "" for c, i in index},
                            printable("".join(fields)),
                        )
                first_line = reader.line_num + 1
        except csv.Error as exc:
            raise ImportRejected(
                [RowError(reader.line_num, None, f"not valid CSV ({exc})")]
            ) from None
    if index is None:
        raise ImportRejected(
            [
                RowError(
                    1, None, f"the file is empty: expected a header row with {', '.join(wanted)}"
                )
            ]
        )


def _unreadable(path: Path, exc: OSError) -> ImportRejected:
    return ImportRejected([RowError(None, None, f"cannot read {path}: {exc.strerror or exc}")])


def _decoded(handle: io.BufferedReader, path: Path) -> Iterator[str]:
    """The file's text, a chunk at a time (a byte order mark dropped); a byte sequence that is
    not UTF-8 is reported with its line."""
    newlines = 0
    pending = b""
    first = True
    while True:
        try:
            chunk = handle.read(CHUNK_BYTES)
        except OSError as exc:
            raise _unreadable(path, exc) from None
        final = not chunk
        data = pending + chunk
        if first:
            if not final and len(data) < len(_BOM) and _BOM.startswith(data):
                pending = data
                continue
            data = data.removeprefix(_BOM)
            first = False
        try:
            text, used = codecs.utf_8_decode(data, "strict", final)
        except UnicodeDecodeError as exc:
            line = newlines + data[: exc.start].count(b"\n") + 1
            raise ImportRejected([RowError(line, None, "the file is not UTF-8 text")]) from None
        newlines += text.count("\n")
        pending = data[used:]
        if text:
            yield text
        if final:
            return


def _lines(texts: Iterable[str]) -> Iterator[str]:
    """Lines with their endings (``\\n``, ``\\r\\n`` or ``\\r``, as ``newline=""`` reads them),
    from text arriving in chunks that may end anywhere."""
    tail = ""
    for text in texts:
        lines = io.StringIO(tail + text, newline="").readlines()
        last = lines[-1] if lines else ""
        # A line not ended yet, or ended by "\r" that may be the first half of "\r\n".
        tail = lines.pop() if last and (last[-1] not in "\r\n" or last[-1] == "\r") else ""
        yield from lines
    if tail:
        yield tail


def _check_header(header: list[str], wanted: tuple[str, ...], line: int) -> None:
    missing = [c for c in wanted if c not in header]
    if missing:
        # The first error says what the header needs.
        errors = [RowError(line, c, "missing from the header") for c in missing]
        hint = f"{errors[0].message} (the header must name {', '.join(wanted)})"
        errors[0] = RowError(line, missing[0], hint)
        raise ImportRejected(errors)
