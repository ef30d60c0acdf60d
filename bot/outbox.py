"""Durable delivery: every outbound message is a row first, then sent, then marked.

Each channel is read and paced on its own (a backlog of Slack posts never delays a family's
Telegram reply). A channel's round takes the first queued message of each address (so an
address's messages keep their order) and keeps up to ``in_flight`` of them at the platform at
once, as the channel's limits allow (bot/outbox_pace.py). Each turn of a round is one
transaction, in one trip to the database: the outcomes of the sends that were answered, and the
next messages marked ``sending``, committed *before* any of those are sent. So at most
``in_flight`` rows of a channel are ever ``sending``, and an answer frees its place at once.

After a crash, a row still ``sending`` may or may not have reached the platform: at start it
becomes ``unknown`` and is resolved (bot/outbox_recovery.py): looked up where the provider can
say (Twilio), else sent again and flagged ``recovery = 'resent'``: a family may get it twice,
never zero times. At most ``in_flight`` messages per channel can be in that state.

A 429 pauses the channel for exactly the platform's ``retry_after`` (none given: 1 s, doubling
while 429s continue); other outcomes are bot/outbox_outcomes.py's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from math import inf

from bot.channels.base import (
    ChannelAdapter,
    DeliveryError,
    LooksUpSent,
    PermanentFailure,
    TemporaryFailure,
)
from bot.metrics import Metrics
from bot.outbox_outcomes import DeliveryTally, Final, SendResult, record_final, settlement
from bot.outbox_pace import Pace, PacedChannel, pace_clock
from bot.outbox_recovery import RecoveryReport, recover
from storage.clock import Clock
from storage.db import Database
from storage.models import OutboundMessage
from storage.outbox import Settlement, settle
from storage.record import Record

log = logging.getLogger(__name__)

#: Messages of one channel between ``sending`` and their outcome, at most.
DEFAULT_IN_FLIGHT = 8
#: Heads (first queued message of an address) read at a time by a round of a channel.
ROUND_SIZE = 100
#: Reads of heads in one round at most (then the round ends and the queue's gauges update).
ROUND_READS = 10
#: How often messages queued for a channel that is not configured are failed.
SWEEP_SECONDS = 60.0
#: The longest a channel's loop sleeps with nothing due (a wake() cuts it short).
IDLE_SECONDS = 60.0

#: Told, inside the transaction that failed them, of messages that failed for good.
OnFailed = Callable[[Record, list[int], datetime], Awaitable[int]]


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
        metrics: Metrics | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._tick = pace_clock(clock)
        self._channels: dict[str, PacedChannel] = {}
        for adapter in adapters.values():
            self.add_adapter(adapter)
        self._in_flight = max(1, in_flight)
        self._batch = max(1, self._in_flight // 2)
        self._round_size = round_size
        self._on_failed = on_failed
        self._metrics = metrics or Metrics()
        self._stopping = False
        self._stopped = asyncio.Event()
        self.totals = DeliveryTally()

    def add_adapter(self, adapter: ChannelAdapter) -> None:
        self._channels[adapter.name] = PacedChannel(adapter, Pace(adapter.limits))

    def wake(self) -> None:
        """Something was queued (or a channel came up): deliver without waiting."""
        for channel in self._channels.values():
            channel.wake.set()

    async def recover(self) -> RecoveryReport:
        """Resolve what a previous process left ``sending`` (bot/outbox_recovery.py)."""
        finders = {
            name: channel.adapter
            for name, channel in self._channels.items()
            if isinstance(channel.adapter, LooksUpSent) and channel.ready
        }
        return await recover(
            self._db, self._clock, finders, self._metrics.count_outbound, self._round_size
        )

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

    async def deliver_due(self) -> DeliveryTally:
        """One round of every channel (each on its own reading and pace)."""
        report = DeliveryTally()
        report.failed += await self.fail_unrouted()
        for name in list(self._channels):
            report.add(await self.deliver_channel(name))
        return report

    async def deliver_channel(self, name: str) -> DeliveryTally:
        """One round of one channel: send what is due and allowed now, up to ``in_flight`` at
        once; each send that finishes lets the next one go (when the limits allow it then).
        Ends when nothing more may go now; never waits for the pace (the loop does)."""
        channel = self._channels[name]
        report = DeliveryTally()
        channel.next_deferred = None
        if not channel.ready:
            return report
        touched: set[str] = set()  # addresses this round has read: their next message waits
        due, full = await self._heads(name, touched)
        reads = 1
        running: set[asyncio.Task[None]] = set()
        at_platform: dict[int, OutboundMessage] = {}  # sent, their answers not yet looked at
        answers: list[SendResult] = []  # sends answered since the pump last looked
        answered = asyncio.Event()

        async def send(message: OutboundMessage) -> None:
            try:
                result = await self._send_one(channel, message)
                result.answered_at = self._tick()  # its place in the window counts from here
                answers.append(result)
            finally:
                answered.set()

        turn, final = Settlement(), list[Final]()  # what the next turn writes
        try:
            while True:
                admitted: list[OutboundMessage] = []
                if not self._stopping:
                    room = self._in_flight - len(at_platform)  # answered ones count till recorded
                    admitted = self._admit(channel, due, room, turn, report)
                if admitted or turn or final:
                    turn.start = [m.id for m in admitted]
                    try:
                        going = await self._turn(channel, turn, final, admitted)
                    except BaseException:
                        for message in admitted:
                            channel.pace.give_back(message.address)
                        raise
                    turn, final = Settlement(), []
                    for message in going:
                        at_platform[message.id] = message
                        task = asyncio.create_task(send(message))
                        running.add(task)
                        task.add_done_callback(running.discard)
                if not due and full and reads < ROUND_READS and not self._stopping:
                    # Read on while sends are out, rather than let them all finish first.
                    due, full = await self._heads(name, touched)
                    reads += 1
                    if due:
                        continue
                if not answers and not running:
                    break
                await self._gather_answers(answers, at_platform, answered)
                for result in answers:
                    del at_platform[result.message.id]
                    channel.pace.answered(result.message.address, result.answered_at)
                final += settlement(  # on the pace at once: a 429 pauses what is admitted next
                    answers, turn, channel.pace, self._clock.now(), report,
                    self._metrics.count_rate_limited,
                )  # fmt: skip
                answers.clear()
        finally:  # a failed turn or a cancelled stop: what is in flight stays `sending` (unknown)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
            for message in at_platform.values():
                channel.pace.answered(message.address, self._tick())
        report.deferred += len(due)
        self.totals.add(report)
        for outcome in ("sent", "retried", "failed"):
            self._metrics.count_outbound(name, outcome, getattr(report, outcome))
        await self._look_at_queue(channel)
        return report

    async def _gather_answers(
        self,
        answers: list[SendResult],
        at_platform: dict[int, OutboundMessage],
        answered: asyncio.Event,
    ) -> None:
        """Wait until half the sends out have answered (all, if fewer are out): one turn then
        records them together, since a commit costs CPU like a send does, and a slow send
        holds back no more than the other half."""
        while len(answers) < min(self._batch, len(at_platform)):
            answered.clear()
            await answered.wait()
        answered.clear()

    async def _heads(self, name: str, touched: set[str]) -> tuple[deque[OutboundMessage], bool]:
        """The next heads (one per address, oldest first) at addresses this round has not read
        yet, and whether the page was full (more may be due)."""
        async with self._db.query() as conn:
            heads = await Record(conn).outbox.due(name, self._clock.now(), self._round_size)
        fresh = deque(m for m in heads if m.address not in touched)
        touched.update(m.address for m in heads)
        return fresh, len(heads) == self._round_size

    def _admit(
        self,
        channel: PacedChannel,
        due: deque[OutboundMessage],
        room: int,
        turn: Settlement,
        report: DeliveryTally,
    ) -> list[OutboundMessage]:
        """Take from ``due`` what the channel's limits let go now (at most ``room``); a message
        waiting for its thread's first post is postponed in ``turn`` (not sent).
        What only its address holds back leaves the round; what the channel holds back (the
        sliding second, a pause) stays for later in the round."""
        pace = channel.pace
        now = self._tick()
        admitted: list[OutboundMessage] = []
        while due and len(admitted) < room:
            message = due[0]
            if (message.thread_message_id is not None and message.thread_provider_id is None) or (
                message.edits_message_id is not None
                and message.edits_provider_id is None
                and message.edits_status != "failed"
            ):  # the thread's first post, or the message this one changes, is not out yet
                turn.postponed.append(due.popleft().id)
                report.deferred += 1
                continue
            ready_at = pace.channel_ready_at(now)
            if ready_at > now:
                if ready_at < inf:  # else a send at the platform frees the place when answered
                    channel.defer_until(ready_at)
                break
            ready_at = pace.address_ready_at(message.address, now)
            if ready_at > now:
                channel.defer_until(ready_at)
                due.popleft()
                report.deferred += 1
                continue
            pace.take(message.address)
            admitted.append(due.popleft())
        return admitted

    async def _turn(
        self,
        channel: PacedChannel,
        turn: Settlement,
        final: list[Final],
        admitted: list[OutboundMessage],
    ) -> list[OutboundMessage]:
        """One transaction in one trip to the database: the answers' outcomes and the admitted
        messages marked ``sending``. Returns those to send now (a STOP may have withdrawn one
        in between). Messages that end for good (rare) are recorded after, in a transaction of
        their own, through the repositories."""
        now = self._clock.now()
        turn.postpone_until = now + timedelta(seconds=1)
        started = await self._db.write(partial(settle, turn=turn, now=now))
        going = [m for m in admitted if m.id in started]
        for message in admitted:
            if message.id not in started:
                channel.pace.give_back(message.address)
        if final:
            await self._record_final(final, now)
        return going

    async def _send_one(self, channel: PacedChannel, message: OutboundMessage) -> SendResult:
        if message.edits_message_id is not None and message.edits_provider_id is None:
            # Its message never went out (it failed for good): there is nothing to change.
            return SendResult(
                message, error=PermanentFailure("the message it changes was not sent")
            )
        if message.edits_message_id is not None and not channel.adapter.capabilities.fits(
            message.body
        ):  # a message is changed in place as one: the edit of a part would lose the rest
            return SendResult(message, error=PermanentFailure("a change must fit one message"))
        refused = channel.adapter.capabilities.refuses(message.reveals)
        if refused:
            # The channel's rule, whoever queued the message: the row ends failed with the
            # reason (what it would reveal, by name), and nothing reaches the platform.
            names = ", ".join(sorted(refused))
            log.error("message %d refused on %s: reveals %s", message.id, message.channel, names)
            return SendResult(
                message, error=PermanentFailure(f"refused on {message.channel}: reveals {names}")
            )
        began = time.perf_counter()
        try:
            result = SendResult(message, sent=await channel.adapter.send(message))
        except DeliveryError as error:
            result = SendResult(message, error=error)
        except Exception as error:  # noqa: BLE001 - an adapter bug must not lose the message
            log.error(
                "adapter %s raised %s on message %d",
                message.channel,
                type(error).__name__,
                message.id,
            )
            result = SendResult(message, error=TemporaryFailure(type(error).__name__))
        self._metrics.observe_send(message.channel, time.perf_counter() - began)
        return result

    async def _record_final(self, final: list[Final], now: datetime) -> None:
        """Messages that failed for good, in a transaction of their own; their staff authors
        are told (bot/outbox_outcomes.py)."""
        async with self._db.transaction() as conn:
            record = Record(conn)
            failed = await record_final(record, final, now)
            on_failed = self._on_failed
            if failed and on_failed is not None and await on_failed(record, failed, now):
                self.wake()

    async def _look_at_queue(self, channel: PacedChannel) -> None:
        """After a round: the channel's queue depth and how long its oldest due message has
        waited (for /metrics), and when the next held message comes due (for the loop). One
        query on the index of queued messages."""
        name = channel.adapter.name
        now = self._clock.now()
        async with self._db.query() as conn:
            depth, oldest, upcoming = await Record(conn).outbox.queue_state(name, now)
        waited = max((now - oldest).total_seconds(), 0.0) if oldest and oldest <= now else 0.0
        self._metrics.set_queue(name, depth, waited)
        channel.next_due_in = (upcoming - now).total_seconds() if upcoming else None

    # -- the loop -------------------------------------------------------------------------------

    def next_wake_in(self, name: str, report: DeliveryTally) -> float:
        """Seconds until the channel's loop should look again after ``report``'s round: at once
        if the round moved anything (what came after it may be due now), else when what the
        round held back may go, or the next held message comes due; at most a minute."""
        if report.sent or report.retried or report.failed:
            return 0.0
        channel = self._channels[name]
        waits = [IDLE_SECONDS]
        if channel.next_deferred is not None:
            waits.append(channel.next_deferred - self._tick())
        if channel.next_due_in is not None:
            waits.append(channel.next_due_in)
        return max(min(waits), 0.0)

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
            timeout = IDLE_SECONDS
            try:
                if channel.ready:
                    report = await self.deliver_channel(name)
                    if channel.wake.is_set():
                        continue  # more was queued while sending: go again at once
                    timeout = self.next_wake_in(name, report)
            except Exception as error:  # noqa: BLE001 - the loop must outlive one bad round
                log.error("outbox round of %s failed (%s)", name, type(error).__name__)
                timeout = 5.0
            if timeout <= 0:
                await asyncio.sleep(0)  # let the rest of the process run between rounds
                continue
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
