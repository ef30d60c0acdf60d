"""Durable delivery: every outbound message is a row first, then sent, then marked.

Each channel is read and paced on its own (a backlog of Slack posts never delays a family's
Telegram reply). A channel's round takes the first queued message of each address (so an
address's messages keep their order), admits what the channel's limits allow now, and sends
it in chunks of at most ``in_flight`` messages: a chunk is marked ``sending`` and committed
*before* any platform call, sent concurrently, and its outcomes committed together.

After a crash, a row still ``sending`` may or may not have reached the platform: at start it
becomes ``unknown`` and is resolved by policy. Where the provider can say (Twilio's message
list), it is looked up: found, it is marked sent and not sent again (``recovery = 'found'``).
Otherwise it is sent again and flagged ``recovery = 'resent'``: a family may get it twice,
never zero times, and the record says which messages those were. At most ``in_flight`` messages
per channel can be in that state, which bounds the duplicates a crash can cause.

A 429 pauses the channel for the platform's ``retry_after``; network and server errors are
retried with backoff; a recipient who blocked the bot or opted out is written to no more.
A message that fails for good and was written by a staff member is reported to them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.channels.base import (
    ChannelAdapter,
    DeliveryError,
    LooksUpSent,
    PartlySent,
    RecipientOptedOut,
    RecipientUnreachable,
    RetryLater,
    Sent,
    TemporaryFailure,
)
from bot.outbox_recovery import CountOutcome, RecoveryReport, recover
from storage.clock import Clock, from_db
from storage.db import Database
from storage.models import OutboundMessage
from storage.record import Record

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 600
#: Messages of one channel between ``sending`` and their outcome, at most.
DEFAULT_IN_FLIGHT = 8
#: Heads (first queued message of an address) read per round of a channel.
ROUND_SIZE = 100
#: How often messages queued for a channel that is not configured are failed.
SWEEP_SECONDS = 60.0

#: Told, inside the transaction that failed them, of messages that failed for good.
OnFailed = Callable[[Record, list[int], datetime], Awaitable[int]]


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0

    def add(self, other: DeliveryReport) -> None:
        for name in ("sent", "retried", "failed", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class _Channel:
    """One channel's adapter, pace (sends in the last second, last send per address, pause)
    and wake-up."""

    adapter: ChannelAdapter
    recent: deque[datetime] = field(default_factory=deque)
    last_to: dict[str, datetime] = field(default_factory=dict)
    paused_until: datetime | None = None
    next_deferred: datetime | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> bool:
        return bool(getattr(self.adapter, "started", True))


@dataclass
class _Result:
    message: OutboundMessage
    sent: Sent | None = None
    error: DeliveryError | None = None
    waiting: bool = False


class Outbox:
    """Sends queued messages through the channel adapters."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        adapters: Mapping[str, ChannelAdapter],
        *,
        in_flight: int = DEFAULT_IN_FLIGHT,
        round_size: int = ROUND_SIZE,
        on_failed: OnFailed | None = None,
        count: CountOutcome | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._channels = {name: _Channel(adapter) for name, adapter in adapters.items()}
        self._in_flight = max(1, in_flight)
        self._round_size = round_size
        self._on_failed = on_failed
        self._count = count or (lambda channel, outcome, n: None)
        self._stopping = False
        self._stopped = asyncio.Event()
        self.totals = DeliveryReport()

    def add_adapter(self, adapter: ChannelAdapter) -> None:
        self._channels[adapter.name] = _Channel(adapter)

    def wake(self) -> None:
        """Something was queued (or a channel came up): deliver without waiting."""
        for channel in self._channels.values():
            channel.wake.set()

    # -- after a crash ------------------------------------------------------------------------

    async def recover(self) -> RecoveryReport:
        """Resolve what a previous process left ``sending`` (bot/outbox_recovery.py)."""
        finders = {
            name: channel.adapter
            for name, channel in self._channels.items()
            if isinstance(channel.adapter, LooksUpSent) and channel.ready
        }
        return await recover(self._db, self._clock, finders, self._count, self._round_size)

    # -- delivery -----------------------------------------------------------------------------

    async def fail_unrouted(self) -> int:
        """Fail what is queued for a channel carebot does not run (staff messages to Slack in
        a practice without Slack, say): it could never go, and must not wait unseen."""
        async with self._db.transaction() as conn:
            record = Record(conn)
            failed = await record.outbox.fail_queued_elsewhere(
                list(self._channels), "channel not configured"
            )
            if failed and self._on_failed is not None:
                await self._on_failed(record, failed, self._clock.now())
        if failed:
            log.warning("outbox: %d message(s) for channels not configured failed", len(failed))
        return len(failed)

    async def deliver_due(self) -> DeliveryReport:
        """One round of every channel (each on its own reading and pace)."""
        report = DeliveryReport()
        report.failed += await self.fail_unrouted()
        for name in list(self._channels):
            report.add(await self.deliver_channel(name))
        return report

    async def deliver_channel(self, name: str) -> DeliveryReport:
        """One round of one channel: send what is due and allowed now, a chunk at a time."""
        channel = self._channels[name]
        report = DeliveryReport()
        channel.next_deferred = None
        if not channel.ready:
            return report
        async with self._db.query() as conn:
            due = deque(await Record(conn).outbox.due(name, self._clock.now(), self._round_size))
        while due and not self._stopping:
            now = self._clock.now()
            chunk: list[OutboundMessage] = []
            while due and len(chunk) < self._in_flight:
                message = due.popleft()
                if self._admit(channel, message, now):
                    chunk.append(message)
                else:
                    report.deferred += 1
            if not chunk:
                break
            results = await self._send_chunk(channel, chunk, now)
            await self._record(name, results, self._clock.now(), report)
        self.totals.add(report)
        self._count(name, "sent", report.sent)
        self._count(name, "retried", report.retried)
        self._count(name, "failed", report.failed)
        return report

    def _admit(self, channel: _Channel, message: OutboundMessage, now: datetime) -> bool:
        """Whether the channel's limits let this message go now; else note when they will."""
        limits = channel.adapter.limits
        window = timedelta(seconds=1)
        while channel.recent and now - channel.recent[0] >= window:
            channel.recent.popleft()
        ready_at = now
        if channel.paused_until and channel.paused_until > now:
            ready_at = channel.paused_until
        last = channel.last_to.get(message.address)
        interval = timedelta(seconds=limits.per_address_interval)
        if last is not None and interval and last + interval > ready_at:
            ready_at = last + interval
        if len(channel.recent) >= limits.max_per_second:
            ready_at = max(ready_at, channel.recent[0] + window)
        if ready_at > now:
            if channel.next_deferred is None or ready_at < channel.next_deferred:
                channel.next_deferred = ready_at
            return False
        channel.recent.append(now)
        channel.last_to[message.address] = now
        if len(channel.last_to) > 10_000:  # forget addresses long past their interval
            horizon = now - max(interval, window)
            channel.last_to = {a: t for a, t in channel.last_to.items() if t > horizon}
        return True

    async def _send_chunk(
        self, channel: _Channel, chunk: list[OutboundMessage], now: datetime
    ) -> list[_Result]:
        """Mark the chunk ``sending`` (committed), then send it concurrently."""
        results: list[_Result] = []
        ready: list[OutboundMessage] = []
        for message in chunk:
            if message.thread_message_id is not None and message.thread_provider_id is None:
                results.append(_Result(message, waiting=True))  # its thread's first post waits
            else:
                ready.append(message)
        async with self._db.transaction() as conn:
            started = await Record(conn).outbox.start_sending([m.id for m in ready], now)
        going = [m for m in ready if m.id in started]
        results += await asyncio.gather(*(self._send_one(channel, m) for m in going))
        return results

    async def _send_one(self, channel: _Channel, message: OutboundMessage) -> _Result:
        try:
            return _Result(message, sent=await channel.adapter.send(message))
        except DeliveryError as error:
            return _Result(message, error=error)
        except Exception as error:  # noqa: BLE001 - an adapter bug must not lose the message
            log.error(
                "adapter %s raised %s on message %d",
                message.channel,
                type(error).__name__,
                message.id,
            )
            return _Result(message, error=TemporaryFailure(type(error).__name__))

    async def _record(
        self, name: str, results: list[_Result], now: datetime, report: DeliveryReport
    ) -> None:
        channel = self._channels[name]
        failed: list[int] = []
        async with self._db.transaction() as conn:
            record = Record(conn)
            sent = [(r.message.id, r.sent.provider_id, r.sent.parts) for r in results if r.sent]
            await record.outbox.mark_all_sent(sent, now)
            report.sent += len(sent)
            waiting = [r.message.id for r in results if r.waiting]
            if waiting:
                await record.outbox.postpone(waiting, now + timedelta(seconds=1))
                report.deferred += len(waiting)
            for result in results:
                message, error = result.message, result.error
                if error is None:
                    continue
                if isinstance(error, PartlySent):
                    await record.outbox.parts_out(
                        message.id, error.parts_sent, error.first_provider_id
                    )
                    error = error.cause
                if isinstance(error, RetryLater):
                    until = now + timedelta(seconds=max(error.retry_after, 0.05))
                    channel.paused_until = max(channel.paused_until or until, until)
                    await record.outbox.retry_later(message.id, until, "rate limited")
                    log.warning("message %d rate limited, retry at %s", message.id, until)
                    report.retried += 1
                elif isinstance(error, TemporaryFailure) and message.attempts + 1 < MAX_ATTEMPTS:
                    delay = min(2 ** (message.attempts + 1), MAX_BACKOFF_SECONDS)
                    await record.outbox.retry_later(
                        message.id, now + timedelta(seconds=delay), str(error)[:200]
                    )
                    log.warning("message %d failed (%s), retry in %ds", message.id, error, delay)
                    report.retried += 1
                elif isinstance(error, RecipientUnreachable):
                    failed += await self._unreachable(record, message, error, now)
                    report.failed += 1
                else:
                    why = str(error)[:200] or type(error).__name__
                    if isinstance(error, TemporaryFailure):
                        why = f"gave up after {MAX_ATTEMPTS} attempts: {why}"
                    await record.messages.mark_failed(message.id, why)
                    log.error("message %d failed for good: %s", message.id, why)
                    failed.append(message.id)
                    report.failed += 1
            if failed and self._on_failed is not None:
                if await self._on_failed(record, failed, now):
                    self.wake()

    async def _unreachable(
        self, record: Record, message: OutboundMessage, error: DeliveryError, now: datetime
    ) -> list[int]:
        """The recipient blocked the bot or opted out: this message and everything still queued
        to them fail; the identity is marked. Returns the failed message ids."""
        opted_out = isinstance(error, RecipientOptedOut)
        why = "recipient opted out" if opted_out else "recipient blocked the bot"
        if opted_out:
            await record.identities.opt_out_address(message.channel, message.address, now)
        else:
            await record.identities.mark_blocked(message.channel, message.address, now)
        await record.messages.mark_failed(message.id, why)
        others = await record.messages.fail_queued_to(message.channel, message.address, why)
        await record.audit.record(
            actor_type="system",
            actor_id="outbox",
            action="identity.opted_out" if opted_out else "identity.blocked",
            entity_type="message",
            entity_id=str(message.id),
            now=now,
        )
        log.warning("message %d: %s (%d more failed)", message.id, why, len(others))
        return [message.id, *others]

    # -- the loop -------------------------------------------------------------------------------

    async def next_wake_in(self, name: str) -> float:
        """Seconds until something queued on a channel becomes due (at most a minute)."""
        channel = self._channels[name]
        now = self._clock.now()
        async with self._db.query() as conn:
            text = await Record(conn).outbox.next_due_at(name)
        candidates = [from_db(text)] if text else []
        if channel.next_deferred:
            candidates.append(channel.next_deferred)
        if not candidates:
            return 60.0
        return min(max((min(candidates) - now).total_seconds(), 0.02), 60.0)

    async def run(self) -> None:
        """Recover what a crash left in flight, then deliver every channel on its own until
        :meth:`stop` (a round in flight finishes first)."""
        await self.recover()
        await asyncio.gather(
            self._sweep_unrouted(), *(self._run_channel(name) for name in list(self._channels))
        )

    async def _sweep_unrouted(self) -> None:
        while not self._stopping:
            try:
                await self.fail_unrouted()
            except Exception as error:  # noqa: BLE001
                log.error("outbox sweep failed (%s)", type(error).__name__)
            sleeper = asyncio.ensure_future(self._clock.sleep(SWEEP_SECONDS))
            stopping = asyncio.ensure_future(self._stopped.wait())
            await asyncio.wait({sleeper, stopping}, return_when=asyncio.FIRST_COMPLETED)
            for task in (sleeper, stopping):
                task.cancel()

    async def _run_channel(self, name: str) -> None:
        channel = self._channels[name]
        while not self._stopping:
            channel.wake.clear()
            timeout = 60.0
            try:
                if channel.ready:
                    await self.deliver_channel(name)
                    if channel.wake.is_set():
                        continue  # more was queued while sending: go again at once
                    timeout = await self.next_wake_in(name)
            except Exception as error:  # noqa: BLE001 - the loop must outlive one bad round
                log.error("outbox round of %s failed (%s)", name, type(error).__name__)
                timeout = 5.0
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            waker = asyncio.ensure_future(channel.wake.wait())
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            for task in (sleeper, waker):
                task.cancel()

    def stop(self) -> None:
        """Stop after the chunk in flight (its outcomes are recorded first)."""
        self._stopping = True
        self._stopped.set()
        self.wake()
