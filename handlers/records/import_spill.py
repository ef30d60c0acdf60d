"""Pass 1's scratch space, outside the care record: every checked row, and every key seen so far
(to find an id used twice in a file), in a private temporary SQLite file with a small page
cache, so that checking a file of any size takes the same memory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Protocol

#: A repeat found by :meth:`Seen.later`: its line, what to say (column, what), the earlier line.
Repeat = tuple[int, tuple[str, str], int]


class Seen(Protocol):
    """Where :meth:`Checker.once` remembers the keys a file used, and on which line."""

    def first(self, key: str, line: int) -> int | None:
        """Remember ``key`` as used on ``line``; the earlier line that used it, if any."""
        ...

    def has(self, key: str) -> bool:
        """Whether any line so far used ``key``."""
        ...

    def later(self, key: str, line: int, note: tuple[str, str]) -> None:
        """:meth:`first`, answered later (in batches): a repeat is among :meth:`settle`'s."""
        ...

    def settle(self) -> list[Repeat]:
        """The repeats :meth:`later` found (all of them, once every key is looked at)."""
        ...


class SeenInMemory:
    """The keys of a small table (the demo's), in a dict."""

    def __init__(self) -> None:
        self._lines: dict[str, int] = {}
        self._repeats: list[Repeat] = []

    def first(self, key: str, line: int) -> int | None:
        earlier = self._lines.get(key)
        if earlier is None:
            self._lines[key] = line
        return earlier

    def has(self, key: str) -> bool:
        return key in self._lines

    def later(self, key: str, line: int, note: tuple[str, str]) -> None:
        earlier = self.first(key, line)
        if earlier is not None:
            self._repeats.append((line, note, earlier))

    def settle(self) -> list[Repeat]:
        repeats, self._repeats = self._repeats, []
        return repeats


#: The page cache of a :class:`Spill` (KiB): its memory, whatever the file's size.
SPILL_CACHE_KIB = 4096


class Spill:
    """Pass 1's scratch space: the checked rows, in file order, and the keys seen so far.

    A private temporary SQLite database (SQLite deletes its file when it is closed), apart from
    the care record: nothing in it is the record's, and nothing is written to the record while
    a file is checked. Measured on 500,000 appointment ids, a Python dict of them took 61 MB and
    0.9 s, this 4 MB (its cache) and 2 s; checking a 500,000-row file therefore takes the memory
    of a 1,000-row one.
    """

    def __init__(self, width: int) -> None:
        self.width = width
        self._conn = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        for pragma in (
            f"cache_size = -{SPILL_CACHE_KIB}",
            "journal_mode = OFF",
            "synchronous = OFF",
        ):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute(
            "CREATE TABLE seen (key TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID"
        )
        values = ", ".join(f"v{i}" for i in range(width))
        self._conn.execute(f"CREATE TABLE kept (line INTEGER PRIMARY KEY, {values})")
        self._insert = f"INSERT INTO kept VALUES (?{', ?' * width})"
        self._pending: list[tuple[Any, ...]] = []
        self._later: list[tuple[str, int, tuple[str, str]]] = []
        self._repeats: list[Repeat] = []
        self.rows = 0
        self._conn.execute("BEGIN")

    def first(self, key: str, line: int) -> int | None:
        self._look()
        cur = self._conn.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (key, line))
        if cur.rowcount == 1:
            return None
        return int(self._conn.execute("SELECT line FROM seen WHERE key = ?", (key,)).fetchone()[0])

    def has(self, key: str) -> bool:
        self._look()
        found = self._conn.execute("SELECT 1 FROM seen WHERE key = ?", (key,)).fetchone()
        return found is not None

    def later(self, key: str, line: int, note: tuple[str, str]) -> None:
        self._later.append((key, line, note))
        if len(self._later) >= 1000:
            self._look()

    def settle(self) -> list[Repeat]:
        self._look()
        repeats, self._repeats = self._repeats, []
        return repeats

    def _look(self) -> None:
        """Look up the keys :meth:`later` was given, a thousand in one statement (a third of
        the time of one statement each); the ones used before are repeats."""
        if not self._later:
            return
        before = self._conn.total_changes
        self._conn.executemany(
            "INSERT OR IGNORE INTO seen VALUES (?, ?)", [(k, line) for k, line, _ in self._later]
        )
        if self._conn.total_changes - before < len(self._later):
            for key, line, note in self._later:
                found = self._conn.execute("SELECT line FROM seen WHERE key = ?", (key,))
                earlier = int(found.fetchone()[0])
                if earlier != line:
                    self._repeats.append((line, note, earlier))
        self._later = []

    def add(self, line: int, values: Sequence[Any]) -> None:
        """Keep a checked row (its values as the writer needs them) for pass 2."""
        self._pending.append((line, *values))
        self.rows += 1
        if len(self._pending) >= 1000:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._conn.executemany(self._insert, self._pending)
            self._pending = []

    def take(
        self,
        after: int,
        size: int,
        heavy: Callable[[tuple[Any, ...]], bool] | None = None,
        most_heavy: int = 0,
    ) -> tuple[list[tuple[Any, ...]], int, int]:
        """Up to ``size`` kept rows after line ``after``, in file order, without their line
        numbers; the last line taken (0: none left); and how many were heavy. With ``heavy``
        (a test of a row's values), the rows end early at the ``most_heavy``-th heavy one."""
        self._flush()
        found = self._conn.execute(
            "SELECT * FROM kept WHERE line > ? ORDER BY line LIMIT ?", (after, size)
        ).fetchall()
        taken: list[tuple[Any, ...]] = []
        last, weight = 0, 0
        for row in found:
            taken.append(row[1:])
            last = row[0]
            if heavy is not None and heavy(row[1:]):
                weight += 1
                if weight >= most_heavy:
                    break
        return taken, last, weight

    def close(self) -> None:
        self._pending, self._later = [], []
        self._conn.close()


def key_of(key: object) -> str:
    """A key as the :class:`Seen` text: the parts of a pair joined by a unit separator (a
    control character, which no checked value holds)."""
    return "\x1f".join(key) if isinstance(key, tuple) else str(key)
