"""The practice's settings: what the configuration gives, what the record keeps, and where each
saved value came from.

Kept apart from :mod:`bot.app` so that commands that only touch the record (``carebot import``,
``carebot practice``) do not load the platform SDKs.
"""

from __future__ import annotations

from datetime import datetime

from bot.config import ConfigError, Settings, parse_hours
from handlers.reminders.planning import plan_ahead
from storage.db import Database
from storage.models import Practice
from storage.practice import SETTINGS
from storage.record import Record

__all__ = ["configured_practice", "practice_from", "sync_practice"]


def practice_from(settings: Settings, stored: Practice | None) -> Practice:
    """The practice as configured, falling back to the stored row for anything not configured."""
    return configured_practice(settings, stored)[0]


def configured_practice(
    settings: Settings, stored: Practice | None
) -> tuple[Practice, dict[str, str]]:
    """The practice to save, and where each value that does not come from the record came from.

    A setting given (environment or config file: ``model_fields_set``) replaces the record's
    value; one left out keeps it; with no practice in the record yet, one left out takes its
    documented default (name, phone and timezone have none).

    Raises:
        ConfigError: name, phone or timezone is neither given nor in the record.
    """
    config = settings.practice
    given = {f for f in config.model_fields_set if getattr(config, f) not in (None, "")}
    fields: dict[str, object] = {}
    origins: dict[str, str] = {}
    for setting, names in SETTINGS.items():
        if setting in given:
            fields |= _practice_fields(setting, getattr(config, setting))
            origins[setting] = settings.practice_origin(setting)
        elif stored is not None:
            fields |= {name: getattr(stored, name) for name in names}
        elif setting in ("name", "phone", "timezone"):
            raise ConfigError(
                f"CAREBOT_PRACTICE__{setting.upper()}: not set (and no practice in the record)"
            )
        else:
            fields |= _practice_fields(setting, getattr(config, setting))
            origins[setting] = "default"
    return Practice.model_validate(fields), origins


def _practice_fields(setting: str, value: object) -> dict[str, object]:
    """A setting's configured value as the record's fields ('08:00-18:00' -> start and end)."""
    names = SETTINGS[setting]
    if setting in ("business_hours", "quiet_hours"):
        assert isinstance(value, str)
        return dict(zip(names, parse_hours(value), strict=True))
    if setting == "reminder_offsets_hours":
        assert isinstance(value, list)
        return {names[0]: tuple(value)}
    return {names[0]: value}


async def sync_practice(db: Database, settings: Settings, now: datetime) -> Practice:
    """Save the configured practice (a setting given wins, one left out keeps the record's), with
    where each saved value came from, and re-plan reminders to match."""
    async with db.transaction() as conn:
        record = Record(conn)
        practice, origins = configured_practice(settings, await record.practice.get())
        await record.practice.save(practice, now, origins)
    await plan_ahead(db, practice, now)
    return practice
