"""handlers/ and storage/ stay platform-neutral: no platform SDK is imported there."""

from __future__ import annotations

import ast
import re
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


#: Platform markup a string in handlers/ or storage/ must not hold: Slack's mentions and
#: broadcasts, its link and emoji syntax, mrkdwn emphasis and code spans, HTML tags.
MARKUP = re.compile(
    r"<[@!#](?:[A-Za-z0-9]|$)"  # <@U123>, <!here>, <#C123>, f"<@{user}>"
    r"|<https?://"  # <https://x|label>
    r"|(?<![\w:]):(?!memory:)[a-z](?:[a-z0-9_+-]*[a-z0-9])?:(?![\w:])"  # :x:, not :memory:
    r"|(?<![\w*])\*[A-Za-z{][^*\n]*[^\s*]\*(?![\w*])"  # *bold*
    r"|(?<![\w_])_[A-Z][^_\n]*[^\s_]_(?![\w_])"  # _Italic words_
    r"|`[^`\n]+`"  # `code`
    r"|</?(?:b|i|a|em|strong|code|pre|br)\b"  # HTML
)


def literal_strings(path: Path) -> list[tuple[int, str]]:
    """The string literals of a module that are not docstrings (f-strings' literal parts too)."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return sorted(
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    )


def markup_in(path: Path) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line}: {MARKUP.search(text).group(0)!r}"  # type: ignore[union-attr]
        for line, text in literal_strings(path)
        if MARKUP.search(text)
    ]


def test_handlers_and_storage_write_no_platform_markup() -> None:
    """Handlers emit content (handlers/core/content.py); each channel's renderer writes it."""
    offenders = [
        found
        for package in LOWER_LAYERS
        for path in sorted((ROOT / package).rglob("*.py"))
        for found in markup_in(path)
    ]
    assert offenders == []


def test_the_markup_check_finds_markup_when_there_is_some(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        '"""A docstring may say *this* and `that`."""\n'
        'A = ":rotating_light: *Possible emergency* <!here>"\n'
        'B = f"<@{user}> said :x:"\n'
        'C = "_Reply in this thread._"\n'
        'D = "Run `/carebot today`"\n'
        'E = "at 10:30, SELECT * FROM message WHERE a = b * c; snake_case_name; 2 * 3"\n'
    )
    found = [
        MARKUP.search(text).group(0)  # type: ignore[union-attr]
        for _line, text in literal_strings(sample)
        if MARKUP.search(text)
    ]
    assert found == [":rotating_light:", "<@", ":x:", "_Reply in this thread._", "`/carebot today`"]
