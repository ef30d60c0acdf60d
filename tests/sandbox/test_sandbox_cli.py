"""``carebot sandbox`` and ``carebot run`` without credentials, as a person starts them."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import httpx

FIRST_LINE = re.compile(
    r"^carebot sandbox: console at (http://127\.0\.0\.1:\d+)/ \(demo practice, local emulators"
    r" of Telegram, Slack and SMS; no real platform is called\)\. Ctrl-C stops it\.$"
)


def clean_environment(tmp_path: Path, *, practice: bool = True) -> dict[str, str]:
    """No CAREBOT_ setting but (``practice``) the practice's own database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_")}
    if practice:
        env["CAREBOT_DATABASE"] = str(tmp_path / "practice.db")
    return env


async def start(
    tmp_path: Path, *args: str, practice: bool = True
) -> tuple[asyncio.subprocess.Process, list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, "--port", "0",
        "--sandbox-database", str(tmp_path / "sandbox.db"),
        env=clean_environment(tmp_path, practice=practice), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    async with asyncio.timeout(30):
        lines = [(await process.stdout.readline()).decode().rstrip("\n")]
        while lines[-1] and not lines[-1].startswith("carebot sandbox: ready"):
            lines.append((await process.stdout.readline()).decode().rstrip("\n"))
    return process, lines


async def stop(process: asyncio.subprocess.Process) -> tuple[int, str]:
    process.send_signal(signal.SIGINT)
    async with asyncio.timeout(30):
        _, stderr = await process.communicate()
    return process.returncode or 0, stderr.decode()


async def test_sandbox_says_where_its_console_is_first_and_stops_cleanly(tmp_path: Path) -> None:
    process, [first, ready] = await start(tmp_path, "sandbox", "--reset")
    try:
        match = FIRST_LINE.match(first)
        assert match, first
        assert ready == f"carebot sandbox: ready; open {match.group(1)}/ in a browser."
        async with httpx.AsyncClient(base_url=match.group(1)) as client:
            page = await client.get("/")
            assert page.status_code == 200 and "Bright Steps Therapy" in page.text
            health = await client.get("/healthz")
            assert health.json()["checks"] == {
                "database": "ok", "telegram": "started", "slack": "started", "sms": "started"
            }  # fmt: skip
    finally:
        code, stderr = await stop(process)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert (tmp_path / "sandbox.db").exists()
    assert not (tmp_path / "practice.db").exists()  # the practice's record is never touched


async def test_run_without_credentials_starts_the_sandbox_and_says_why(tmp_path: Path) -> None:
    process, [first, second, _] = await start(tmp_path, "run", practice=False)
    try:
        assert FIRST_LINE.match(first), first
        assert second.startswith("(no platform credentials are set;")
    finally:
        code, stderr = await stop(process)
    assert code == 0, stderr


async def test_run_with_a_practice_of_its_own_but_no_channel_says_so_and_exits_2(
    tmp_path: Path,
) -> None:
    """The practice's own database (or practice settings) but no channel credentials: that is
    a setup half done, not a wish for demo data, so run says what is missing and stops."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run",
        env={**clean_environment(tmp_path), "CAREBOT_PRACTICE__NAME": "Bright Steps Therapy"},
        cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    assert process.returncode == 2 and stdout == b""
    assert stderr.decode().strip() == (
        "carebot: no channel is configured (carebot check says what each needs); for the local"
        " sandbox with demo data, run carebot sandbox"
    )
    assert not (tmp_path / "practice.db").exists()  # nothing made, nothing filled with demo data


async def test_the_sandbox_refuses_the_practices_own_database(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "sandbox",
        "--sandbox-database", str(tmp_path / "practice.db"),
        env=clean_environment(tmp_path), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(30):
        stdout, stderr = await process.communicate()
    assert process.returncode == 2
    assert stdout == b""
    assert stderr.decode().strip() == (
        f"carebot: --sandbox-database: {tmp_path / 'practice.db'} is the practice's record"
        " (CAREBOT_DATABASE); the sandbox loads demo data and needs its own file"
    )
