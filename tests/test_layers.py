"""handlers/ and storage/ stay platform-neutral: no platform SDK is imported there."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_SDKS = {"telegram", "slack_bolt", "slack_sdk", "twilio"}
LOWER_LAYERS = {"handlers": {"bot"}, "storage": {"bot", "handlers"}}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_handlers_and_storage_import_no_platform_sdk() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & PLATFORM_SDKS)
        for package in LOWER_LAYERS
        for path in (ROOT / package).rglob("*.py")
        if imported_modules(path) & PLATFORM_SDKS
    }
    assert offenders == {}


def test_imports_point_down_only() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_modules(path) & upper)
        for package, upper in LOWER_LAYERS.items()
        for path in (ROOT / package).rglob("*.py")
        if imported_modules(path) & upper
    }
    assert offenders == {}


def test_the_check_sees_an_import_when_there_is_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom telegram import Bot\nfrom slack_sdk.web import WebClient\n")
    assert imported_modules(sample) & PLATFORM_SDKS == {"telegram", "slack_sdk"}
