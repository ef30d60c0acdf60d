"""Configuration: environment variables (``CAREBOT_``, ``__`` for nesting) or a TOML file.

A missing or malformed setting stops start-up with one line that names the setting as the
operator would write it (``CAREBOT_HTTP__PORT``), never a traceback.
"""

from __future__ import annotations

import json
import os
import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
_OFFSETS_FORMAT = "expected hours before the visit, e.g. 72,24 or [72, 24]"
_WHOLE_NUMBER = re.compile(r"^-?\d+$")


class ConfigError(Exception):
    """A setting is missing or malformed; the message is the one line to show."""


def parse_offsets(value: Any) -> Any:
    """'72,24' or '[72, 24]' (an environment variable's text) -> [72, 24]; a list as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            raise ValueError(_OFFSETS_FORMAT) from None
        if not isinstance(parsed, list) or not all(
            isinstance(h, int) and not isinstance(h, bool) for h in parsed
        ):
            raise ValueError(_OFFSETS_FORMAT)
        return parsed
    parts = [part.strip() for part in text.split(",")]
    if not all(_WHOLE_NUMBER.match(part) for part in parts):
        raise ValueError(_OFFSETS_FORMAT)
    return [int(part) for part in parts]


def parse_hours(value: str) -> tuple[time, time]:
    """'21:00-08:00' -> (21:00, 08:00)."""
    match = _HOURS.match(value.strip())
    if not match:
        raise ValueError("expected HH:MM-HH:MM, for example 21:00-08:00")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return time(h1, m1), time(h2, m2)


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: The largest request body any endpoint reads (413 past it, the rest unread).
    max_body_bytes: int = Field(1024 * 1024, ge=4096, le=64 * 1024 * 1024)


class OutboxSettings(BaseModel):
    #: Messages of one channel between "sending" and their outcome at once: after a crash, at
    #: most this many per channel may reach a family twice (each flagged in the record).
    in_flight: int = Field(8, ge=1, le=100)


class TelegramSettings(BaseModel):
    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org"
    webhook_secret: SecretStr | None = None
    mode: Literal["webhook", "polling"] = "webhook"
    bot_username: str | None = None
    max_messages_per_second: float = Field(30.0, gt=0)
    per_chat_interval_seconds: float = Field(1.0, ge=0)


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    app_token: SecretStr | None = None
    escalation_channel: str | None = None
    #: ``full``: names, service and clinician in staff posts; ``minimal``: first name and last
    #: initial, date and time only.
    privacy: Literal["full", "minimal"] = "full"
    #: The staff id of the coordinator on call, mentioned on urgent escalations (else @here).
    on_call_staff_id: str | None = None
    #: The language of posts in the coordinators' channel (a staff member's own messages,
    #: notes and Home tab are in the language the staff import gives them).
    language: Literal["en", "es"] = "en"
    max_messages_per_second: float = Field(10, gt=0)


class SmsSettings(BaseModel):
    provider: Literal["twilio"] = "twilio"
    account_sid: str | None = None
    auth_token: SecretStr | None = None
    from_number: str | None = None
    api_url: str | None = None
    #: A long code sends about one text a second; toll-free numbers and short codes more.
    max_messages_per_second: float = Field(1.0, gt=0, le=100)
    #: The SharedKey secret, when a Twilio Webhook Rule signs carebot's URLs with a shared key
    #: (HMAC-SHA256) instead of the Auth Token.
    webhook_shared_key: SecretStr | None = None


class PracticeSettings(BaseModel):
    """The practice's identity and rules.

    The record holds the practice; a field given here (``model_fields_set``) replaces the
    record's value, a field left out keeps it, and the defaults below apply only to a practice
    the record does not hold yet. The last three are not in the record: they always apply.
    """

    name: str | None = None
    phone: str | None = None
    timezone: str | None = None
    business_hours: str = "08:00-18:00"
    quiet_hours: str = "21:00-08:00"
    #: Not JSON-decoded from the environment: the validator reads ``72,24`` and ``[72, 24]``.
    reminder_offsets_hours: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [72, 24])
    late_cancel_hours: int = Field(24, ge=0)
    escalation_response_minutes: int = Field(15, ge=1, le=24 * 60)
    handoff_ack_business_days: int = Field(1, ge=1, le=10)
    #: At most this many reminder texts to one number in seven days (0: no weekly cap).
    sms_weekly_cap: int = Field(0, ge=0, le=50)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r} (use an IANA name like America/New_York)"
            ) from None
        return value

    @field_validator("business_hours", "quiet_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @field_validator("reminder_offsets_hours", mode="before")
    @classmethod
    def _offsets_text(cls, value: Any) -> Any:
        return parse_offsets(value)

    @field_validator("reminder_offsets_hours")
    @classmethod
    def _offsets(cls, value: list[int]) -> list[int]:
        if not value or any(h <= 0 or h > 24 * 30 for h in value):
            raise ValueError(
                "expected hours before the visit between 1 and 720, e.g. 72,24 or [72, 24]"
            )
        return sorted(set(value), reverse=True)


class Settings(BaseSettings):
    """Everything carebot reads at start-up."""

    model_config = SettingsConfigDict(
        env_prefix="CAREBOT_", env_nested_delimiter="__", extra="ignore", case_sensitive=False
    )

    database: str = "./carebot.db"
    public_url: str | None = None
    invite_valid_days: int = Field(7, ge=1, le=90)
    http: HttpSettings = HttpSettings()
    telegram: TelegramSettings = TelegramSettings()
    slack: SlackSettings = SlackSettings()
    sms: SmsSettings = SmsSettings()
    practice: PracticeSettings = PracticeSettings()
    outbox: OutboxSettings = OutboxSettings()

    _toml_file: Path | None = None
    #: Where each practice field given came from (set by :func:`load_settings`).
    _practice_origins: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if _TOML_FILE.path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=_TOML_FILE.path))
        return tuple(sources)

    def practice_origin(self, setting: str) -> str:
        """Where a practice setting given in these settings came from: ``environment
        CAREBOT_PRACTICE__QUIET_HOURS``, ``config file /etc/carebot.toml``, or ``configuration``
        for settings built in code."""
        return self._practice_origins.get(setting, "configuration")

    def telegram_configured(self) -> bool:
        return self.telegram.token is not None

    def slack_configured(self) -> bool:
        return self.slack.bot_token is not None

    def sms_configured(self) -> bool:
        return self.sms.account_sid is not None

    def any_channel_configured(self) -> bool:
        return self.telegram_configured() or self.slack_configured() or self.sms_configured()

    def practice_configured(self) -> bool:
        """Whether a practice's own setup was given (its database, its settings, a config
        file): then a missing channel is a mistake to report, not a cue for the sandbox."""
        return bool(self.model_fields_set & {"database", "practice"})


class _TomlFile:
    path: Path | None = None


_TOML_FILE = _TomlFile()


def env_name(loc: tuple[Any, ...]) -> str:
    """('http', 'port') -> 'CAREBOT_HTTP__PORT'."""
    return "CAREBOT_" + "__".join(str(part).upper() for part in loc if not isinstance(part, int))


def load_settings(config_file: str | None = None) -> Settings:
    """Load settings from the environment and the TOML file named (or in CAREBOT_CONFIG).

    Raises:
        ConfigError: with one line naming the first bad setting.
    """
    path_text = config_file or os.environ.get("CAREBOT_CONFIG")
    path = Path(path_text) if path_text else None
    if path is not None and not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    _TOML_FILE.path = path
    try:
        settings = Settings()
    except ValidationError as error:
        first = error.errors()[0]
        given = first.get("input")
        shown = "" if isinstance(given, dict) or given is None else f" (got {given!r})"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{env_name(tuple(first['loc']))}: {message}{shown}") from None
    except SettingsError as error:  # a value pydantic-settings could not decode
        source = re.search(r'field "(\w+)" from source "(\w+)"', str(error))
        if source is not None and source[2] == "EnvSettingsSource":
            raise ConfigError(_unparsable_env(source[1], error)) from None
        raise ConfigError(f"config file {path}: {error}" if path else str(error)) from None
    except ValueError as error:  # a TOML file that does not parse
        raise ConfigError(f"config file {path}: {error}" if path else str(error)) from None
    finally:
        _TOML_FILE.path = None
    settings._practice_origins = _practice_origins(settings.practice, path)
    return settings


def _environment() -> dict[str, str]:
    """The environment with upper-case names (carebot's settings are case-insensitive)."""
    return {name.upper(): value for name, value in os.environ.items()}


def _practice_origins(practice: PracticeSettings, path: Path | None) -> dict[str, str]:
    """Where each practice field given came from; the environment wins over the file."""
    environment = _environment()
    try:
        whole = json.loads(environment.get("CAREBOT_PRACTICE", "{}"))
    except ValueError:
        whole = {}
    in_whole = {str(key).lower() for key in whole} if isinstance(whole, dict) else set()
    origins: dict[str, str] = {}
    for field in practice.model_fields_set:
        variable = f"CAREBOT_PRACTICE__{field.upper()}"
        if variable in environment:
            origins[field] = f"environment {variable}"
        elif field in in_whole:
            origins[field] = "environment CAREBOT_PRACTICE"
        elif path is not None:
            origins[field] = f"config file {path.resolve()}"
    return origins


def _unparsable_env(field: str, error: Exception) -> str:
    """The one line for an environment variable pydantic-settings could not decode (JSON)."""
    group = f"CAREBOT_{field.upper()}"
    for name, value in sorted(_environment().items()):
        if name != group and not name.startswith(group + "__"):
            continue
        annotation = _annotation_at(name.removeprefix("CAREBOT_").lower().split("__"))
        if annotation is None or not _is_complex(annotation):
            continue
        try:
            json.loads(value)
        except ValueError as bad:
            reason = getattr(bad, "msg", str(bad))
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                example = next(iter(annotation.model_fields)).upper()
                return (
                    f"{name}: expected a JSON object of settings, or one variable per setting"
                    f" like {name}__{example} (it does not parse: {reason})"
                )
            return f"{name}: expected a JSON value (it does not parse: {reason})"
    return f"{group}: cannot be read from the environment ({error.__cause__ or error})"


def _annotation_at(path: list[str]) -> Any:
    """The type of the setting at ``path`` (('practice', 'name') -> str | None), or None."""
    model: Any = Settings
    annotation: Any = None
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None or NoDecode in field.metadata:
            return None
        annotation = model = field.annotation
    return annotation


def _is_complex(annotation: Any) -> bool:
    """What pydantic-settings reads from the environment as JSON: models and containers."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return (get_origin(annotation) or annotation) in (list, dict, tuple, set, frozenset)
