"""The APScheduler driver. Reminders live in the record; the scheduler only wakes the dispatcher.

Jobs are module-level functions (APScheduler 3 needs that for any persistent store, and it keeps
the job list readable). The job store is in memory: each process schedules its own wake-ups, and
nothing is lost on restart because what is due is read from the reminder rows.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler

if TYPE_CHECKING:
    from bot.app import CareBot

log = logging.getLogger(__name__)

WAKE_SECONDS = 20


async def wake_dispatcher(carebot: CareBot) -> int:
    """Queue due reminders and raise what waited too long, then let the outbox deliver;
    returns how many messages were queued."""
    queued = 0
    try:
        queued += await carebot.reminders.run_due()
    except Exception:  # noqa: BLE001 - the next wake tries again; nothing is marked sent
        log.exception("reminder dispatch failed")
    try:
        queued += await carebot.watch.run_due()
    except Exception:  # noqa: BLE001 - the next wake tries again
        log.exception("staff watch failed")
    if queued:
        log.info("wake-up queued=%d messages", queued)
        carebot.outbox.wake()
    return queued


async def forget_old_events(carebot: CareBot) -> None:
    """Drop inbound event ids older than a week (Telegram restarts update ids after a week)."""
    await carebot.forget_events_before(carebot.clock.now() - timedelta(days=7))


async def _wake(carebot: CareBot, busy: asyncio.Lock) -> None:
    async with busy:
        try:
            await wake_dispatcher(carebot)
        except asyncio.CancelledError:  # carebot is stopping (CarebotScheduler.stop)
            log.info("wake-up stopped with carebot; what it had not committed is still due")


class CarebotScheduler(AsyncIOScheduler):
    """The wake-ups; with ``wake_now`` the first comes as soon as the scheduler starts, in the
    background (a backlog after downtime is worked off while carebot already serves), and never
    overlaps the next (one instance at a time)."""

    def __init__(self, carebot: CareBot, *, wake_now: bool = False) -> None:
        super().__init__(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        )
        self.busy = asyncio.Lock()  # held by the wake-up under way
        first = {"next_run_time": datetime.now(UTC)} if wake_now else {}
        self.add_job(
            _wake, "interval", seconds=WAKE_SECONDS, args=[carebot, self.busy], id="reminders",
            **first,
        )  # fmt: skip
        self.add_job(forget_old_events, "interval", hours=6, args=[carebot], id="forget-events")

    async def stop(self) -> None:
        """Stop; a wake-up under way is cancelled, and waited for while its open transaction
        rolls back (the record must outlive it)."""
        if self.running:
            self.shutdown(wait=False)  # APScheduler cancels the jobs under way
        async with self.busy:
            pass
