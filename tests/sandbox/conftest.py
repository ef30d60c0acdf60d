"""A running sandbox on a fake clock (Monday 9:00 in the demo practice), and a way to wait for
what a person would see next without sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.sandbox.runtime import Sandbox, open_sandbox
from storage.clock import MovableClock
from tests.conftest import START


@pytest.fixture
def sandbox_clock() -> MovableClock:
    """The sandbox's own kind of clock (wall time runs; the console moves it), set to Monday
    9:00 in the practice. The outbox paces texts by this clock, so time must pass in it."""
    return MovableClock.starting_at(START)


@pytest.fixture
async def sandbox(tmp_path: Path, sandbox_clock: MovableClock) -> AsyncIterator[Sandbox]:
    async with open_sandbox(tmp_path / "sandbox.db", clock=sandbox_clock, reset=True) as running:
        yield running


async def until(sandbox: Sandbox, seen: Callable[[], bool], what: str, seconds: float = 10) -> None:
    """Wait for ``seen()`` to hold, woken by the sandbox's change notices (never polling)."""
    try:
        async with asyncio.timeout(seconds):
            version: int | None = sandbox.changes.version
            while not seen():
                version = await sandbox.changes.after(version or 0, timeout=seconds)
                if version is None:
                    raise AssertionError(f"the sandbox closed before: {what}")
    except TimeoutError:
        raise AssertionError(f"within {seconds}s: {what}") from None
