"""Starting the channels: a platform that refuses carebot's credentials stops start-up with one
line naming the setting; a platform that cannot be reached is tried again with back-off while
the other channels work, and ``/healthz`` says which one is down.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.edge import describe_failure

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0


class StartRefused(Exception):
    """The platform answered and refused (a wrong token, a webhook URL it will not take): no
    retry will help. The message names the setting to fix, in one line."""


class StartupFailed(Exception):
    """Serving cannot start (the port is taken, the host unknown): one line to print."""


Start = Callable[[], Awaitable[None]]


class ChannelStarter:
    """Starts each channel once now; one that cannot be reached keeps being tried."""

    def __init__(
        self,
        on_up: Callable[[str], None],
        *,
        first_retry: float = FIRST_RETRY_SECONDS,
        max_retry: float = MAX_RETRY_SECONDS,
    ) -> None:
        self._on_up = on_up
        self._first_retry = first_retry
        self._max_retry = max_retry
        #: Each channel's state, as /healthz shows it: ``started``, ``down (why)``, ``stopped``.
        self.state: dict[str, str] = {}
        self._retrying: dict[str, asyncio.Task[None]] = {}

    async def start(self, name: str, start: Start) -> bool:
        """Try ``start`` once; if the platform is unreachable, keep trying in the background.

        Returns:
            Whether the channel is up now.

        Raises:
            StartRefused: the platform refused the configuration (start-up must stop).
        """
        try:
            await start()
        except StartRefused:
            self.state[name] = "stopped"
            raise
        except Exception as error:  # noqa: BLE001 - unreachable, timed out, 5xx: try again
            self._down(name, error)
            self._retrying[name] = asyncio.create_task(self._retry(name, start))
            return False
        self._up(name)
        return True

    def _down(self, name: str, error: BaseException) -> None:
        why = describe_failure(error)
        self.state[name] = f"down ({type(error).__name__}; retrying)"
        log.warning("%s cannot be reached (%s); carebot keeps trying", name, why)

    def _up(self, name: str) -> None:
        self.state[name] = "started"
        log.info("%s started", name)
        self._on_up(name)

    async def _retry(self, name: str, start: Start) -> None:
        delay = self._first_retry
        while True:
            await asyncio.sleep(delay)
            try:
                await start()
            except StartRefused as refused:
                self.state[name] = f"stopped (refused: {refused})"
                log.error("%s refused carebot's configuration: %s", name, refused)
                return
            except Exception as error:  # noqa: BLE001
                self._down(name, error)
                delay = min(delay * 2, self._max_retry)
                continue
            self._up(name)
            return

    async def stop(self) -> None:
        for task in self._retrying.values():
            task.cancel()
        await asyncio.gather(*self._retrying.values(), return_exceptions=True)
        self._retrying.clear()
        for name in self.state:
            self.state[name] = "stopped"
