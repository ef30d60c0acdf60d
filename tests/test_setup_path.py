"""The README's "Setting up a practice", followed line by line as a newcomer would.

The shell block is read from the README itself (so the test and the page cannot drift apart),
run in a fresh folder holding a copy of ``examples/``, each ``carebot`` line as a real process,
and every command's exit code and output checked.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
from pathlib import Path

from handlers.records.imports import KINDS

ROOT = Path(__file__).resolve().parents[1]


def setup_block() -> list[str]:
    """The lines of the shell block under the README's "Setting up a practice"."""
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("## Setting up a practice\n", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


async def run(env: dict[str, str], cwd: Path, args: list[str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env, cwd=cwd,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_the_readme_setup_works_as_written_with_the_shipped_examples(
    tmp_path: Path,
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_")}
    results: dict[str, tuple[int, str, str]] = {}
    for line in setup_block():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            env.update(word.split("=", 1) for word in words[1:])  # type: ignore[misc]
            continue
        assert words[0] == "carebot", f"the setup block runs only carebot: {line}"
        results[" ".join(words[1:3])] = await run(env, tmp_path, words[1:])

    imports = [f"import {kind}" for kind in KINDS]
    assert list(results) == [*imports, "invite g-100", "practice", "check"]  # the documented order
    for command in imports:
        code, out, err = results[command]
        assert code == 0, (command, err)
        assert "imported" in out, (command, out)
    code, out, err = results["invite g-100"]
    assert code == 0, err
    assert out.strip().startswith("https://t.me/BrightStepsBot?start=")
    code, out, err = results["practice"]
    assert code == 0, err
    assert "Bright Steps Therapy" in out and "America/New_York" in out
    code, out, err = results["check"]
    assert code == 2  # as the README says: no channel is set up yet
    assert "practice: Bright Steps Therapy (America/New_York)" in out
    assert "telegram: not configured: needs CAREBOT_TELEGRAM__TOKEN" in out
    assert (
        err.strip() == "carebot: not ready: missing a channel that is ready (each is listed above)"
    )
    assert (tmp_path / "carebot.db").exists()  # the database the block named, in its folder


def test_interface_md_lists_the_columns_the_import_takes() -> None:
    """INTERFACE.md is the project's own reference: its CSV columns are the import's."""
    from handlers.records.columns import columns_described

    text = (ROOT / "INTERFACE.md").read_text("utf-8")
    for kind in KINDS:
        assert f"- {columns_described(kind)}\n" in text, kind


def test_every_example_file_has_the_columns_of_its_kind() -> None:
    from handlers.records.imports import COLUMNS

    for kind in KINDS:
        header = (ROOT / "examples" / f"{kind}.csv").read_text("utf-8").splitlines()[0]
        assert tuple(header.split(",")) == COLUMNS[kind], kind
