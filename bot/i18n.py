"""Babel translations: catalogs under ``locales/<lang>/LC_MESSAGES/carebot.po``.

Catalogs are compiled in memory at start-up from the ``.po`` files (no compiled ``.mo`` files to
keep in step). Rendering takes the recipient's language explicitly; nothing is installed
process-wide.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, format_skeleton, format_time
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

from handlers.core.texts import DEFAULT_LANGUAGE, Msg, Plural, When, Words, normalize_language

DOMAIN = "carebot"


def catalog_path(language: str) -> Any:
    return resources.files("locales") / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_catalog(language: str) -> Catalog:
    with catalog_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def compile_catalog(catalog: Catalog) -> Translations:
    """Compile a catalog to gettext translations in memory."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer, domain=DOMAIN)


def _plain_spaces(text: str) -> str:
    # CLDR puts narrow no-break spaces in times ("3:30\u202fPM"); chat apps and SMS want plain ones.
    return text.replace("\u202f", " ").replace("\u00a0", " ")


class BabelTranslator:
    """Renders :class:`Msg` values with gettext catalogs and Babel date formats."""

    def __init__(self, languages: tuple[str, ...] = ("en", "es")) -> None:
        self._translations = {lang: compile_catalog(load_catalog(lang)) for lang in languages}
        # Babel loads a locale's data (a pickle) on its first date: 20-70 ms, once. Paid here,
        # at start-up, not inside the first reminder's transaction.
        sample = When(datetime(2026, 1, 1, tzinfo=UTC))
        for lang in languages:
            for style in STYLES:
                format_when(replace(sample, style=style), lang, "UTC")

    def languages(self) -> tuple[str, ...]:
        return tuple(self._translations)

    def render(self, msg: Msg, language: str, timezone: str) -> str:
        lang = normalize_language(language)
        text = self.text(msg, lang)
        if not msg.params:
            return text
        values = {key: self._value(value, lang, timezone) for key, value in msg.params.items()}
        return text.format(**values)

    def text(self, msg: Msg, language: str) -> str:
        """The message's text in ``language``, placeholders unfilled (the plural form for its
        count, by the catalog's own rule)."""
        lang = normalize_language(language)
        translations = self._translations.get(lang) or self._translations[DEFAULT_LANGUAGE]
        if isinstance(msg, Plural):
            return translations.ngettext(msg.msgid, msg.plural, msg.count)
        return translations.gettext(msg.msgid) if msg.msgid else ""

    def words(self, language: str, timezone: str) -> Words:
        """A reader's language, for localizing content (staff texts)."""
        return BabelWords(self, normalize_language(language), timezone)

    def _value(self, value: object, language: str, timezone: str) -> object:
        if isinstance(value, Msg):
            return self.render(value, language, timezone)
        if isinstance(value, When):
            return _plain_spaces(format_when(value, language, timezone))
        return value


@dataclass(frozen=True)
class BabelWords:
    translator: BabelTranslator
    language: str
    timezone: str

    def text(self, msg: Msg) -> str:
        return self.translator.text(msg, self.language)

    def moment(self, when: When) -> str:
        return _plain_spaces(format_when(when, self.language, self.timezone))


#: Every style of :class:`When`.
STYLES = ("date", "short-date", "time", "datetime", "staff-date", "staff-datetime")

#: Staff lists' compact day (and time): "Tue Nov 24, 3:30 PM" / "mar 24 nov, 15:30".
_STAFF_PATTERNS = {
    "en": ("EEE MMM d", "h:mm a"),
    "es": ("EEE d MMM", "H:mm"),
}


def format_when(when: When, language: str, timezone: str) -> str:
    """A date ("Tuesday, November 24" / "martes, 24 de noviembre") or time ("3:30 PM" / "15:30")."""
    zone = ZoneInfo(timezone)
    if when.style in ("staff-date", "staff-datetime"):
        return _staff_when(when.instant.astimezone(zone), language, when.style)
    if when.style == "date":
        return format_datetime(
            when.instant, _long_day_pattern(language), tzinfo=zone, locale=language
        )
    if when.style == "short-date":
        return format_skeleton("MMMEd", when.instant, tzinfo=zone, locale=language)
    if when.style == "time":
        return format_time(when.instant, "short", tzinfo=zone, locale=language)
    return format_datetime(when.instant, "medium", tzinfo=zone, locale=language)


@lru_cache(maxsize=4096)
def _staff_when(local: datetime, language: str, style: str) -> str:
    day, clock = _STAFF_PATTERNS.get(language) or _STAFF_PATTERNS[DEFAULT_LANGUAGE]
    pattern = day if style == "staff-date" else f"{day}, {clock}"
    return str(format_datetime(local, pattern, locale=language))


@cache
def _long_day_pattern(language: str) -> str:
    """The locale's weekday-month-day pattern (MMMMEd, else MMMEd) with full names, no year.

    CLDR offers "Thu, Nov 26" / "jue, 26 nov" for that skeleton; widening its fields keeps each
    language's own order and words: "Thursday, November 26" / "jueves, 26 de noviembre".
    """
    skeletons = Locale.parse(language).datetime_skeletons
    pattern = (skeletons.get("MMMMEd") or skeletons["MMMEd"]).pattern
    pattern = re.sub(r"(?<!E)E{1,3}(?!E)", "EEEE", pattern)
    return re.sub(r"(?<!M)M{3}(?!M)", "MMMM", pattern)
