"""Run an ASGI app with uvicorn inside the current event loop, on a free local port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator
from typing import Literal

import uvicorn
from starlette.types import ASGIApp


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host and reports startup."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        """Install no signal handlers: Ctrl-C belongs to the test runner or sandbox CLI."""
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start up, turning uvicorn's ``sys.exit`` on failure into an ordinary exception."""
        try:
            await super().startup(sockets=sockets)
        except SystemExit as exc:
            raise RuntimeError(f"uvicorn failed to start (exit code {exc.code})") from None
        finally:
            self.ready.set()


@contextlib.asynccontextmanager
async def serve_app(
    app: ASGIApp,
    *,
    lifespan: Literal["auto", "on", "off"] = "off",
    graceful_timeout: int = 5,
    keep_alive: int = 5,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port unless ``port`` is given) for the duration of
    the ``async with``.

    Yields the root URL, e.g. ``http://127.0.0.1:54321``. On exit the server stops accepting
    connections and waits up to ``graceful_timeout`` seconds for in-flight requests (such as a
    getUpdates long poll) before cancelling them.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan=lifespan,
        timeout_graceful_shutdown=graceful_timeout,
        timeout_keep_alive=keep_alive,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="serve_app")
    try:
        ready = asyncio.create_task(server.ready.wait())
        try:
            await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)
        if not server.started:
            raise RuntimeError("uvicorn stopped before it started")
        bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
        if ":" in bound_host:
            bound_host = f"[{bound_host}]"
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        await task  # re-raises a startup failure, if that is why we stopped
