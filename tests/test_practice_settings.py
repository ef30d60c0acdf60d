"""The practice's settings through the ``carebot`` command, run in-process: a setting left out
keeps what the record has, ``carebot practice`` says where each value came from (and changes
nothing), and a setting that does not parse names its variable and the format it expects."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import pytest

import bot.cli
from bot.cli import main
from bot.config import PracticeSettings, Settings
from bot.practice import sync_practice
from storage.clock import FakeClock
from storage.db import Database
from storage.models import Practice
from storage.record import Record
from tests.conftest import START

PATIENTS = (
    "patient_id,first_name,last_name,date_of_birth,language\np-maya,Maya,Lopez,2019-03-14,en\n"
)
#: START (Monday 23 November 2026, 9 am in New York), as `carebot practice` dates it.
TODAY = "2026-11-23"
LATER = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


class Run:
    """``carebot`` in this process, on a record of its own, at a clock the test moves."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
        self.tmp_path, self.env, self.capsys = tmp_path, monkeypatch, capsys
        self.database = tmp_path / "carebot.db"
        self.clock = FakeClock(START)
        self.patients = tmp_path / "patients.csv"
        self.patients.write_text(PATIENTS, encoding="utf-8")
        monkeypatch.setattr(bot.cli, "SystemClock", lambda: self.clock)

    def __call__(self, *args: str) -> tuple[int, list[str], list[str]]:
        """Exit code, stdout lines, and the stderr lines carebot wrote (not log records)."""
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return (
            code,
            out.splitlines(),
            [line for line in err.splitlines() if line.startswith("carebot")],
        )

    def practice_env(self, **settings: str) -> None:
        for name, value in settings.items():
            self.env.setenv(f"CAREBOT_PRACTICE__{name.upper()}", value)

    def stored(self) -> Practice | None:
        async def read() -> Practice | None:
            db = await Database.open(self.database)
            try:
                async with db.read() as conn:
                    return await Record(conn).practice.get()
            finally:
                await db.close()

        return asyncio.run(read())


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Iterator[Run]:
    for name in list(os.environ):
        if name.upper().startswith("CAREBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CAREBOT_DATABASE", str(tmp_path / "carebot.db"))
    monkeypatch.chdir(tmp_path)
    yield Run(tmp_path, monkeypatch, capsys)


def identity(run: Run) -> None:
    run.practice_env(
        name="Bright Steps Therapy", phone="+1 555 010 2030", timezone="America/New_York"
    )


def test_a_setting_left_out_keeps_what_the_record_has(run: Run) -> None:
    identity(run)
    run.practice_env(quiet_hours="11:00-15:00")
    assert run("import", "patients", str(run.patients))[0] == 0
    run.env.delenv("CAREBOT_PRACTICE__QUIET_HOURS")
    run.clock.set(LATER)
    code, out, err = run("import", "patients", str(run.patients))
    assert (code, err) == (0, [])
    practice = run.stored()
    assert practice is not None
    assert (practice.quiet_hours_start, practice.quiet_hours_end) == (time(11), time(15))
    code, out, err = run("practice")
    assert (code, err) == (0, [])
    assert (
        f"quiet hours: 11:00-15:00 (environment CAREBOT_PRACTICE__QUIET_HOURS, since {TODAY})"
        in out
    )


def test_carebot_practice_shows_every_setting_and_where_it_came_from(run: Run) -> None:
    identity(run)
    run.practice_env(late_cancel_hours="48")
    assert run("import", "patients", str(run.patients))[0] == 0
    code, out, err = run("practice")
    assert (code, err) == (0, [])
    env = "environment CAREBOT_PRACTICE__"
    assert out == [
        f"name: Bright Steps Therapy ({env}NAME, since {TODAY})",
        f"timezone: America/New_York ({env}TIMEZONE, since {TODAY})",
        f"phone: +1 555 010 2030 ({env}PHONE, since {TODAY})",
        f"business hours: 08:00-18:00 (default, since {TODAY})",
        f"quiet hours: 21:00-08:00 (default, since {TODAY})",
        f"reminder offsets: 72, 24 hours before the visit (default, since {TODAY})",
        f"late-cancel window: 48 hours ({env}LATE_CANCEL_HOURS, since {TODAY})",
    ]


def test_an_origins_date_moves_only_when_its_value_or_origin_does(run: Run) -> None:
    identity(run)
    run.practice_env(quiet_hours="11:00-15:00")
    assert run("import", "patients", str(run.patients))[0] == 0
    run.clock.set(LATER)
    assert run("import", "patients", str(run.patients))[0] == 0  # the same value again
    out = run("practice")[1]
    assert (
        f"quiet hours: 11:00-15:00 (environment CAREBOT_PRACTICE__QUIET_HOURS, since {TODAY})"
        in out
    )
    run.practice_env(quiet_hours="20:00-07:00")
    assert run("import", "patients", str(run.patients))[0] == 0
    out = run("practice")[1]
    assert (
        "quiet hours: 20:00-07:00 (environment CAREBOT_PRACTICE__QUIET_HOURS, since 2026-12-07)"
        in out
    )
    assert f"name: Bright Steps Therapy (environment CAREBOT_PRACTICE__NAME, since {TODAY})" in out


def test_a_config_file_is_an_origin_and_the_environment_wins_over_it(run: Run) -> None:
    identity(run)
    config = run.tmp_path / "carebot.toml"
    config.write_text(
        '[practice]\nlate_cancel_hours = 12\nbusiness_hours = "09:00-17:00"\n'
        "reminder_offsets_hours = [48, 2]\n",
        encoding="utf-8",
    )
    run.practice_env(late_cancel_hours="36")
    assert run("--config", "carebot.toml", "import", "patients", str(run.patients))[0] == 0
    out = run("practice")[1]
    origin = f"config file {config.resolve()}, since {TODAY}"
    assert f"business hours: 09:00-17:00 ({origin})" in out
    assert f"reminder offsets: 48, 2 hours before the visit ({origin})" in out
    assert (
        "late-cancel window: 36 hours (environment CAREBOT_PRACTICE__LATE_CANCEL_HOURS,"
        f" since {TODAY})" in out
    )


def test_the_demo_practice_is_kept_by_commands_that_leave_settings_out(run: Run) -> None:
    assert run("demo-data")[0] == 0
    code, out, err = run("practice")
    assert (code, err) == (0, [])
    assert out[0] == f"name: Bright Steps Therapy (demo data, since {TODAY})"
    assert all(f"(demo data, since {TODAY})" in line for line in out)
    # An import with only quiet hours configured: nothing else in the record moves.
    run.practice_env(quiet_hours="11:00-15:00")
    run.clock.set(LATER)
    assert run("import", "patients", str(run.patients))[0] == 0
    out = run("practice")[1]
    assert (
        "quiet hours: 11:00-15:00 (environment CAREBOT_PRACTICE__QUIET_HOURS, since 2026-12-07)"
        in out
    )
    assert [line for line in out if "demo data" not in line] == [out[4]]
    assert out[3] == f"business hours: 08:00-18:00 (demo data, since {TODAY})"


def test_carebot_practice_changes_nothing(run: Run) -> None:
    identity(run)
    run.practice_env(quiet_hours="11:00-15:00")
    assert run("import", "patients", str(run.patients))[0] == 0
    before = run.stored()
    # Other settings in the environment now: `carebot practice` shows the record, not them.
    run.practice_env(quiet_hours="22:00-07:00", name="Someone Else")
    run.clock.set(LATER)
    code, out, err = run("practice")
    assert (code, err) == (0, [])
    assert (
        out[0] == f"name: Bright Steps Therapy (environment CAREBOT_PRACTICE__NAME, since {TODAY})"
    )
    assert out[4].startswith("quiet hours: 11:00-15:00 ")
    assert run.stored() == before


def test_carebot_practice_with_no_practice_says_so(run: Run) -> None:
    code, out, err = run("practice")
    assert (code, out) == (2, [])
    assert err == [
        f"carebot: no practice in the record ({run.database}) yet: set CAREBOT_PRACTICE__NAME,"
        " __PHONE and __TIMEZONE and run `carebot run` or an import, or run `carebot demo-data`"
    ]


async def test_settings_built_in_code_keep_the_record_too(db: Database, clock: FakeClock) -> None:
    """CareBot.start syncs settings built in code (the sandbox, the channel tests) the same way."""
    given = PracticeSettings(
        name="Bright Steps Therapy",
        phone="+1 555 010 2030",
        timezone="America/New_York",
        quiet_hours="11:00-15:00",
    )
    await sync_practice(db, Settings(database=":memory:", practice=given), clock.now())
    named_only = PracticeSettings(name="Bright Steps Therapy")
    practice = await sync_practice(
        db, Settings(database=":memory:", practice=named_only), clock.now()
    )
    assert (practice.quiet_hours_start, practice.quiet_hours_end) == (time(11), time(15))
    async with db.read() as conn:
        record = Record(conn)
        assert await record.practice.get() == practice
        origins = await record.practice.origins()
    assert {s: o.origin for s, o in origins.items()} == {
        "name": "configuration",
        "phone": "configuration",
        "timezone": "configuration",
        "quiet_hours": "configuration",
        "business_hours": "default",
        "reminder_offsets_hours": "default",
        "late_cancel_hours": "default",
    }


@pytest.mark.parametrize("offsets", ["72,24", "[72, 24]", " 24, 72 ", "24,72,24"])
def test_reminder_offsets_read_as_a_list_or_comma_separated(run: Run, offsets: str) -> None:
    identity(run)
    run.practice_env(reminder_offsets_hours=offsets)
    code, _, err = run("import", "patients", str(run.patients))
    assert (code, err) == (0, [])
    practice = run.stored()
    assert practice is not None and practice.reminder_offsets_hours == (72, 24)


@pytest.mark.parametrize("offsets", ["abc", "72;24", "72 24", '[72, "x"]', "[72, 24", "", "{}"])
def test_malformed_reminder_offsets_name_the_variable_and_the_format(
    run: Run, offsets: str
) -> None:
    identity(run)
    run.practice_env(reminder_offsets_hours=offsets)
    code, out, err = run("import", "patients", str(run.patients))
    assert (code, out) == (2, [])
    assert err == [
        "carebot: CAREBOT_PRACTICE__REMINDER_OFFSETS_HOURS: expected hours before the visit,"
        f" e.g. 72,24 or [72, 24] (got {offsets!r})"
    ]
    assert run.stored() is None


def test_reminder_offsets_out_of_range_say_the_range(run: Run) -> None:
    run.practice_env(reminder_offsets_hours="72,0")
    code, _, err = run("practice")
    assert code == 2
    assert err == [
        "carebot: CAREBOT_PRACTICE__REMINDER_OFFSETS_HOURS: expected hours before the visit"
        " between 1 and 720, e.g. 72,24 or [72, 24] (got '72,0')"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "CAREBOT_PRACTICE",
            "{oops",
            "carebot: CAREBOT_PRACTICE: expected a JSON object of settings, or one variable per"
            " setting like CAREBOT_PRACTICE__NAME (it does not parse: Expecting property name"
            " enclosed in double quotes)",
        ),
        (
            "CAREBOT_HTTP",
            "8080",
            "carebot: CAREBOT_HTTP: Input should be a valid dictionary or instance of"
            " HttpSettings (got 8080)",
        ),
        (
            "carebot_telegram",
            '{"token": "123:secret"',
            "carebot: CAREBOT_TELEGRAM: expected a JSON object of settings, or one variable per"
            " setting like CAREBOT_TELEGRAM__TOKEN (it does not parse: Expecting ',' delimiter)",
        ),
    ],
)
def test_a_group_that_does_not_parse_names_its_variable(
    run: Run, variable: str, value: str, expected: str
) -> None:
    run.env.setenv(variable, value)
    code, _, err = run("practice")
    assert (code, err) == (2, [expected])
    assert "secret" not in err[0]


def test_a_config_file_that_does_not_parse_names_the_file(run: Run) -> None:
    config = run.tmp_path / "broken.toml"
    config.write_text("[practice\n", encoding="utf-8")
    code, _, err = run("--config", str(config), "practice")
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"carebot: config file {config}: ")
