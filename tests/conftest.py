"""Shared fixtures, and the guard that makes any connection off this machine fail."""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# PTB's future duration type, as bot/channels/telegram.py opts in (no deprecation warnings).
os.environ.setdefault("PTB_TIMEDELTA", "1")

from storage.clock import FakeClock  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.canaries import leaked  # noqa: E402

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


class NetworkBlocked(RuntimeError):
    """A test tried to reach a host other than this machine."""


def _is_local(host: Any) -> bool:
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        raise NetworkBlocked(f"test tried to connect to {address[0]}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address[0]):
        raise NetworkBlocked(f"test tried to connect to {address[0]}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local(host if not isinstance(host, bytes) else host.decode()):
        raise NetworkBlocked(f"test tried to resolve {host}")
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo


class _LogLines(logging.Handler):
    """Every log line a test produces, formatted as production formats it (tracebacks too)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is not a leak
            self.lines.append(f"{record.levelname} {record.name}: (unformattable)")


@pytest.fixture(autouse=True)
def logs_carry_no_names_numbers_or_texts() -> Iterator[_LogLines]:
    """Fails a test whose log lines (at INFO, as carebot logs in production) contain a name, a
    phone number or a message text from tests/canaries.py."""
    handler = _LogLines()
    root = logging.getLogger()
    level = root.level
    root.setLevel(min(level, logging.INFO) if level else logging.INFO)
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    found = {canary: line for line in handler.lines for canary in leaked(line)}
    if found:
        where = "; ".join(
            f"{c!r} in a line of {line.split(':', 1)[0]}" for c, line in found.items()
        )
        pytest.fail(f"log lines carry names, numbers or texts: {where}", pytrace=False)


#: A Monday morning in the demo practice's timezone (America/New_York, EST).
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "carebot.db")
    yield database
    await database.close()
