"""The ``carebot`` command: run, sandbox, import, demo-data, invite, check.

Exit code 0 on success, 2 on bad input or configuration with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings, missing_for_run
from storage.clock import SystemClock
from storage.db import Database

KINDS = ("patients", "guardians", "staff", "care-team", "appointments")


class UsageError(Exception):
    """Bad input: the message is the one line to print."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="carebot", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (or set CAREBOT_CONFIG)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="serve everything configured")
    commands.add_parser("sandbox", help="the local sandbox (demo practice, local emulators)")
    imp = commands.add_parser("import", help="import a CSV file into the care record")
    imp.add_argument("kind", choices=KINDS)
    imp.add_argument("file", type=Path)
    commands.add_parser("demo-data", help="load the demo practice into the configured database")
    invite = commands.add_parser("invite", help="print a one-time Telegram link for a guardian")
    invite.add_argument("guardian_id")
    commands.add_parser("check", help="validate the configuration, say which channels are ready")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings(args.config)
        return asyncio.run(_dispatch(args, settings))
    except (ConfigError, UsageError) as error:
        print(f"carebot: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "run":
        return await _run(settings)
    if args.command == "sandbox":
        raise UsageError("the local sandbox is not built yet; configure a channel and use run")
    if args.command == "check":
        return await _check(settings)
    if args.command == "import":
        return await _import(settings, args.kind, args.file)
    if args.command == "demo-data":
        return await _demo(settings)
    if args.command == "invite":
        return await _invite(settings, args.guardian_id)
    raise UsageError(f"unknown command {args.command}")


async def _run(settings: Settings) -> int:
    if not settings.any_channel_configured():
        raise UsageError(
            "no platform credentials set: set CAREBOT_TELEGRAM__TOKEN,"
            " CAREBOT_TELEGRAM__WEBHOOK_SECRET and CAREBOT_PUBLIC_URL (or"
            " CAREBOT_TELEGRAM__MODE=polling) to serve Telegram; CAREBOT_SLACK__BOT_TOKEN,"
            " CAREBOT_SLACK__SIGNING_SECRET and CAREBOT_SLACK__ESCALATION_CHANNEL for Slack;"
            " CAREBOT_SMS__ACCOUNT_SID, __AUTH_TOKEN, __FROM_NUMBER and CAREBOT_PUBLIC_URL for SMS"
        )
    missing = missing_for_run(settings)
    if missing:
        raise UsageError(f"missing settings: {', '.join(missing)}")
    from bot.server import serve

    await serve(settings)
    return 0


async def _check(settings: Settings) -> int:
    from bot.app import practice_from

    db = await Database.open(settings.database)
    try:
        async with db.read() as conn:
            from storage.record import Record

            stored = await Record(conn).practice.get()
    finally:
        await db.close()
    practice = practice_from(settings, stored)
    print(f"practice: {practice.name} ({practice.timezone})")
    missing = missing_for_run(settings)
    for name, configured, mode in (
        ("telegram", settings.telegram_configured(), settings.telegram.mode),
        (
            "slack",
            settings.slack_configured(),
            "socket mode" if settings.slack.app_token else "http",
        ),
        ("sms", settings.sms_configured(), settings.sms.provider),
    ):
        gaps = [
            m
            for m in missing
            if m.startswith(f"CAREBOT_{name.upper()}__")
            or (name in ("telegram", "sms") and m == "CAREBOT_PUBLIC_URL")
        ]
        if not configured:
            print(f"{name}: not configured")
        else:
            print(f"{name}: {'missing ' + ', '.join(gaps) if gaps else f'ready ({mode})'}")
    if missing:
        raise UsageError(f"missing settings: {', '.join(missing)}")
    return 0


async def _open_with_practice(settings: Settings) -> Database:
    """Open the record and save the configured practice, when the configuration has one."""
    from bot.app import sync_practice

    db = await Database.open(settings.database)
    try:
        await sync_practice(db, settings, SystemClock().now())
    except ConfigError:
        pass  # not configured yet: commands that need the practice say so themselves
    return db


async def _import(settings: Settings, kind: str, path: Path) -> int:
    from handlers.imports import ImportRejected, import_csv

    db = await _open_with_practice(settings)
    try:
        report = await import_csv(db, kind, path, SystemClock().now())
    except ImportRejected as rejected:
        for error in rejected.errors[1:]:
            print(f"carebot: {error}", file=sys.stderr)
        raise UsageError(
            f"{rejected.errors[0]} ({len(rejected.errors)} problem(s); nothing was imported)"
        ) from None
    finally:
        await db.close()
    print(f"imported {report.rows} {kind} rows: {report.inserted} new, {report.updated} updated")
    return 0


async def _demo(settings: Settings) -> int:
    from handlers.demo import load_demo

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
