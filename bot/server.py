"""Serving carebot: the web app under uvicorn, with the bot and scheduler in its lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from bot.app import CareBot
from bot.config import Settings
from bot.scheduler import build_scheduler, wake_dispatcher
from bot.web import build_web
from storage.clock import Clock, SystemClock
from storage.db import Database


async def serve(settings: Settings, clock: Clock | None = None) -> None:
    """Run until interrupted: open the record, start the channels, serve the endpoints."""
    clock = clock or SystemClock()
    db = await Database.open(settings.database)
    carebot = CareBot(settings, db, clock)
    web = build_web(carebot)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await carebot.start()
        scheduler = build_scheduler(carebot)
        scheduler.start()
        await wake_dispatcher(carebot)
        try:
            yield
        finally:
            scheduler.shutdown(wait=False)
            await carebot.stop()
            await db.close()

    web.router.lifespan_context = lifespan
    config = uvicorn.Config(
        web,
        host=settings.http.host,
        port=settings.http.port,
        lifespan="on",
        log_level="info",
        access_log=False,
    )
    await uvicorn.Server(config).serve()
