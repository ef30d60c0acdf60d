"""Translatable messages. Handlers build :class:`Msg` values; the edge renders them.

``_`` marks a message for extraction (Babel's default keyword) and returns a lazy message with
its placeholders; nothing is translated until the recipient's language is known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

SUPPORTED_LANGUAGES = ("en", "es")
DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class When:
    """An instant to be shown as a date, a time, or both, in the practice's timezone."""

    instant: datetime
    #: "date" (Thursday, November 26), "short-date" (Thu, Nov 26), "time", "datetime", and
    #: staff lists' "staff-date" (Thu Nov 26) and "staff-datetime" (Thu Nov 26, 3:30 PM).
    style: str = "datetime"


@dataclass(frozen=True)
class Msg:
    """A message id (the English text) and its placeholders, rendered later."""

    msgid: str
    params: dict[str, object] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash(self.msgid)


@dataclass(frozen=True)
class Prompt(Msg):
    """A sentence that points at the buttons ("… with the buttons below"): on a channel
    without buttons it is left out, and the numbered replies say what to do instead."""

    def __hash__(self) -> int:
        return hash(self.msgid)


@dataclass(frozen=True)
class Closing(Msg):
    """A message's last line ("Questions? Call us…"): numbered replies go before it."""

    def __hash__(self) -> int:
        return hash(self.msgid)


@dataclass(frozen=True)
class Plural(Msg):
    """A message with a singular and a plural (``ngettext``): the form for ``count``, in the
    reader's language (Spanish and English have two; a catalog may have more)."""

    plural: str = ""
    count: int = 0

    def __hash__(self) -> int:
        return hash(self.msgid)


def ngettext(singular: str, plural: str, n: int, **params: object) -> Plural:
    """Like :func:`_`, with a plural form: ``ngettext("{n} family", "{n} families", n)``
    (``n`` is a placeholder too, and extracted as gettext's own ``ngettext``)."""
    return Plural(singular, {"n": n, **params}, plural, n)


def closing(msgid: str, **params: object) -> Closing:
    """Like :func:`_`, for a :class:`Closing` (extracted for translation as well)."""
    return Closing(msgid, params)


def prompt(msgid: str, **params: object) -> Prompt:
    """Like :func:`_`, for a :class:`Prompt` (extracted for translation as well)."""
    return Prompt(msgid, params)


def _(msgid: str, **params: object) -> Msg:
    """Mark ``msgid`` for translation, with named placeholders."""
    return Msg(msgid, params)


class Words(Protocol):
    """A reader's language: a message's text in it (the plural form for its number) and an
    instant written in it (``bot.i18n`` implements it with the catalogs and Babel)."""

    def text(self, msg: Msg) -> str: ...

    def moment(self, when: When) -> str: ...


class Translator(Protocol):
    """Renders a :class:`Msg` in a language; implemented with Babel in ``bot.i18n``."""

    def render(self, msg: Msg, language: str, timezone: str) -> str: ...

    def words(self, language: str, timezone: str) -> Words:
        """The language, for content (staff texts) localized piece by piece."""
        ...

    def languages(self) -> tuple[str, ...]: ...


def normalize_language(tag: str | None) -> str:
    """A BCP 47 tag ('es-MX') reduced to a language we speak ('es'), else English."""
    if not tag:
        return DEFAULT_LANGUAGE
    primary = tag.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in SUPPORTED_LANGUAGES else DEFAULT_LANGUAGE


def not_linked(practice_name: str, phone: str) -> Msg:
    """What anyone the practice has not linked is told, and nothing more."""
    return _(
        "Hello! This is {practice}'s assistant. I can only help families the practice has"
        " invited. If your family is with {practice}, please call {phone} and ask for an invite"
        " link.",
        practice=practice_name,
        phone=phone,
    )
