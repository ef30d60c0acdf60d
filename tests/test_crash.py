"""A real ``kill -9`` of ``carebot run`` during a fan-out, again and again: nothing is lost,
duplicates stay within the sends in flight and are all flagged, the record stays sound.
A short run of bench/crash_fanout.py (the README has the figures of the long one)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

IN_FLIGHT = 8


def crash_fanout() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "crash_fanout.py"
    spec = importlib.util.spec_from_file_location("crash_fanout", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("channel", "messages", "kills"), [("telegram", 300, 5), ("sms", 160, 4)])
async def test_kill_9_mid_fan_out_loses_nothing_and_flags_every_duplicate(
    tmp_path: Path, channel: str, messages: int, kills: int
) -> None:
    figures = await crash_fanout().run(
        messages=messages, kills=kills, in_flight=IN_FLIGHT, channel=channel, folder=tmp_path
    )
    assert figures["kills"] == kills, figures
    assert figures["lost"] == 0, figures
    assert figures["integrity"] == "ok", figures
    assert figures["every_duplicate_flagged"], figures
    assert figures["max_duplicates_per_crash"] <= IN_FLIGHT, figures
    # The kills really came mid-send: messages were in flight at some crash.
    assert figures["flagged"] + figures["found"] > 0, figures
    if channel == "sms":
        # Twilio is asked before a text is sent again: what it has is not sent twice.
        assert figures["duplicated"] == 0, figures
        assert figures["found"] > 0, figures
    assert "Traceback" not in read(figures["log"])


def read(path: str) -> str:
    return Path(path).read_text()
