"""What every kind of import is: a row check (pass 1) and a batch writer (pass 2), and the
context its rows are checked against."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from handlers.records.import_checks import Checker, CsvRow
from handlers.records.import_spill import Seen
from storage.models import Practice
from storage.record import Record

#: A checked row's values, as its writer takes them.
Values = tuple[Any, ...]


@dataclass
class Context:
    """What a file's rows are checked against, read from the record before pass 1."""

    now: datetime
    practice: Practice | None = None
    zone: ZoneInfo | None = None
    patients: set[str] = field(default_factory=set)
    staff: set[str] = field(default_factory=set)
    #: Slack user id -> the staff member holding it.
    slack_holders: dict[str, str] = field(default_factory=dict)
    #: Staff rows taking a Slack id another staff member holds: allowed only if that member is
    #: in the file too (and so gives it up), which is known once the whole file is read.
    claims: list[tuple[CsvRow, str, str]] = field(default_factory=list)


class Kind:
    """One kind of import: its row check and its batch writer."""

    #: How many values a checked row keeps for the writer.
    width: int
    #: Rows per transaction (the first batch; the importer then sizes batches by their time).
    batch = 1000

    async def context(self, record: Record, now: datetime) -> Context:
        return Context(now=now)

    def check(self, check: Checker, row: CsvRow, ctx: Context, seen: Seen) -> Values | None:
        """Check one row; its values for the writer, or None if it has a problem."""
        raise NotImplementedError

    def finish(self, check: Checker, ctx: Context, seen: Seen) -> None:
        """Checks that need the whole file (after its last row)."""

    def heavy(self, ctx: Context) -> Callable[[Values], bool] | None:
        """A test of a row that makes its transaction costly (a visit to plan reminders for):
        a batch holds at most :data:`~handlers.reminders.planning.PLAN_BATCH` of them."""
        return None

    async def new_rows(self, record: Record, rows: list[Values]) -> int:
        """How many of these rows are new to the record (before they are written)."""
        raise NotImplementedError

    def phases(self) -> tuple[Callable[[Record, list[Values], Context], Awaitable[int]], ...]:
        """The writers, each run over every row (batch by batch) before the next; the first
        returns how many of its rows were new."""
        return (self.write,)

    async def write(self, record: Record, rows: list[Values], ctx: Context) -> int:
        raise NotImplementedError

    def replan(self, rows: list[Values]) -> list[str]:
        """The patients whose visits in the planning window need planning after this batch."""
        return []
