"""Time: an injectable clock and the record's one text form for instants (UTC)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol

DB_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def to_db(instant: datetime) -> str:
    """An aware datetime as the record's UTC text."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime given where an instant is needed")
    return instant.astimezone(UTC).strftime(DB_FORMAT)


def from_db(text: str) -> datetime:
    """The record's UTC text as an aware datetime (fromisoformat: strptime is 10x slower)."""
    return datetime.fromisoformat(text)


class Clock(Protocol):
    """Where "now" comes from. Production uses :class:`SystemClock`; tests a :class:`FakeClock`."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class FakeClock:
    """A clock that moves only when told. ``sleep`` returns once the clock has been advanced."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC).replace(microsecond=0)
        self._moved = asyncio.Event()

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> None:
        """Move forward (never back) and wake sleepers whose time has come."""
        if delta < timedelta(0):
            raise ValueError("a clock does not go back")
        self.set(self._now + delta)

    def set(self, instant: datetime) -> None:
        """Jump to ``instant`` (not earlier than now)."""
        instant = instant.astimezone(UTC).replace(microsecond=0)
        if instant < self._now:
            raise ValueError("a clock does not go back")
        self._now = instant
        self._moved.set()
        self._moved = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        wake_at = self._now + timedelta(seconds=seconds)
        while self._now < wake_at:
            await self._moved.wait()


class MovableClock:
    """The wall clock, moved forward on request: the sandbox's "move the clock" control.

    ``now()`` is the system time plus an offset that only grows (:meth:`advance`); time passes
    as it does on the wall, and sleeps are real.
    """

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    @classmethod
    def starting_at(cls, instant: datetime) -> MovableClock:
        """A clock that reads ``instant`` now and runs on from there."""
        return cls(instant.astimezone(UTC) - datetime.now(UTC))

    def now(self) -> datetime:
        return (datetime.now(UTC) + self.offset).replace(microsecond=0)

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("a clock does not go back")
        self.offset += delta

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
