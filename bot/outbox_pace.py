"""A channel's pace: its platform's limit over a sliding second, one message at a time to an
address, and the pause a 429 asks for.

Kept in seconds of a monotonic clock with microseconds, never in the record's datetimes:
storage's ``SystemClock.now()`` drops microseconds (a window measured with it admits a new
second's worth of messages up to a second early) and the wall clock can jump. In tests the fake
clock's own time is used instead, since its ``sleep`` follows only it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from math import inf

from bot.channels.base import ChannelAdapter, RateLimits
from storage.clock import Clock, FakeClock

#: The platforms count their limits over a sliding second.
WINDOW = 1.0
#: A 429 that does not say how long to wait (Twilio documents no ``Retry-After``): wait 1 s,
#: then 2, 4, ... up to this, until a send succeeds.
MAX_UNSAID_WAIT = 60.0


def pace_clock(clock: Clock) -> Callable[[], float]:
    """Seconds on the scale the clock's ``sleep`` follows: :class:`FakeClock`'s own time (it
    moves only when a test moves it), else ``time.monotonic`` (asyncio's sleeps follow it)."""
    if isinstance(clock, FakeClock):
        return lambda: clock.now().timestamp()
    return time.monotonic


@dataclass
class Pace:
    """A channel's sends of the last window, those at the platform now, the last send to each
    address, and a pause (a 429).

    A send holds its place in the window from when it is admitted until a window after its
    answer came back: the platform received it somewhere in between, so no sliding second at
    the platform holds more than the limit, however the network delays one request against
    another (a first request on a cold connection, say). Counting from the start of the call
    instead is a few milliseconds faster and gets 429s whenever one request is slower than the
    one a second before it.
    """

    limits: RateLimits
    #: When the sends of the last window were answered (oldest first).
    recent: deque[float] = field(default_factory=deque)
    #: Sends admitted and not yet answered.
    in_flight: int = 0
    #: When the last send to an address was answered (``inf`` while one is at the platform).
    last_to: dict[str, float] = field(default_factory=dict)
    paused_until: float = 0.0
    #: 429s in a row that did not say how long to wait (the backoff's exponent).
    unsaid: int = 0

    @property
    def per_window(self) -> int:
        """Sends a sliding second admits (a rate under one a second admits one, and
        :attr:`window` stretches to match)."""
        return max(1, int(self.limits.max_per_second))

    @property
    def window(self) -> float:
        rate = self.limits.max_per_second
        return WINDOW if rate >= 1 else 1.0 / rate

    def channel_ready_at(self, now: float) -> float:
        """When the channel as a whole may send next (its pause, the sliding window); ``inf``
        when that waits for a send at the platform to be answered."""
        window = self.window
        while self.recent and now - self.recent[0] >= window:
            self.recent.popleft()
        ready = max(now, self.paused_until)
        over = self.in_flight + len(self.recent) - self.per_window
        if over >= 0:
            ready = max(ready, self.recent[over] + window if over < len(self.recent) else inf)
        return ready

    def address_ready_at(self, address: str, now: float) -> float:
        """When this address may be sent to next (one message per interval)."""
        interval = self.limits.per_address_interval
        last = self.last_to.get(address) if interval else None
        return now if last is None else max(now, last + interval)

    def take(self, address: str) -> None:
        """A send to ``address`` is admitted: it holds a place until it is answered."""
        self.in_flight += 1
        if self.limits.per_address_interval:
            self.last_to[address] = inf

    def give_back(self, address: str) -> None:
        """An admitted send did not go (a STOP withdrew it in between)."""
        self.in_flight -= 1
        if self.last_to.get(address) == inf:
            del self.last_to[address]

    def answered(self, address: str, now: float) -> None:
        """A send was answered at ``now`` (whatever the answer; a 429 counts too)."""
        self.in_flight -= 1
        self.recent.append(now)
        if self.limits.per_address_interval:
            self.last_to[address] = now
            if len(self.last_to) > 10_000:  # forget addresses long past their interval
                horizon = now - self.limits.per_address_interval
                self.last_to = {a: t for a, t in self.last_to.items() if t > horizon}

    def rate_limited(self, retry_after: float | None, now: float) -> float:
        """A 429: pause the channel for ``retry_after`` seconds exactly, or, when the platform
        did not say, 1, 2, 4 ... seconds. Returns the wait."""
        if retry_after is None:
            wait = min(2.0**self.unsaid, MAX_UNSAID_WAIT)
            self.unsaid += 1
        else:
            wait = max(retry_after, 0.05)
        self.paused_until = max(self.paused_until, now + wait)
        return wait

    def went_out(self) -> None:
        """A send succeeded: the next 429 without a wait starts the backoff again."""
        self.unsaid = 0


@dataclass
class PacedChannel:
    """One channel of the outbox: its adapter, pace and wake-up, and what its last round left
    for later."""

    adapter: ChannelAdapter
    pace: Pace
    #: When (pace clock) a message the last round held back may go; None if it held none.
    next_deferred: float | None = None
    #: Seconds until the next queued message's ``not_before`` (from the last round's look).
    next_due_in: float | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> bool:
        return bool(getattr(self.adapter, "started", True))

    def defer_until(self, when: float) -> None:
        if self.next_deferred is None or when < self.next_deferred:
            self.next_deferred = when
