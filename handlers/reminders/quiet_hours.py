"""Quiet hours: when a family may not be messaged. A message due then waits; it is never dropped."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


def in_window(local: time, start: time, end: time) -> bool:
    """Whether ``local`` falls in [start, end), a window that may wrap past midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def next_allowed(instant: datetime, timezone: str, quiet_start: time, quiet_end: time) -> datetime:
    """``instant`` if it is outside quiet hours in ``timezone``, else the moment they end."""
    zone = ZoneInfo(timezone)
    local = instant.astimezone(zone)
    if not in_window(local.time(), quiet_start, quiet_end):
        return instant
    day = local.date()
    if quiet_start > quiet_end and local.time() >= quiet_start:
        day += timedelta(days=1)
    # Built from wall-clock fields so a DST change between now and then is respected.
    allowed = datetime.combine(day, quiet_end, tzinfo=zone)
    return allowed.astimezone(instant.tzinfo)


def within_hours(instant: datetime, timezone: str, start: time, end: time) -> bool:
    """Whether ``instant`` falls within [start, end) local time (e.g. business hours)."""
    return in_window(instant.astimezone(ZoneInfo(timezone)).time(), start, end)
