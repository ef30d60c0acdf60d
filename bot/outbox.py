"""Durable delivery: every outbound message is a row first, then sent, then marked.

The outbox sends what is queued and due, respecting each channel's rate limits (overall and per
address), waits out a platform's ``retry_after``, retries network errors with backoff, and stops
writing to an address whose owner blocked us. Status changes of one round commit together.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.channels.base import (
    ChannelAdapter,
    PermanentFailure,
    RecipientOptedOut,
    RecipientUnreachable,
    RetryLater,
    TemporaryFailure,
)
from storage.clock import Clock, from_db
from storage.db import Database
from storage.models import OutboundMessage
from storage.record import Record

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 600
CONCURRENT_SENDS = 8


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0


@dataclass
class _ChannelPace:
    """Sends of one channel in the last second, per-address last send, and any pause."""

    recent: deque[datetime] = field(default_factory=deque)
    last_to: dict[str, datetime] = field(default_factory=dict)
    paused_until: datetime | None = None


@dataclass
class _Result:
    message: OutboundMessage
    provider_id: str | None = None
    error: Exception | None = None
    waiting: bool = False


class Outbox:
    """Sends queued messages through the channel adapters."""

    def __init__(
        self, db: Database, clock: Clock, adapters: Mapping[str, ChannelAdapter], batch: int = 200
    ) -> None:
        self._db = db
        self._clock = clock
        self._adapters = dict(adapters)
        self._batch = batch
        self._pace: dict[str, _ChannelPace] = {name: _ChannelPace() for name in self._adapters}
        self._wake = asyncio.Event()
        self._stopping = False
        self._next_deferred: datetime | None = None
        self.totals = DeliveryReport()

    def add_adapter(self, adapter: ChannelAdapter) -> None:
        self._adapters[adapter.name] = adapter
        self._pace[adapter.name] = _ChannelPace()

    def wake(self) -> None:
        """Something was queued: deliver it without waiting for the next round."""
        self._wake.set()

    async def deliver_due(self) -> DeliveryReport:
        """One round: send what is due and allowed now, then record every outcome at once."""
        now = self._clock.now()
        async with self._db.query() as conn:
            due = await Record(conn).messages.due(now, self._batch)
        report = DeliveryReport()
        self._next_deferred = None
        per_address: dict[tuple[str, str], list[OutboundMessage]] = {}
        for message in due:
            if message.channel not in self._adapters or self._admit(message, now):
                per_address.setdefault((message.channel, message.address), []).append(message)
            else:
                report.deferred += 1
        if not per_address:
            return report
        gate = asyncio.Semaphore(CONCURRENT_SENDS)
        batches = await asyncio.gather(
            *(self._send_in_order(messages, gate) for messages in per_address.values())
        )
        await self._record([r for batch in batches for r in batch], now, report)
        for name in ("sent", "retried", "failed", "deferred"):
            setattr(self.totals, name, getattr(self.totals, name) + getattr(report, name))
        return report

    def _admit(self, message: OutboundMessage, now: datetime) -> bool:
        """Whether the channel's limits let this message go now; else note when they will."""
        adapter = self._adapters[message.channel]
        pace = self._pace[message.channel]
        window = timedelta(seconds=1)
        while pace.recent and now - pace.recent[0] >= window:
            pace.recent.popleft()
        ready_at = now
        if pace.paused_until and pace.paused_until > now:
            ready_at = pace.paused_until
        last = pace.last_to.get(message.address)
        interval = timedelta(seconds=adapter.limits.per_address_interval)
        if last is not None and interval and last + interval > ready_at:
            ready_at = last + interval
        if len(pace.recent) >= adapter.limits.max_per_second:
            ready_at = max(ready_at, pace.recent[0] + window)
        if ready_at > now:
            if self._next_deferred is None or ready_at < self._next_deferred:
                self._next_deferred = ready_at
            return False
        pace.recent.append(now)
        pace.last_to[message.address] = now
        return True

    async def _send_in_order(
        self, messages: list[OutboundMessage], gate: asyncio.Semaphore
    ) -> list[_Result]:
        results = []
        sent_here: dict[int, str] = {}
        async with gate:
            for message in messages:
                adapter = self._adapters.get(message.channel)
                if adapter is None:
                    results.append(_Result(message, error=PermanentFailure("channel not running")))
                    continue
                if message.thread_message_id is not None and message.thread_provider_id is None:
                    root = sent_here.get(message.thread_message_id)
                    if root is None:
                        # The thread's first message is not out yet: this one waits for it.
                        results.append(_Result(message, waiting=True))
                        break
                    message = message.model_copy(update={"thread_provider_id": root})
                try:
                    provider_id = await adapter.send(message)
                    sent_here[message.id] = provider_id
                    results.append(_Result(message, provider_id=provider_id))
                except (RetryLater, TemporaryFailure, RecipientUnreachable, PermanentFailure) as e:
                    results.append(_Result(message, error=e))
                    if not isinstance(e, PermanentFailure):
                        break  # keep this address's order: the rest wait for the next round
                except Exception as e:  # noqa: BLE001 - an adapter bug must not lose the message
                    log.exception("adapter %s raised on message %d", message.channel, message.id)
                    results.append(_Result(message, error=TemporaryFailure(type(e).__name__)))
                    break
        return results

    async def _record(self, results: list[_Result], now: datetime, report: DeliveryReport) -> None:
        sent = [(r.message.id, r.provider_id) for r in results if r.provider_id is not None]
        async with self._db.transaction() as conn:
            record = Record(conn)
            await record.messages.mark_all_sent(sent, now)
            waiting = [r.message.id for r in results if r.waiting]
            if waiting:
                await record.messages.postpone(waiting, now + timedelta(seconds=1))
            report.sent += len(sent)
            for result in results:
                message, error = result.message, result.error
                if error is None:
                    if result.waiting:
                        report.deferred += 1
                    continue
                if isinstance(error, RetryLater):
                    until = now + timedelta(seconds=max(error.retry_after, 1))
                    self._pace[message.channel].paused_until = until
                    await record.messages.retry_later(message.id, until, "rate limited")
                    log.warning("message %d rate limited, retry at %s", message.id, until)
                    report.retried += 1
                elif isinstance(error, TemporaryFailure) and message.attempts + 1 < MAX_ATTEMPTS:
                    delay = min(2 ** (message.attempts + 1), MAX_BACKOFF_SECONDS)
                    await record.messages.retry_later(
                        message.id, now + timedelta(seconds=delay), str(error)[:200]
                    )
                    log.warning("message %d failed (%s), retry in %ds", message.id, error, delay)
                    report.retried += 1
                elif isinstance(error, RecipientUnreachable):
                    opted_out = isinstance(error, RecipientOptedOut)
                    why = "recipient opted out" if opted_out else "recipient blocked the bot"
                    if opted_out:
                        await record.identities.opt_out_address(
                            message.channel, message.address, now
                        )
                    else:
                        await record.identities.mark_blocked(message.channel, message.address, now)
                    await record.messages.mark_failed(message.id, why)
                    others = await record.messages.fail_queued_to(
                        message.channel, message.address, why
                    )
                    await record.audit.record(
                        actor_type="system",
                        actor_id="outbox",
                        action="identity.opted_out" if opted_out else "identity.blocked",
                        entity_type="message",
                        entity_id=str(message.id),
                        now=now,
                    )
                    log.warning("message %d: %s (%d more failed)", message.id, why, others)
                    report.failed += 1 + others
                else:
                    await record.messages.mark_failed(message.id, str(error)[:200])
                    log.error("message %d failed for good: %s", message.id, error)
                    report.failed += 1

    async def next_wake_in(self) -> float:
        """Seconds until something queued becomes due (at most a minute)."""
        now = self._clock.now()
        async with self._db.query() as conn:
            text = await Record(conn).messages.next_due_at()
        candidates = [from_db(text)] if text else []
        if self._next_deferred:
            candidates.append(self._next_deferred)
        if not candidates:
            return 60.0
        return min(max((min(candidates) - now).total_seconds(), 0.05), 60.0)

    async def run(self) -> None:
        """Deliver until :meth:`stop`; sleeps until the next due message or a wake-up."""
        while not self._stopping:
            self._wake.clear()
            try:
                await self.deliver_due()
                if self._wake.is_set():
                    continue  # more was queued while sending: go again at once
                timeout = await self.next_wake_in()
            except Exception:  # noqa: BLE001 - the loop must outlive one bad round
                log.exception("outbox round failed")
                timeout = 5.0
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            waker = asyncio.ensure_future(self._wake.wait())
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            for task in (sleeper, waker):
                task.cancel()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
