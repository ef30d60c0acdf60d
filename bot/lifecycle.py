"""Starting and stopping the whole bot, the one way ``carebot run`` and the sandbox both use.

:func:`running` makes the bot (:class:`~bot.app.CareBot`, the composition root), its web app
(served by the caller: uvicorn for ``carebot run``, the sandbox's server with its console
routes added) and its scheduler, starts the channels, then the scheduler, and on the way out
stops them in
the reverse order: the scheduler's wake-up is cancelled and waited for (its transaction rolled
back) before the channels and the outbox stop, so nothing is sent after its outcome can no
longer be recorded.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from starlette.applications import Starlette

from bot.app import CareBot
from bot.config import Settings
from bot.scheduler import CarebotScheduler
from bot.web import build_web
from storage.clock import Clock
from storage.db import Database


@dataclass(frozen=True)
class Running:
    """A started bot: the bot itself, the app serving its endpoints, and its scheduler."""

    carebot: CareBot
    web: Starlette
    scheduler: CarebotScheduler


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    db: Database,
    clock: Clock,
    *,
    wake_now: bool = False,
) -> AsyncIterator[Running]:
    """The bot, started for the ``async with`` and stopped after it.

    Args:
        wake_now: the scheduler's first wake-up at once (``carebot run``: a backlog after
            downtime is worked off while the endpoints already answer), else at its interval.

    Raises:
        StartRefused, StartupFailed: a channel refused its credentials (nothing is left
            running).
    """
    carebot = CareBot(settings, db, clock)
    web = build_web(carebot)
    scheduler = CarebotScheduler(carebot, wake_now=wake_now)
    try:
        await carebot.start()
        scheduler.start()
        yield Running(carebot, web, scheduler)
    finally:
        await scheduler.stop()
        await carebot.stop()
