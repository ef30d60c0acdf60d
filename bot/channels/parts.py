"""Splitting a long text into parts that each fit a channel, counted in the channel's own unit.

Telegram counts its 4,096 limit in UTF-16 code units (an emoji outside the Basic Multilingual
Plane counts two); an SMS is counted in segments (GSM-7 or UCS-2, see
:func:`bot.channels.sms.segments`). Nothing is ever cut: a text that does not fit becomes
several parts, broken where a reader would break it (a blank line, a line end, a space) and
never inside a character sequence (an emoji with its modifiers or joiners, a letter and its
accents).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

#: Characters that belong to the character before them (never start a part with one).
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


def utf16_units(text: str) -> int:
    """The length of ``text`` in UTF-16 code units, as Telegram counts it."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _attached(c: str) -> bool:
    return (
        c in _JOINERS
        or unicodedata.combining(c) != 0
        or 0x1F3FB <= ord(c) <= 0x1F3FF  # skin-tone modifiers
        or 0xE0020 <= ord(c) <= 0xE007F  # tag characters (flags of regions)
    )


def _longest_fitting(text: str, fits: Callable[[str], bool]) -> int:
    """The largest n such that ``text[:n]`` fits (at least 1: one character always goes)."""
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(text[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo


def split_text(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` as parts that each satisfy ``fits`` (which must hold for every prefix of a
    text it holds for), in order; a text that fits is one part, unchanged."""
    parts: list[str] = []
    rest = text
    while rest and not fits(rest):
        n = _longest_fitting(rest, fits)
        cut, skip = n, 0
        window = rest[:n]
        for separator in ("\n\n", "\n", " "):
            at = window.rfind(separator)
            if at >= n // 2 and at > 0:
                cut, skip = at, len(separator)
                break
        else:
            # A hard break: not between a character and what is attached to it.
            while cut > 1 and (_attached(rest[cut]) or rest[cut - 1] == "\u200d"):
                cut -= 1
        parts.append(rest[:cut])
        rest = rest[cut + skip :]
    if rest or not parts:
        parts.append(rest)
    return parts


def fits_utf16(limit: int) -> Callable[[str], bool]:
    return lambda part: utf16_units(part) <= limit


def fits_characters(limit: int) -> Callable[[str], bool]:
    return lambda part: len(part) <= limit
