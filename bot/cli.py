"""The ``carebot`` command: run, sandbox, import, demo-data, invite, check, practice.

Exit code 0 on success, 2 on bad input or configuration with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import textwrap
from collections.abc import Sequence
from datetime import time
from pathlib import Path

from bot.channels.starting import StartRefused, StartupFailed
from bot.config import ConfigError, Settings, load_settings
from bot.logs import quiet_libraries
from bot.readiness import channel_states, missing_for_run
from storage.clock import SystemClock
from storage.db import Database, DatabaseUnusable

KINDS = ("patients", "guardians", "staff", "care-team", "appointments")


class UsageError(Exception):
    """Bad input: the message is the one line to print."""


DESCRIPTION = (
    "carebot, the care-coordination bot of a therapy practice: run, sandbox, import, demo-data,"
    " invite, check, practice. Exit code 0 on success, 2 on bad input or configuration, with a"
    " one-line reason on stderr."
)


def _import_epilog() -> str:
    from handlers.records.columns import columns_described

    intro = (
        "Import in this order; a header row is required, extra columns are ignored, and a file"
        " is imported whole or not at all (every problem is listed by line and column)."
    )
    kinds = [
        textwrap.fill(columns_described(kind), 78, initial_indent="  ", subsequent_indent="    ")
        for kind in KINDS
    ]
    examples = "Examples of each: examples/*.csv in carebot's repository."
    return "\n\n".join([textwrap.fill(intro, 78), "\n".join(kinds), examples])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carebot", description=DESCRIPTION)
    parser.add_argument("--config", help="TOML settings file (or set CAREBOT_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="serve everything configured (no credentials at all: the local sandbox)"
    )
    sandbox = commands.add_parser(
        "sandbox", help="the local sandbox: demo practice, local emulators, a web console"
    )
    for command in (run, sandbox):
        command.add_argument(
            "--port",
            type=int,
            help="where the sandbox console listens (default CAREBOT_HTTP__PORT)",
        )
        command.add_argument("--host", help="sandbox console host (default CAREBOT_HTTP__HOST)")
        command.add_argument(
            "--sandbox-database",
            type=Path,
            default=None,
            help="the sandbox's own SQLite file (default ./carebot-sandbox.db)",
        )
        command.add_argument(
            "--reset", action="store_true", help="sandbox: start again from the demo data"
        )
    imp = commands.add_parser(
        "import",
        help="import a CSV file into the care record",
        description="Import a CSV file of KIND into the care record.",
        epilog=_import_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    imp.add_argument("kind", choices=KINDS)
    imp.add_argument("file", type=Path)
    commands.add_parser("demo-data", help="load the demo practice into the configured database")
    invite = commands.add_parser("invite", help="print a one-time Telegram link for a guardian")
    invite.add_argument("guardian_id")
    commands.add_parser("check", help="validate the configuration, say which channels are ready")
    commands.add_parser(
        "practice", help="show the practice's settings as the record holds them, and their origins"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    quiet_libraries()
    try:
        settings = load_settings(args.config)
        return asyncio.run(_dispatch(args, settings))
    except (ConfigError, UsageError, StartRefused, StartupFailed) as error:
        print(f"carebot: {error}", file=sys.stderr)
        return 2
    except DatabaseUnusable as error:
        print(f"carebot: CAREBOT_DATABASE: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        if not settings.any_channel_configured():
            if settings.practice_configured():
                # A practice's own setup without a channel: a mistake to say, not demo data.
                raise UsageError(
                    "no channel is configured (carebot check says what each needs); for the"
                    " local sandbox with demo data, run carebot sandbox"
                )
            return await _sandbox(settings, args)
        return await _run(settings)
    if args.command == "sandbox":
        return await _sandbox(settings, args)
    if args.command == "check":
        return await _check(settings)
    if args.command == "import":
        return await _import(settings, args.kind, args.file)
    if args.command == "demo-data":
        return await _demo(settings)
    if args.command == "invite":
        return await _invite(settings, args.guardian_id)
    if args.command == "practice":
        return await _practice(settings)
    raise UsageError(f"unknown command {args.command}")


def _sandbox_database(settings: Settings, database: Path) -> Path:
    """The sandbox's own file; never the practice's record, which it would fill with demo data."""
    if settings.database and os.path.realpath(settings.database) == os.path.realpath(database):
        raise UsageError(
            f"--sandbox-database: {database} is the practice's record (CAREBOT_DATABASE);"
            " the sandbox loads demo data and needs its own file"
        )
    return database


async def _sandbox(settings: Settings, args: argparse.Namespace) -> int:
    """The local sandbox, until Ctrl-C. Its first line says where the console is."""
    from bot.sandbox.runtime import DEFAULT_DATABASE, open_sandbox

    port = settings.http.port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise UsageError(f"--port: {port} is not a port number (0 to 65535)")
    database = _sandbox_database(settings, args.sandbox_database or Path(DEFAULT_DATABASE))

    def listening(url: str) -> None:
        print(
            f"carebot sandbox: console at {url}/ (demo practice, local emulators of Telegram,"
            " Slack and SMS; no real platform is called). Ctrl-C stops it.",
            flush=True,
        )
        if args.command == "run":
            print(
                "(no platform credentials are set; see README 'Setting up a practice' to serve"
                " real ones)",
                flush=True,
            )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with open_sandbox(
            database,
            host=args.host or settings.http.host,
            port=port,
            reset=args.reset,
            on_listening=listening,
        ) as sandbox:
            print(f"carebot sandbox: ready; open {sandbox.url}/ in a browser.", flush=True)
            await stop.wait()
    except OSError as error:
        raise UsageError(f"the sandbox cannot listen: {error}") from None
    except RuntimeError as error:
        raise UsageError(f"the sandbox could not start: {error}") from None
    return 0


async def _run(settings: Settings) -> int:
    missing = missing_for_run(settings)
    if missing:
        raise UsageError(f"missing settings: {', '.join(missing)}")
    from bot.server import serve

    await serve(settings)
    return 0


async def _check(settings: Settings) -> int:
    """What the configuration gives: the practice, and each channel's state, all at once.
    Exits 2 when a configured channel lacks something or none is ready. Creates no file."""
    from bot.practice import practice_from
    from storage.record import Record

    stored = None
    problems: list[str] = []
    if _worth_opening(settings.database):
        db = await Database.open(settings.database)
        try:
            async with db.read() as conn:
                stored = await Record(conn).practice.get()
        finally:
            await db.close()
    else:
        print(f"record: {settings.database} does not exist yet (carebot import or run makes it)")
    try:
        practice = practice_from(settings, stored)
        print(f"practice: {practice.name} ({practice.timezone})")
    except ConfigError as error:
        print(f"practice: {error}")
        problems.append("the practice")
    states = channel_states(settings)
    for name, (_ready, said) in states.items():
        print(f"{name}: {said}")
    missing = missing_for_run(settings)
    if missing:
        problems.append(f"settings {', '.join(missing)}")
    if not any(ready for ready, _said in states.values()):
        problems.append("a channel that is ready")
    if problems:
        raise UsageError(f"not ready: missing {'; '.join(problems)} (each is listed above)")
    return 0


def _worth_opening(database: str) -> bool:
    """Whether ``carebot check`` opens the record: when it exists, or when its folder does not
    (opening says what is wrong); a record not made yet is not made by a check."""
    path = Path(database)
    return path.exists() or not path.parent.exists()


async def _open_with_practice(settings: Settings) -> Database:
    """Open the record and save the configured practice, when the configuration has one."""
    from bot.practice import sync_practice

    db = await Database.open(settings.database)
    # Not configured yet: the commands that need the practice say so themselves.
    with contextlib.suppress(ConfigError):
        await sync_practice(db, settings, SystemClock().now())
    return db


async def _import(settings: Settings, kind: str, path: Path) -> int:
    from handlers.records.imports import ImportRejected, import_csv

    db = await _open_with_practice(settings)
    try:
        report = await import_csv(db, kind, path, SystemClock().now())
    except ImportRejected as rejected:
        for error in rejected.errors:
            print(f"carebot: {error}", file=sys.stderr)
        count = len(rejected.errors)
        raise UsageError(
            f"{count} problem{'' if count == 1 else 's'}; nothing was imported"
        ) from None
    finally:
        await db.close()
    print(f"imported {report.rows} {kind} rows: {report.inserted} new, {report.updated} updated")
    if report.fallbacks:
        named = ", ".join(
            f"{tag} ({rows} row{'' if rows == 1 else 's'})"
            for tag, rows in sorted(report.fallbacks.items())
        )
        print(
            f"note: carebot has no texts yet in {named}: those families are written to in"
            " English (the language stays in the record)"
        )
    return 0


#: How ``carebot practice`` names each setting the record holds.
PRACTICE_LABELS = {
    "name": "name",
    "timezone": "timezone",
    "phone": "phone",
    "business_hours": "business hours",
    "quiet_hours": "quiet hours",
    "reminder_offsets_hours": "reminder offsets",
    "late_cancel_hours": "late-cancel window",
}


async def _practice(settings: Settings) -> int:
    """The practice as the record holds it, a line per setting with where its value came from.
    Read-only: the configured settings are not saved first (any other command saves them)."""
    from zoneinfo import ZoneInfo

    from storage.record import Record

    db = await Database.open(settings.database)
    try:
        async with db.read() as conn:
            record = Record(conn)
            practice = await record.practice.get()
            origins = await record.practice.origins()
    finally:
        await db.close()
    if practice is None:
        raise UsageError(
            f"no practice in the record ({settings.database}) yet: set CAREBOT_PRACTICE__NAME,"
            " __PHONE and __TIMEZONE and run `carebot run` or an import, or run"
            " `carebot demo-data`"
        )
    zone = ZoneInfo(practice.timezone)
    values = {
        "name": practice.name,
        "timezone": practice.timezone,
        "phone": practice.phone,
        "business_hours": _hours(practice.business_hours_start, practice.business_hours_end),
        "quiet_hours": _hours(practice.quiet_hours_start, practice.quiet_hours_end),
        "reminder_offsets_hours": ", ".join(map(str, practice.reminder_offsets_hours))
        + " hours before the visit",
        "late_cancel_hours": f"{practice.late_cancel_hours} hours",
    }
    for setting, label in PRACTICE_LABELS.items():
        origin = origins.get(setting)
        where = (
            f"{origin.origin}, since {origin.updated_at.astimezone(zone).date().isoformat()}"
            if origin is not None
            else "origin not recorded (saved before carebot kept origins)"
        )
        print(f"{label}: {values[setting]} ({where})")
    return 0


def _hours(start: time, end: time) -> str:
    return f"{start:%H:%M}-{end:%H:%M}"


async def _demo(settings: Settings) -> int:
    from handlers.records.demo import load_demo

    db = await Database.open(settings.database)
    try:
        summary = await load_demo(db, SystemClock().now())
    finally:
        await db.close()
    print(f"demo practice loaded into {settings.database}: {summary}")
    return 0


async def _invite(settings: Settings, guardian_id: str) -> int:
    from bot.app import CareBot

    db = await _open_with_practice(settings)
    carebot = CareBot(settings, db, SystemClock())
    try:
        if not settings.telegram.bot_username:
            if carebot.telegram is None:
                raise UsageError(
                    "CAREBOT_TELEGRAM__TOKEN or CAREBOT_TELEGRAM__BOT_USERNAME must be set"
                )
            await carebot.telegram.start()
        try:
            link = await carebot.create_invite(guardian_id)
        except LookupError:
            raise UsageError(f"no guardian with id {guardian_id!r}") from None
    finally:
        await carebot.stop()
        await db.close()
    print(link)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
