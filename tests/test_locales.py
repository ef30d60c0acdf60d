"""The translation catalogs: in step with the source, complete, compilable, and rendered right.

When a test here says the catalogs are out of date, run ``bash locales/update.sh`` and translate
the new (empty) ``msgstr`` entries in ``locales/es/LC_MESSAGES/carebot.po``.
"""

from __future__ import annotations

import ast
import io
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from string import Formatter

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from bot.i18n import BabelTranslator
from handlers.core.texts import Msg, When, _

REPO = Path(__file__).resolve().parents[1]
LOCALES = REPO / "locales"
DOMAIN = "carebot"
LANGUAGES = ("en", "es")
TRANSLATED = ("es",)  # English keeps msgstr empty: gettext falls back to the msgid.
UPDATE = "run `bash locales/update.sh` (then translate the new msgstr entries)"

# `pybabel extract -k _ -k prompt -k closing` adds those to Babel's default keywords; extract
# exactly as it does.
KEYWORDS = {**DEFAULT_KEYWORDS, "_": None, "prompt": None, "closing": None}

#: A catalog's key for a message: the msgid (singular, for plurals) and its context.
Key = tuple[str, str | None]


def _key(msgid: str | tuple[str, ...], context: str | None) -> Key:
    return (msgid if isinstance(msgid, str) else msgid[0], context)


@cache
def source_keys() -> frozenset[Key]:
    """The messages marked in the source now, extracted as `locales/update.sh` does."""
    with (REPO / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg, "babel.cfg")
    return frozenset(
        _key(message, context)
        for _file, _line, message, _comments, context in extract_from_dir(
            str(REPO), method_map, options_map, keywords=KEYWORDS
        )
    )


def po_path(language: str) -> Path:
    return LOCALES / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def catalog(language: str) -> Catalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def messages(language: str) -> list:
    return [m for m in catalog(language) if m.id]


def strings(message) -> tuple[str, ...]:
    return message.string if isinstance(message.string, tuple) else (message.string,)


def ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def describe(keys: set[Key]) -> str:
    return "\n".join(
        f"  {msgid!r}" + (f" (context {ctx!r})" if ctx else "")
        for msgid, ctx in sorted(keys, key=lambda k: (k[0], k[1] or ""))
    )


# --- (a) the catalogs hold exactly the messages in the source -------------------------------


def test_the_source_has_messages() -> None:
    assert len(source_keys()) > 10, "extraction found (almost) nothing: check babel.cfg"


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_has_every_message_in_the_source(language: str) -> None:
    missing = set(source_keys()) - {_key(m.id, m.context) for m in messages(language)}
    assert not missing, (
        f"{po_path(language).relative_to(REPO)} lacks {len(missing)} message(s) from the source;"
        f" {UPDATE}:\n{describe(missing)}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_has_no_message_the_source_dropped(language: str) -> None:
    held = {_key(m.id, m.context) for m in messages(language)}
    obsolete = (held - source_keys()) | set(catalog(language).obsolete)
    assert not obsolete, (
        f"{po_path(language).relative_to(REPO)} holds {len(obsolete)} message(s) no longer in the"
        f" source; {UPDATE}:\n{describe(obsolete)}"
    )


#: The calls that mark a message (texts.py), and where the source's messages live.
MARKERS = frozenset({"_", "prompt", "closing", "ngettext"})
SOURCE_DIRS = ("bot", "handlers", "storage")


def marked_in_code() -> set[str]:
    """Every message marked anywhere in the code, read from its syntax tree: a ``_()`` inside
    another ``_()``'s placeholders too, which Babel's extractor passes over (it would then be
    shown untranslated)."""
    found: set[str] = set()
    for folder in SOURCE_DIRS:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in MARKERS
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)
                ):
                    found.add(node.args[0].value)
    return found


def test_every_marked_message_is_extracted() -> None:
    extracted = {msgid for msgid, _context in source_keys()}
    missed = marked_in_code() - extracted
    assert not missed, (
        f"{len(missed)} message(s) marked in the code are not extracted (a marked call nested in"
        f" another's arguments? give it a name first):\n{describe({(m, None) for m in missed})}"
    )


def test_template_is_in_step_with_the_source() -> None:
    with (LOCALES / f"{DOMAIN}.pot").open("rb") as handle:
        template = read_po(handle, domain=DOMAIN)
    held = {_key(m.id, m.context) for m in template if m.id}
    assert held == source_keys(), f"locales/{DOMAIN}.pot is out of date; {UPDATE}"


# --- (b) Spanish is complete ------------------------------------------------------------------


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_message_is_translated(language: str) -> None:
    untranslated = [m.id for m in messages(language) if not all(s.strip() for s in strings(m))]
    fuzzy = [m.id for m in messages(language) if m.fuzzy]
    assert not untranslated, (
        f"{len(untranslated)} untranslated message(s) in {po_path(language).relative_to(REPO)}:\n"
        + "\n".join(f"  {msgid!r}" for msgid in untranslated)
    )
    assert not fuzzy, (
        f"{len(fuzzy)} fuzzy message(s) in {po_path(language).relative_to(REPO)} (gettext ignores"
        " them): review each and remove the `#, fuzzy` flag:\n"
        + "\n".join(f"  {msgid!r}" for msgid in fuzzy)
    )


# --- (c) every catalog compiles, with a proper header --------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_compiles(language: str) -> None:
    problems = [(m.id, errors) for m, errors in catalog(language).check()]
    assert not problems, f"{po_path(language).relative_to(REPO)} has errors: {problems}"
    buffer = io.BytesIO()
    write_mo(buffer, catalog(language))
    buffer.seek(0)
    compiled = Translations(fp=buffer, domain=DOMAIN)
    for message in messages(language):
        if message.string and not message.fuzzy and isinstance(message.id, str):
            assert compiled.gettext(message.id) == message.string


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_header(language: str) -> None:
    text = po_path(language).read_text(encoding="utf-8")
    header = text.split("\n\n", 1)[0]
    assert f'"Language: {language}\\n"' in header
    assert '"Content-Type: text/plain; charset=utf-8\\n"' in header
    assert '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' in header
    assert "#, fuzzy" not in header, "a fuzzy header makes gettext ignore the catalog's metadata"


# --- (d) translations keep placeholders, commands and line breaks ---------------------------

_COMMAND = re.compile(r"(?<![\w/])/[a-z]+\b")


def placeholders(text: str) -> set[str]:
    """The `{name}` fields of a str.format template (raises ValueError on stray braces)."""
    return {
        re.split(r"[.\[]", field, maxsplit=1)[0]
        for _literal, field, _spec, _conversion in Formatter().parse(text)
        if field is not None
    }


def specs(text: str) -> dict[str, str]:
    """Each field's format spec (``{n:,}`` -> ``,``), "" where it has none."""
    return {
        field: spec or ""
        for _literal, field, spec, _conversion in Formatter().parse(text)
        if field is not None
    }


def translated_pairs() -> list[tuple[str, str, str]]:
    return [
        (language, msgid, msgstr)
        for language in LANGUAGES
        for message in messages(language)
        for msgid, msgstr in zip(ids(message), strings(message), strict=False)
        if msgstr
    ]


@pytest.mark.parametrize(
    ("language", "msgid", "msgstr"),
    [pytest.param(*pair, id=f"{pair[0]}:{pair[1][:40]}") for pair in translated_pairs()],
)
def test_translation_keeps_placeholders_commands_and_line_breaks(
    language: str, msgid: str, msgstr: str
) -> None:
    try:
        got = placeholders(msgstr)
    except ValueError as error:
        pytest.fail(f"[{language}] bad braces in {msgstr!r}: {error}")
    assert got == placeholders(msgid), (
        f"[{language}] placeholders differ:\n  msgid  {msgid!r}\n  msgstr {msgstr!r}"
    )
    # A field's format (``{n:,}``: a count with thousands separators) stays as the source's.
    assert specs(msgstr) == specs(msgid), f"[{language}] formats differ: {msgstr!r}"
    values = {name: 1234 if specs(msgid).get(name) else "x" for name in got}
    msgstr.format(**values)  # formats with exactly the source's names
    assert sorted(_COMMAND.findall(msgstr)) == sorted(_COMMAND.findall(msgid)), (
        f"[{language}] commands must stay literal: {msgstr!r}"
    )
    assert msgstr.count("\n") == msgid.count("\n"), f"[{language}] line breaks differ: {msgstr!r}"


def test_spanish_birth_date_example_is_day_first() -> None:
    # onboarding.parse_birth_date reads Spanish numeric dates as day/month/year.
    (example,) = [m for m in messages("es") if "(month/day/year)" in m.id]
    assert "14/03/2019" in example.string and "día/mes/año" in example.string


# --- (e) rendering with localized dates and times -------------------------------------------

INSTANT = datetime(2026, 11, 24, 20, 30, tzinfo=UTC)  # 3:30 PM in New York (EST)
ZONE = "America/New_York"


def reminder() -> Msg:
    return _(
        "Hi {guardian}, this is {practice}. Reminder: {child} has an appointment on"
        " {date} at {time}.",
        guardian="Ana",
        practice="Sunny Steps Therapy",
        child="Leo",
        date=When(INSTANT, "date"),
        time=When(INSTANT, "time"),
    )


def upcoming_line() -> Msg:
    return _(
        "{child}: {date} at {time} ({state})",
        child="Leo",
        date=When(INSTANT, "date"),
        time=When(INSTANT, "time"),
        state=_("confirmed"),
    )


@pytest.fixture(scope="module")
def translator() -> BabelTranslator:
    return BabelTranslator()


def test_renders_spanish_dates_and_times(translator: BabelTranslator) -> None:
    text = translator.render(reminder(), "es", ZONE)
    assert "martes, 24 de noviembre" in text, text
    assert "15:30" in text, text
    assert "Reminder" not in text and "Leo" in text and "Ana" in text, text
    line = translator.render(upcoming_line(), "es-MX", ZONE)
    assert line.startswith("Leo: martes, 24 de noviembre") and "15:30" in line, line
    assert "(confirmada)" in line, line


def test_renders_english_dates_and_times(translator: BabelTranslator) -> None:
    text = translator.render(reminder(), "en", ZONE)
    assert "Tuesday, November 24" in text, text
    assert "3:30 PM" in text, text  # a plain space: chat apps and SMS show U+202F badly
    assert "\u202f" not in text and "\u00a0" not in text, repr(text)
    line = translator.render(upcoming_line(), "en", ZONE)
    assert line == "Leo: Tuesday, November 24 at 3:30 PM (confirmed)", repr(line)


def test_language_switch_names_the_new_language(translator: BabelTranslator) -> None:
    switched = _("Okay! I'll write to you in English from now on.")
    assert translator.render(switched, "en", ZONE) == switched.msgid
    assert translator.render(switched, "es", ZONE) == (
        "¡De acuerdo! A partir de ahora le escribiré en español."
    )
