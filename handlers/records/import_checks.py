"""Checks for the fields of a care-record import: the row, its errors, and the value readers.

A :class:`Checker` reads typed values (dates, phone numbers, language tags, roles, appointment
times) out of CSV rows and collects a :class:`RowError` for every bad one, so a whole file's
problems are reported at once. Every field is one line of printable text: a control character
(a NUL, a tab, a line break inside quotes, an escape) is refused wherever it appears.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from babel import Locale, UnknownLocaleError

from handlers.core.texts import SUPPORTED_LANGUAGES
from handlers.records.import_spill import Seen, key_of
from storage.clock import to_db

E164 = re.compile(r"^\+[1-9]\d{7,14}$")
ROLES = ("clinician", "coordinator", "admin")
_YES, _NO = ("yes", "y", "true"), ("no", "n", "false")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: A date as people write it in the practice's country: 3/14/2019, 14.03.2019, 14-03-2019.
_WRITTEN_DATE = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
#: C0 and C1 control characters, DEL, and the Unicode line and paragraph separators: none of them
#: belongs in a one-line field (names, ids, phone numbers, services, locations).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: The earliest date of birth taken (a typo like 1019 is refused, a patient born in 1930 is not).
EARLIEST_BIRTH = date(1900, 1, 1)
#: The longest appointment taken, in minutes.
LONGEST_APPOINTMENT = 24 * 60
#: How far from the import's time an appointment's start may be: ahead, and back (history).
FURTHEST_AHEAD_YEARS, FURTHEST_BACK_YEARS = 5, 20
#: Somewhere on Earth it is already tomorrow (UTC+14): a child born there today is not refused.
_AHEAD_OF_UTC = timedelta(hours=14)


@dataclass(frozen=True)
class RowError:
    """One problem in an import file.

    Attributes:
        line: the file's line number (the header is line 1); None for the file as a whole.
        column: the column's name, or None when the problem is the whole row or file.
        message: what is wrong, in plain English.
    """

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        where += [f"column {self.column}"] if self.column else []
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ImportRejected(Exception):
    """The file was not imported; ``errors`` says why (every problem found, in file order: the
    file as a whole first, then by line; a line's problems in the order they were found)."""

    def __init__(self, errors: list[RowError]) -> None:
        errors = sorted(errors, key=lambda e: -1 if e.line is None else e.line)
        super().__init__(
            "; ".join(str(e) for e in errors[:3]) + ("; ..." if len(errors) > 3 else "")
        )
        self.errors = errors


@dataclass(frozen=True)
class CsvRow:
    """One data row: its first line number and its values by (lower-cased) column name.

    ``printable``: the reader found no control character anywhere in the row (so no field
    needs looking at for one); False means each field is looked at.
    """

    line: int
    values: dict[str, str]
    printable: bool = False

    def __getitem__(self, column: str) -> str:
        return self.values.get(column, "")


def phone_region(practice_phone: str | None) -> str:
    """The practice's country, by its own phone number's country code (US if it has none)."""
    try:
        number = phonenumbers.parse(practice_phone or "", None)
    except phonenumbers.NumberParseException:
        return "US"
    if number.country_code is None:
        return "US"
    region: str = phonenumbers.region_code_for_country_code(number.country_code)
    return region if region != "ZZ" else "US"


class Checker:
    """Reads typed values out of rows, collecting a :class:`RowError` for each bad one."""

    def __init__(self, region: str = "US") -> None:
        #: The country a phone number without a country code is in (ISO 3166, like US).
        self.region = region
        self.errors: list[RowError] = []
        #: Languages carebot has no texts in yet (a valid tag: kept; English is used), by rows.
        self.fallbacks: dict[str, int] = {}
        self._bounds: tuple[datetime, ZoneInfo, datetime, datetime] | None = None
        #: Starts already read (value, zone, now) -> (instant, record text) or (None, problem).
        self._instants: dict[tuple[str, ZoneInfo, datetime], tuple[Any, str]] = {}

    def fail(self, row: CsvRow, column: str | None, message: str) -> None:
        self.errors.append(RowError(row.line, column, message))

    def text(self, row: CsvRow, column: str, required: bool = True) -> str:
        """The column's text; a control character in it is refused (and "" returned, so the
        value is not checked again as a date, a phone number or an id)."""
        value = row[column]
        if not row.printable and _CONTROL.search(value):
            self.fail(
                row,
                column,
                f'"{_shown(value)}" contains a control character ({_codes(value)}); a field'
                " takes printable text on one line",
            )
            return ""
        if required and not value:
            self.fail(row, column, "is empty (a value is required)")
        return value

    def birth_date(self, row: CsvRow, column: str, now: datetime) -> str:
        """A date of birth (YYYY-MM-DD): not in the future, not before 1900."""
        value = self.date(row, column)
        if not value or not _DATE.match(value):
            return value
        try:
            born = date.fromisoformat(value)
        except ValueError:
            return value  # reported by date()
        if born > (now.astimezone(UTC) + _AHEAD_OF_UTC).date():
            self.fail(row, column, f'"{value}" is after today (a date of birth cannot be)')
        elif born < EARLIEST_BIRTH:
            self.fail(row, column, f'"{value}" is before 1900 (not a date of birth)')
        return value

    @property
    def date_order(self) -> str:
        """How the practice's country writes a date: month first in the US, else day first."""
        return "MM/DD/YYYY" if self.region == "US" else "DD/MM/YYYY"

    def date(self, row: CsvRow, column: str) -> str:
        """A date as ISO (YYYY-MM-DD) or as the practice's country writes it (03/14/2019 in
        the US, 14/03/2019 elsewhere); the record's text is ISO."""
        value = self.text(row, column)
        if not value:
            return value
        written = _WRITTEN_DATE.match(value)
        try:
            if written is not None:
                first, second, year = (int(part) for part in written.groups())
                month, day = (first, second) if self.region == "US" else (second, first)
                return date(year, month, day).isoformat()
            if not _DATE.match(value):
                raise ValueError(value)
            date.fromisoformat(value)
        except ValueError:
            self.fail(row, column, f'"{value}" is not a date ({self.date_order} or YYYY-MM-DD)')
        return value

    def phone(self, row: CsvRow, column: str) -> str | None:
        """A phone number as people write it (``(555) 010-2030``, ``555.010.2030``,
        ``+1 555 010 2030``; without a country code, the practice's country), as E.164."""
        value = self.text(row, column, required=False).strip()
        if not value:
            return None
        try:
            number = phonenumbers.parse(value, self.region)
        except phonenumbers.NumberParseException:
            number = None
        possible = phonenumbers.ValidationResult.IS_POSSIBLE
        if number is None or phonenumbers.is_possible_number_with_reason(number) != possible:
            # (a number without its area code is "possible" only locally: not one to text)
            self.fail(
                row,
                column,
                f'"{value}" is not a phone number (like +15551234567, or (555) 123-4567 in the'
                f" practice's country, {self.region})",
            )
            return None
        formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        return formatted

    def language(self, row: CsvRow, column: str, required: bool = True) -> str:
        value = self.text(row, column, required)
        if not value:
            return value
        try:
            Locale.parse(value, sep="-")
        except (ValueError, TypeError, UnknownLocaleError):
            self.fail(row, column, f'"{value}" is not a language tag (BCP 47, like en or es-MX)')
            return value
        primary, dash, rest = value.partition("-")
        if primary.lower() not in SUPPORTED_LANGUAGES:
            # Kept as the record's fact, said aloud: carebot writes to them in English for now.
            self.fallbacks[value] = self.fallbacks.get(value, 0) + 1
        return primary.lower() + dash + rest

    def consent(self, row: CsvRow, column: str) -> bool:
        value = self.text(row, column).lower()
        if value and value not in _YES + _NO:
            self.fail(row, column, f'"{row[column]}" is not yes or no')
        return value in _YES

    def role(self, row: CsvRow, column: str) -> str:
        value = self.text(row, column).lower()
        if value and value not in ROLES:
            self.fail(
                row, column, f'"{row[column]}" is not a role (clinician, coordinator or admin)'
            )
        return value

    def minutes(self, row: CsvRow, column: str) -> int:
        """A duration in whole minutes, more than 0 and at most a day."""
        value = self.text(row, column)
        if value and not (value.isdecimal() and int(value) > 0):
            self.fail(row, column, f'"{value}" is not a positive whole number of minutes')
            return 0
        if value and int(value) > LONGEST_APPOINTMENT:
            self.fail(
                row,
                column,
                f'"{value}" minutes is longer than a day (at most {LONGEST_APPOINTMENT})',
            )
            return 0
        return int(value) if value else 0

    def start(self, row: CsvRow, column: str, zone: ZoneInfo, now: datetime) -> datetime | None:
        """An ISO 8601 date and time; without an offset it is the practice's local time. Not
        more than 5 years after ``now``, nor more than 20 years before it."""
        found = self.instant(row, column, zone, now)
        return found[0] if found else None

    def instant(
        self, row: CsvRow, column: str, zone: ZoneInfo, now: datetime
    ) -> tuple[datetime, str] | None:
        """:meth:`start`, with the instant as the record's text too."""
        value = self.text(row, column)
        if not value:
            return None
        key = (value, zone, now)
        found = self._instants.get(key)
        if found is None:
            if len(self._instants) >= 4096:  # a file's visits share their slots: a few suffice
                self._instants.clear()
            found = self._instants[key] = self._parse_start(value, zone, now)
        start, problem = found
        if start is None:
            self.fail(row, column, problem)
            return None
        return start, problem

    def _parse_start(
        self, value: str, zone: ZoneInfo, now: datetime
    ) -> tuple[datetime, str] | tuple[None, str]:
        """(the instant, its record text), or (None, what is wrong)."""
        try:
            parsed = datetime.fromisoformat(value) if len(value) > 10 else None
        except ValueError:
            parsed = None
        if parsed is None:
            return None, (
                f'"{value}" is not a date and time (ISO 8601, like'
                " 2026-11-25T15:30 or 2026-11-25T15:30-05:00)"
            )
        if parsed.tzinfo is None:
            local = parsed.replace(tzinfo=zone)
            if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
                return None, (
                    f'"{value}" does not exist in {zone.key} (the clocks go forward at that hour)'
                )
            parsed = local
        start = parsed.astimezone(UTC).replace(microsecond=0)
        latest, earliest = self._start_bounds(zone, now)
        if start > latest:
            return None, (
                f'"{value}" is more than {FURTHEST_AHEAD_YEARS} years from now'
                " (a typo in the year?)"
            )
        if start < earliest:
            return None, (
                f'"{value}" is more than {FURTHEST_BACK_YEARS} years ago (a typo in the year?)'
            )
        return start, to_db(start)

    def _start_bounds(self, zone: ZoneInfo, now: datetime) -> tuple[datetime, datetime]:
        """The latest and the earliest start taken (the same for every row of a file)."""
        if self._bounds is None or self._bounds[:2] != (now, zone):
            local_now = now.astimezone(zone)
            self._bounds = (
                now,
                zone,
                _years_from(local_now, FURTHEST_AHEAD_YEARS),
                _years_from(local_now, -FURTHEST_BACK_YEARS),
            )
        return self._bounds[2], self._bounds[3]

    def known(self, row: CsvRow, column: str, ids: set[str], what: str, kind: str) -> None:
        """Report a reference to a record that does not exist."""
        value = row[column]
        if value and value not in ids and not _CONTROL.search(value):
            self.fail(row, column, f'no {what} "{value}" in the record (import {kind} first)')

    def once(self, row: CsvRow, column: str, key: object, seen: Seen, what: str = "") -> bool:
        """Report a key already used on an earlier line of this file; True if first use."""
        earlier = seen.first(key_of(key), row.line)
        if earlier is not None:
            what = what or f'"{row[column]}"'
            self.fail(row, column, f"{what} already appears on line {earlier}")
            return False
        return True

    def once_later(self, row: CsvRow, column: str, key: object, seen: Seen, what: str = "") -> None:
        """:meth:`once`, found out in batches: for a row's last check (its problem is reported,
        by :meth:`settle`, after the row's other problems, as :meth:`once` would have)."""
        seen.later(key_of(key), row.line, (column, what or f'"{row[column]}"'))

    def settle(self, seen: Seen) -> None:
        """Report the repeats :meth:`once_later` was told of."""
        for line, (column, what), earlier in seen.settle():
            self.errors.append(RowError(line, column, f"{what} already appears on line {earlier}"))


def printable(text: str) -> bool:
    """Whether ``text`` holds no control character (see :meth:`Checker.text`)."""
    return _CONTROL.search(text) is None


def _years_from(instant: datetime, years: int) -> datetime:
    """The same local date and time ``years`` later (29 February becomes 28 February)."""
    try:
        return instant.replace(year=instant.year + years)
    except ValueError:
        return instant.replace(year=instant.year + years, day=28)


def _codes(value: str) -> str:
    """The control characters in ``value`` as code points: 'U+0000, U+0009'."""
    return ", ".join(dict.fromkeys(f"U+{ord(c):04X}" for c in _CONTROL.findall(value)))


def _shown(value: str) -> str:
    """``value`` with its control characters written as escapes (a NUL as \\x00)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], value)
