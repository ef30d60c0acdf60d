"""What the record's queries cost: the statements a piece of work runs, and SQLite's plan for each.

For the query-plan test (tests/storage/test_query_plans.py) and the read-path benchmark
(bench/read_paths.py); nothing in the running bot uses it.

- :func:`capture` records every statement both connections of a :class:`Database` run (the
  writer and the read-only reader), through sqlite3's trace callback, set on aiosqlite's own
  thread. SQLite hands the callback the statement with its parameters bound (``WHERE id = 'a-1'``),
  so a captured statement can be explained with the values it ran with.
- :func:`shape` is a statement with its literals replaced by ``?`` (and ``IN (?, ?, ?)`` by
  ``IN (?)``): the same query with other values is the same shape.
- :func:`explain` is ``EXPLAIN QUERY PLAN``; :func:`full_scans` says which of its lines read a
  table that grows with the practice from end to end.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiosqlite

from storage.db import Database

#: Tables whose size does not grow with the practice (one row, a handful of settings, the staff
#: list of a few dozen people, the applied migrations): a scan of them is fine.
TINY_TABLES = frozenset(
    {
        "practice",
        "practice_setting_origin",
        "reminder_planning",
        "schema_migration",
        "staff",
        "sqlite_master",
        "sqlite_schema",
    }
)

#: Work queues: rows waiting for one job, deleted as it does them (the sent reminders of visits
#: an import moved). They hold the work not yet done, never the practice's history; they are
#: read from their head in key order with a LIMIT, so a scan stops at the page.
WORK_QUEUES = frozenset({"stale_buttons"})

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")
_PLANNED = re.compile(r"^\s*(SELECT|WITH|INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
#: ``FROM t``, ``JOIN t x``, ``FROM t AS x``, ``UPDATE t``, ``INTO t``: a table and its alias.
_TABLE_REF = re.compile(
    r"\b(?:FROM|JOIN|UPDATE|INTO)\s+([A-Za-z_]\w*)(?:\s+(?:AS\s+)?([A-Za-z_]\w*))?",
    re.IGNORECASE,
)
_NOT_ALIAS = frozenset(
    """where join left right inner outer cross natural on using order group limit having set
    values select as union except intersect window indexed not default
    """.split()
)
#: A plan line reading a table: ``SCAN t``, ``SCAN t USING COVERING INDEX i``, ``SEARCH t
#: USING AUTOMATIC ...`` (SQLite builds a throwaway index by reading the whole table).
_SCAN = re.compile(r"^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?")
_AUTOMATIC = re.compile(r"^SEARCH (\w+) USING AUTOMATIC ")


@dataclass
class Captured:
    """Statements seen, in order, each with the label of the flow that first ran it."""

    statements: list[tuple[str, str]] = field(default_factory=list)
    flow: str = ""

    def add(self, sql: str) -> None:
        self.statements.append((self.flow, sql))

    def distinct(self) -> dict[str, tuple[str, str]]:
        """shape -> (first flow, first statement) for every statement a plan applies to."""
        found: dict[str, tuple[str, str]] = {}
        for flow, sql in self.statements:
            if _PLANNED.match(sql) is None:
                continue
            found.setdefault(shape(sql), (flow, sql))
        return found


async def _set_trace(conn: aiosqlite.Connection, callback: object) -> None:
    # sqlite3 checks the calling thread: the callback is set on aiosqlite's worker thread.
    await conn._execute(conn._conn.set_trace_callback, callback)  # type: ignore[no-untyped-call]


@asynccontextmanager
async def capture(db: Database) -> AsyncIterator[Captured]:
    """Every statement ``db``'s connections run inside the block (reads and writes)."""
    captured = Captured()
    connections = [c for c in (db._conn, db._reader) if c is not None]
    for conn in connections:
        await _set_trace(conn, captured.add)
    try:
        yield captured
    finally:
        for conn in connections:
            await _set_trace(conn, None)


def shape(sql: str) -> str:
    """The statement with literals as ``?``: one shape per query the code makes."""
    text = _STRING.sub("?", sql)
    text = _NUMBER.sub("?", text)
    text = _LIST.sub("(?)", text)
    return _SPACE.sub(" ", text).strip()


def explain(conn: sqlite3.Connection, sql: str, params: Iterable[object] = ()) -> list[str]:
    """SQLite's plan for ``sql``, one line per step, indented by depth."""
    rows = conn.execute(f"EXPLAIN QUERY PLAN {sql}", tuple(params)).fetchall()
    depth: dict[int, int] = {0: -1}
    lines = []
    for node, parent, _unused, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        lines.append("  " * depth[node] + detail)
    return lines


@dataclass(frozen=True)
class Schema:
    """The record's tables and which of its indexes are partial (bounded by their WHERE)."""

    tables: frozenset[str]
    partial_indexes: frozenset[str]

    @classmethod
    def of(cls, conn: sqlite3.Connection) -> Schema:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        tables = frozenset(name for kind, name, _sql in rows if kind == "table")
        partial = frozenset(
            name
            for kind, name, sql in rows
            if kind == "index" and sql and re.search(r"\)\s*WHERE\b", sql, re.IGNORECASE)
        )
        return cls(tables, partial)


def aliases(sql: str, tables: Iterable[str]) -> dict[str, str]:
    """Names a plan may use for a table in ``sql`` (its own name, or its alias) -> the table."""
    known = set(tables)
    names = {t: t for t in known}
    for table, alias in _TABLE_REF.findall(_STRING.sub("''", sql)):
        if table in known and alias and alias.lower() not in _NOT_ALIAS:
            names[alias] = table
    return names


def full_scans(
    sql: str, plan: list[str], schema: Schema, tiny: frozenset[str] = TINY_TABLES | WORK_QUEUES
) -> list[str]:
    """The lines of ``plan`` that read a growing table from end to end.

    A scan is allowed of a tiny table, or of a partial index (it reads only the rows its WHERE
    admits: the queued messages, the pending reminders, the open escalations). Anything else that
    scans a table, or an index of all its rows, or builds an automatic index over it, is listed.
    """
    names = aliases(sql, schema.tables)
    bad = []
    for line in plan:
        step = line.strip()
        scan = _SCAN.match(step)
        auto = _AUTOMATIC.match(step)
        name = scan.group(1) if scan else auto.group(1) if auto else None
        table = names.get(name) if name else None
        if table is None or table in tiny:
            continue
        if scan and scan.group(2) in schema.partial_indexes:
            continue
        bad.append(step)
    return bad
