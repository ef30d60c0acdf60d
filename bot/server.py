"""Serving carebot: the port first, then the record and the channels, then the endpoints.

Start-up fails fast and plainly: the port is bound before anything starts (a port in use is one
line and exit 2, with nothing sent), the record is opened, then the channels start (one that
refuses its credentials stops start-up; one that cannot be reached is retried in the
background). SIGTERM and SIGINT stop accepting requests, let the outbox record the chunk in
flight, and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Generator

import uvicorn

from bot.channels.starting import StartupFailed
from bot.config import Settings
from bot.lifecycle import Running, running
from storage.clock import Clock, SystemClock
from storage.db import Database

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, leaving signals to :func:`serve` (uvicorn re-raises a caught SIGTERM after
    shutting down, which made ``carebot run`` exit 143 instead of 0)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts.

    Raises:
        StartupFailed: the address is in use or cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise StartupFailed(
            f"CAREBOT_HTTP__HOST: {host!r} is not an address here ({error})"
        ) from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise StartupFailed(
            f"CAREBOT_HTTP__PORT: cannot listen on {host}:{port} ({error.strerror or error})"
        ) from None
    sock.setblocking(False)
    return sock


async def serve(
    settings: Settings, clock: Clock | None = None, *, stop: asyncio.Event | None = None
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): bind, open the record, start, serve, drain.

    Raises:
        StartupFailed, DatabaseUnusable, StartRefused, ConfigError: one line each.
    """
    clock = clock or SystemClock()
    stop = stop or asyncio.Event()
    sock = bind(settings.http.host, settings.http.port)
    try:
        db = await Database.open(settings.database)
        try:
            await _run(settings, db, clock, sock, stop)
        finally:
            await db.close()
    finally:
        sock.close()


async def _run(
    settings: Settings, db: Database, clock: Clock, sock: socket.socket, stop: asyncio.Event
) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        # The scheduler's first wake-up at once, while the endpoints already answer.
        async with running(settings, db, clock, wake_now=True) as bot:
            await _serve(bot, sock, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _serve(bot: Running, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve the started bot's endpoints on ``sock`` until ``stop``, then drain."""
    config = uvicorn.Config(bot.web, lifespan="off", log_level="warning", access_log=False)
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    host, port = sock.getsockname()[:2]
    channels = ", ".join(f"{k}: {v}" for k, v in bot.carebot.channel_health().items())
    print(f"carebot: serving on http://{host}:{port}/ ({channels})", file=sys.stderr)
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    server.should_exit = True
    await serving
    log.info("stopping: the outbox records what is in flight")
