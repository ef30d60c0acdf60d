"""``carebot run`` (and the other commands) as an operator starts them: real processes against
the fake platforms served by this test, each failure one line and exit 2, fast."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from bot.sandbox.fake_telegram import FakeTelegram
from bot.sandbox.fake_twilio import FakeTwilio, signed_form
from bot.sandbox.server import serve_app
from bot.sandbox.slack_fake import FakeSlack
from bot.sandbox.slack_signing import sign
from bot.sandbox.twilio_forms import inbound_form
from tests.canaries import leaked

PUBLIC = "https://carebot.example.org"
PRACTICE = {
    "CAREBOT_PRACTICE__NAME": "Bright Steps Therapy",
    "CAREBOT_PRACTICE__PHONE": "+1 555 010 2030",
    "CAREBOT_PRACTICE__TIMEZONE": "America/New_York",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The command's environment: its own database, the practice, a free port (never the
    default 8080, which a sandbox left running on the machine may hold), and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREBOT_")}
    env |= {
        "CAREBOT_DATABASE": str(tmp_path / "carebot.db"),
        "CAREBOT_HTTP__PORT": str(free_port()),
        **PRACTICE,
        **settings,
    }
    return env


async def carebot(env: dict[str, str], *args: str, seconds: float = 20) -> tuple[int, str, str]:
    """Run a carebot command to its end; returns (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with asyncio.timeout(seconds):
        out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


@dataclass
class Running:
    process: asyncio.subprocess.Process
    url: str

    async def stop(self, signum: int = signal.SIGTERM) -> tuple[int, str]:
        self.process.send_signal(signum)
        async with asyncio.timeout(20):
            _, err = await self.process.communicate()
        return self.process.returncode or 0, err.decode()


@contextlib.asynccontextmanager
async def running(env: dict[str, str]) -> AsyncIterator[Running]:
    """``carebot run`` until the test is done (killed if still running)."""
    port = free_port()
    env = {**env, "CAREBOT_HTTP__PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    assert process.stderr is not None
    try:
        seen = []
        async with asyncio.timeout(20):  # until it says it serves (or exits)
            while not seen or not seen[-1].startswith("carebot: serving on"):
                line = (await process.stderr.readline()).decode()
                if not line:
                    raise AssertionError(f"carebot run exited: {''.join(seen)}")
                seen.append(line)
        yield Running(process, url)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def healthy_within(client: httpx.AsyncClient, *, seconds: float) -> bool:
    """Whether ``/healthz`` answers 200 within ``seconds`` (another process: it is asked)."""
    async with asyncio.timeout(seconds):
        while (await client.get("/healthz")).status_code != 200:  # noqa: ASYNC110 - its answer
            await asyncio.sleep(0.05)
    return True


def sms_settings(twilio: FakeTwilio, root: str) -> dict[str, str]:
    return {
        "CAREBOT_PUBLIC_URL": PUBLIC,
        "CAREBOT_SMS__ACCOUNT_SID": twilio.account_sid,
        "CAREBOT_SMS__AUTH_TOKEN": twilio.auth_token,
        "CAREBOT_SMS__FROM_NUMBER": "+15550100000",
        "CAREBOT_SMS__API_URL": root,
    }


def telegram_settings(root: str, token: str = "123456:TEST") -> dict[str, str]:
    return {
        "CAREBOT_PUBLIC_URL": PUBLIC,
        "CAREBOT_TELEGRAM__TOKEN": token,
        "CAREBOT_TELEGRAM__API_URL": root,
        "CAREBOT_TELEGRAM__WEBHOOK_SECRET": "secret-for-tests",
    }


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize("command", [["check"], ["run"], ["demo-data"], ["practice"]])
async def test_a_database_that_is_not_sqlite_is_one_line_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    (tmp_path / "carebot.db").write_text("name,phone\nAna,+15551230001\n")
    twilio = FakeTwilio()
    env = environment(tmp_path, **sms_settings(twilio, "http://127.0.0.1:9"))
    started = time.monotonic()
    code, out, err = await carebot(env, *command)
    assert code == 2
    assert one_line(err) == (
        f"carebot: CAREBOT_DATABASE: {tmp_path / 'carebot.db'} is not a SQLite database"
        " (or it is damaged)"
    )
    assert time.monotonic() - started < 10
    assert (tmp_path / "carebot.db").read_text().startswith("name,phone")  # left as it was


async def test_import_into_a_database_that_is_not_sqlite(tmp_path: Path) -> None:
    (tmp_path / "carebot.db").write_bytes(b"\x00\x01 not a database at all" * 100)
    patients = tmp_path / "patients.csv"
    patients.write_text("patient_id,first_name,last_name,date_of_birth,language\n")
    code, _, err = await carebot(environment(tmp_path), "import", "patients", str(patients))
    assert code == 2
    assert "is not a SQLite database" in one_line(err)


async def test_a_missing_database_folder_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-folder" / "carebot.db"
    env = environment(tmp_path, CAREBOT_DATABASE=str(missing))
    code, _, err = await carebot(env, "check")
    assert code == 2
    assert one_line(err) == (
        f"carebot: CAREBOT_DATABASE: {missing}: the folder {missing.parent} does not exist"
    )


async def test_check_says_what_every_channel_lacks_at_once_and_makes_no_file(
    tmp_path: Path,
) -> None:
    env = environment(tmp_path)
    code, out, err = await carebot(env, "check")
    assert code == 2
    assert out.splitlines() == [
        f"record: {tmp_path / 'carebot.db'} does not exist yet (carebot import or run makes it)",
        "practice: Bright Steps Therapy (America/New_York)",
        "telegram: not configured: needs CAREBOT_TELEGRAM__TOKEN (and CAREBOT_PUBLIC_URL with"
        " CAREBOT_TELEGRAM__WEBHOOK_SECRET, or CAREBOT_TELEGRAM__MODE=polling)",
        "slack: not configured: needs CAREBOT_SLACK__BOT_TOKEN, CAREBOT_SLACK__SIGNING_SECRET (or"
        " CAREBOT_SLACK__APP_TOKEN for Socket Mode) and CAREBOT_SLACK__ESCALATION_CHANNEL",
        "sms: not configured: needs CAREBOT_SMS__ACCOUNT_SID, CAREBOT_SMS__AUTH_TOKEN,"
        " CAREBOT_SMS__FROM_NUMBER and CAREBOT_PUBLIC_URL",
    ]
    assert one_line(err) == (
        "carebot: not ready: missing a channel that is ready (each is listed above)"
    )
    assert not (tmp_path / "carebot.db").exists()
    # One channel half set up, another ready: what the first lacks, and still exit 2.
    code, out, err = await carebot(
        environment(tmp_path, CAREBOT_TELEGRAM__TOKEN="1:x", CAREBOT_TELEGRAM__MODE="polling",
                    CAREBOT_SMS__ACCOUNT_SID="AC1"),
        "check",
    )  # fmt: skip
    assert code == 2
    assert "telegram: ready (polling)" in out.splitlines()
    assert "sms: missing CAREBOT_SMS__AUTH_TOKEN, CAREBOT_SMS__FROM_NUMBER, CAREBOT_PUBLIC_URL" in (
        out.splitlines()
    )


async def test_a_port_in_use_stops_start_up_before_anything_starts(tmp_path: Path) -> None:
    fake = FakeTelegram()
    async with serve_app(fake.app) as root:
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            env = environment(tmp_path, CAREBOT_HTTP__PORT=str(port), **telegram_settings(root))
            code, _, err = await carebot(env, "run")
    assert code == 2
    assert one_line(err).startswith(
        f"carebot: CAREBOT_HTTP__PORT: cannot listen on 127.0.0.1:{port}"
    )
    assert fake.requests == []  # no channel started, nothing was sent


async def test_a_token_telegram_refuses_is_one_line(tmp_path: Path) -> None:
    fake = FakeTelegram(token="123456:RIGHT")
    async with serve_app(fake.app) as root:
        env = environment(tmp_path, **telegram_settings(root, token="123456:WRONG"))
        code, _, err = await carebot(env, "run")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "carebot: CAREBOT_TELEGRAM__TOKEN: Telegram refused the bot token"
    )
    assert "Traceback" not in err


async def test_an_unreachable_telegram_is_retried_while_sms_works(tmp_path: Path) -> None:
    """Telegram's API is down at start: carebot serves anyway, /healthz says which channel is
    down, texts are answered, and once the API is back Telegram starts by itself."""
    twilio = FakeTwilio()
    telegram_port = free_port()
    telegram = FakeTelegram()
    async with serve_app(twilio.app) as twilio_root:
        env = environment(
            tmp_path,
            **telegram_settings(f"http://127.0.0.1:{telegram_port}")
            | sms_settings(twilio, twilio_root),
        )
        async with running(env) as bot, httpx.AsyncClient(base_url=bot.url) as client:
            health = await client.get("/healthz")
            assert health.status_code == 503
            checks = health.json()["checks"]
            assert checks["sms"] == "started" and checks["database"] == "ok"
            assert checks["telegram"].startswith("down (")
            # A family texts HELP meanwhile: answered.
            form = inbound_form(
                account_sid=twilio.account_sid, from_="+15551230001", to="+15550100000",
                body="HELP", message_sid="SMwhiledown",
            )  # fmt: skip
            body, headers = signed_form(twilio.auth_token, PUBLIC + "/sms/twilio", form)
            assert (
                await client.post("/sms/twilio", content=body, headers=headers)
            ).status_code == 200
            await twilio.wait_for_sent(1, timeout=10)
            assert "For help call +1 555 010 2030" in twilio.sent[0].body
            # Telegram comes back: carebot starts it without a restart.
            async with serve_app(telegram.app, port=telegram_port):
                await telegram.wait_for_calls("setWebhook", timeout=15)
                # setWebhook is the start's last call but its answer still has to arrive and
                # be looked at: the process says "started" a moment later.
                assert await healthy_within(client, seconds=10)
                assert telegram.webhook.url == PUBLIC + "/telegram/webhook"
                code, err = await bot.stop()
    assert code == 0, err
    assert "Traceback" not in err


def write_rows(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


async def practice_with_due_reminders(tmp_path: Path, env: dict[str, str], families: int) -> None:
    """``families`` families, each with a visit in 23 hours: its 24-hour reminder is due."""
    start = datetime.now(ZoneInfo(env["CAREBOT_PRACTICE__TIMEZONE"])) + timedelta(hours=23)
    files = {
        "patients": write_rows(
            tmp_path / "patients.csv",
            "patient_id,first_name,last_name,date_of_birth,language",
            [f"p{n},Kid{n},Family{n},2018-03-0{1 + n % 9},en" for n in range(families)],
        ),
        "guardians": write_rows(
            tmp_path / "guardians.csv",
            "guardian_id,patient_id,first_name,last_name,relationship,phone,language,sms_consent",
            [
                f"g{n},p{n},Parent{n},Family{n},mother,+1555200{n:04d},en,yes"
                for n in range(families)
            ],
        ),  # fmt: skip
        "staff": write_rows(
            tmp_path / "staff.csv",
            "staff_id,name,role,discipline,slack_user_id",
            ["s1,Sam Rivera,clinician,speech,U0000001"],
        ),
        "appointments": write_rows(
            tmp_path / "appointments.csv",
            "appointment_id,patient_id,staff_id,start,duration_minutes,service,location",
            [
                f"a{n},p{n},s1,{start.replace(tzinfo=None).isoformat(timespec='minutes')},45,"
                "speech,Room 2"
                for n in range(families)
            ],
        ),  # fmt: skip
    }
    for kind, path in files.items():
        code, _, err = await carebot(env, "import", kind, str(path))
        assert code == 0, err


def zone_at_noon() -> str:
    """A time zone where it is about noon now: no quiet hours hold the reminders back."""
    noon = 12 - datetime.now(UTC).hour
    return "Etc/UTC" if noon == 0 else f"Etc/GMT{'-' if noon > 0 else '+'}{abs(noon)}"


async def test_a_backlog_of_due_reminders_is_worked_off_while_carebot_serves(
    tmp_path: Path,
) -> None:
    """After downtime, reminders are due at start: carebot answers (and says it serves) first,
    and works the backlog off in the background; every family gets its reminder once."""
    families = 40
    twilio = FakeTwilio()
    async with serve_app(twilio.app) as root:
        # At the number's pace of 1 a second the 40 texts took 40 s of the suite; the point
        # here is the order of serving and working off, not the pace (bench/fanout.py).
        env = environment(
            tmp_path, **sms_settings(twilio, root), CAREBOT_PRACTICE__TIMEZONE=zone_at_noon(),
            CAREBOT_SMS__MAX_MESSAGES_PER_SECOND="20",
        )  # fmt: skip
        await practice_with_due_reminders(tmp_path, env, families)
        async with running(env) as bot:  # it said it serves before any wake-up was logged
            assert bot.process.stderr is not None
            async with asyncio.timeout(30):
                while "wake-up queued=" not in (line := (await bot.process.stderr.readline())
                                                 .decode()):  # fmt: skip
                    assert line, "carebot run exited"
            assert f"wake-up queued={families} messages" in line
            await twilio.wait_for_sent(families, timeout=60)
            code, err = await bot.stop()
    assert code == 0, err
    assert sorted(m.to for m in twilio.sent) == [f"+1555200{n:04d}" for n in range(families)]


async def test_sigterm_in_the_middle_of_a_backlog_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    """SIGTERM as soon as carebot serves, while its first wake-up works off the backlog: it
    exits 0 without a traceback (the wake-up under way is cancelled and its transaction rolled
    back before the record closes), and the next run sends the rest: each family once."""
    families = 300
    twilio = FakeTwilio()
    async with serve_app(twilio.app) as root:
        env = environment(
            tmp_path, **sms_settings(twilio, root), CAREBOT_PRACTICE__TIMEZONE=zone_at_noon(),
            CAREBOT_SMS__MAX_MESSAGES_PER_SECOND="100",
        )  # fmt: skip
        await practice_with_due_reminders(tmp_path, env, families)
        async with running(env) as bot:
            code, err = await bot.stop()
        assert code == 0, err
        assert "Traceback" not in err
        async with running(env) as bot:
            await twilio.wait_for_sent(families, timeout=90)
            code, err = await bot.stop()
        assert code == 0, err
        assert "Traceback" not in err
    assert sorted(m.to for m in twilio.sent) == [f"+1555200{n:04d}" for n in range(families)]


async def test_sigterm_drains_and_exits_0(tmp_path: Path) -> None:
    twilio = FakeTwilio()
    async with serve_app(twilio.app) as root:
        async with running(environment(tmp_path, **sms_settings(twilio, root))) as bot:
            started = time.monotonic()
            code, err = await bot.stop(signal.SIGTERM)
    assert code == 0, err
    assert "Traceback" not in err
    assert time.monotonic() - started < 10


async def test_ctrl_c_exits_0(tmp_path: Path) -> None:
    twilio = FakeTwilio()
    async with serve_app(twilio.app) as root:
        async with running(environment(tmp_path, **sms_settings(twilio, root))) as bot:
            code, err = await bot.stop(signal.SIGINT)
    assert code == 0, err
    assert "Traceback" not in err


async def test_the_process_logs_no_names_numbers_or_texts(tmp_path: Path) -> None:
    """Hostile, malformed and ordinary requests carrying a family's name, number and words,
    into a real ``carebot run``: its whole log (stderr) has none of them."""
    twilio, slack, telegram = FakeTwilio(), FakeSlack(), FakeTelegram()
    words = "Zephyrine Quillfeather here, my son's rash is spreading, purple giraffe"
    phone = "+15557770199"
    async with (
        serve_app(twilio.app) as twilio_root,
        serve_app(slack.app) as slack_root,
        serve_app(telegram.app) as telegram_root,
    ):
        slack.root = slack_root
        env = environment(
            tmp_path,
            **sms_settings(twilio, twilio_root)
            | telegram_settings(telegram_root)
            | {
                "CAREBOT_SLACK__BOT_TOKEN": slack.token,
                "CAREBOT_SLACK__SIGNING_SECRET": "slack-secret",
                "CAREBOT_SLACK__API_URL": f"{slack_root}/api/",
                "CAREBOT_SLACK__ESCALATION_CHANNEL": "C0COORD",
            },
        )
        async with running(env) as bot, httpx.AsyncClient(base_url=bot.url) as client:
            form = inbound_form(
                account_sid=twilio.account_sid, from_=phone, to="+15550100000", body=words,
                message_sid="SMcanary1",
            )  # fmt: skip
            body, headers = signed_form(twilio.auth_token, PUBLIC + "/sms/twilio", form)
            assert (
                await client.post("/sms/twilio", content=body, headers=headers)
            ).status_code == 200
            forged = {**headers, "X-Twilio-Signature": "Zm9yZ2Vk"}
            assert (
                await client.post("/sms/twilio", content=body, headers=forged)
            ).status_code == 403
            slack_body = f'{{"type": "event_callback", "event": {{"text": "{words}"}}}}'.encode()
            answer = await client.post(
                "/slack/events", content=slack_body, headers=sign("slack-secret", slack_body)
            )
            assert answer.status_code == 200  # signed, authentic, of no use: kept as a row
            unsigned = await client.post("/slack/events", content=slack_body + b"{{{")
            assert unsigned.status_code == 401
            secret = {"X-Telegram-Bot-Api-Secret-Token": "secret-for-tests"}
            malformed = {"update_id": 1, "message": {"text": words, "chat": {"id": 1}}}
            sent = await client.post("/telegram/webhook", json=malformed, headers=secret)
            assert sent.status_code == 200
            big = await client.post("/slack/events", content=words.encode() * 50_000)
            assert big.status_code == 413
            await twilio.wait_for_sent(1, timeout=10)  # the unknown number was answered
            code, stderr = await bot.stop()
    assert code == 0
    assert leaked(stderr) == [], stderr
    assert phone not in stderr and "rash" not in stderr
