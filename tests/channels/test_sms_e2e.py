"""End to end on SMS: the twilio library against the fake Twilio API, signed webhooks in."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.app import CareBot
from bot.config import PracticeSettings, Settings, SmsSettings
from bot.sandbox.fake_twilio import FakeTwilio, signed_form, twilio_signature
from bot.sandbox.server import serve_app
from bot.sandbox.twilio_forms import inbound_form, status_form
from bot.web import build_web
from storage.clock import FakeClock
from storage.db import Database
from storage.models import Guardian
from storage.record import Record
from tests.harness import Harness

PUBLIC = "https://carebot.example.org"
FROM = "+15550100000"
ANA = "+15551230001"
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)  # Thursday 3:30 PM in New York
_sids = itertools.count(1)


@dataclass
class SmsStack:
    twilio: FakeTwilio
    carebot: CareBot
    client: httpx.AsyncClient
    harness: Harness

    async def post(self, path: str, params: dict[str, str], signature: str | None = None) -> int:
        body, headers = signed_form(self.twilio.auth_token, PUBLIC + path, params, signature)
        response = await self.client.post(path, content=body, headers=headers)
        return response.status_code

    async def text(self, body: str, sender: str = ANA, sid: str | None = None, **form: Any) -> int:
        """A text from ``sender`` as Twilio posts it: every parameter, blank ones included."""
        params = inbound_form(
            account_sid=self.twilio.account_sid,
            from_=sender,
            to=FROM,
            body=body,
            message_sid=sid or f"SMin{next(_sids):06d}",
            **form,
        )
        status = await self.post("/sms/twilio", params)
        await self.deliver()
        return status

    async def deliver(self) -> None:
        for _round in range(10):
            await self.carebot.outbox.deliver_due()
            if not await self.harness.scalar(
                "SELECT COUNT(*) FROM message WHERE status = 'queued' AND not_before <= ?",
                self.harness.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
            ):
                return
            self.harness.clock.advance(timedelta(seconds=1))

    def report(self, sid: str, status: str, error_code: str | None = None) -> dict[str, str]:
        """Twilio's status callback for a text we sent (every parameter it posts)."""
        return status_form(
            account_sid=self.twilio.account_sid,
            message_sid=sid,
            from_=FROM,
            to=ANA,
            status=status,
            error_code=error_code,
        )

    async def remind(self) -> None:
        await self.carebot.reminders.run_due()
        await self.deliver()


async def give_phone(
    harness: Harness, guardian_id: str, first: str, last: str, phone: str, language: str = "en"
) -> None:
    """Record a guardian's phone with SMS consent, as the guardians CSV import does."""
    async with harness.db.transaction() as conn:
        await Record(conn).people.save_guardian(
            Guardian(
                id=guardian_id,
                first_name=first,
                last_name=last,
                phone=phone,
                language=language,
                sms_consent=True,
                timezone=None,
            ),
            harness.clock.now(),
        )


@pytest.fixture
async def sms(
    tmp_path: Path, clock: FakeClock, request: pytest.FixtureRequest
) -> AsyncIterator[SmsStack]:
    """The SMS stack; ``indirect`` parametrization may pass practice settings."""
    practice_settings = getattr(request, "param", {})
    twilio = FakeTwilio()
    async with serve_app(twilio.app) as root:
        settings = Settings(
            database=str(tmp_path / "carebot.db"),
            public_url=PUBLIC,
            sms=SmsSettings(
                account_sid=twilio.account_sid,
                auth_token=SecretStr(twilio.auth_token),
                from_number=FROM,
                api_url=root,
            ),
            practice=PracticeSettings(
                name="Bright Steps Therapy",
                phone="+1 555 010 2030",
                timezone="America/New_York",
                **practice_settings,
            ),
        )
        db = await Database.open(settings.database)
        carebot = CareBot(settings, db, clock)
        await carebot.start(run_outbox=False)
        harness = Harness(db, clock)
        await harness.family("g-ana", "Ana", [("p-maya", "Maya", "2019-03-14")])
        await give_phone(harness, "g-ana", "Ana", "Rivera", ANA)
        async with serve_app(build_web(carebot)) as bot_root:
            async with httpx.AsyncClient(base_url=bot_root) as client:
                yield SmsStack(twilio, carebot, client, harness)
        await carebot.stop()
        await db.close()


async def test_a_reminder_goes_out_by_text(sms: SmsStack) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    [body] = sms.twilio.to(ANA)
    assert body == (
        "Bright Steps Therapy: Maya has an appointment Thu, Nov 26 at 3:30 PM."
        "\n\nReply 1 to confirm, 2 to cancel, 3 to reschedule."
    )
    assert sms.twilio.sent[0].from_ == FROM
    assert sms.twilio.sent[0].status_callback == f"{PUBLIC}/sms/twilio/status"


async def test_stop_opts_out_at_once_and_nothing_follows(sms: SmsStack) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    assert await sms.text("Stop") == 200
    assert sms.twilio.to(ANA) == [
        "You're unsubscribed from Bright Steps Therapy messages and will get nothing more."
        " Reply START to subscribe again."
    ]
    assert (
        await sms.harness.scalar(
            "SELECT opted_out_at IS NOT NULL FROM channel_identity WHERE address = ?", f"sms:{ANA}"
        )
        == 1
    )
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    assert await sms.text("what time is it?") == 200
    assert len(sms.twilio.to(ANA)) == 1  # no reminder, no answer

    assert await sms.text("START") == 200
    assert sms.twilio.to(ANA)[-1].startswith("You're subscribed to Bright Steps Therapy messages")


async def test_spanish_opt_out_and_help(sms: SmsStack) -> None:
    assert await sms.text("AYUDA") == 200
    assert sms.twilio.to(ANA)[-1] == (
        "Bright Steps Therapy: recordatorios de citas y mensajes. Para ayuda llame al"
        " +1 555 010 2030. Responda ALTO para darse de baja."
    )
    assert await sms.text("no más") == 200
    assert sms.twilio.to(ANA)[-1].startswith("Se dio de baja de los mensajes de Bright Steps")


async def test_help_in_english(sms: SmsStack) -> None:
    await sms.text("help")
    assert sms.twilio.to(ANA) == [
        "Bright Steps Therapy: appointment reminders and messages. For help call"
        " +1 555 010 2030. Reply STOP to unsubscribe."
    ]


async def test_a_forged_or_missing_signature_is_refused_and_writes_nothing(sms: SmsStack) -> None:
    before = await sms.harness.scalar("SELECT COUNT(*) FROM message")
    params = inbound_form(
        account_sid=sms.twilio.account_sid, from_=ANA, to=FROM, body="STOP", message_sid="SMx"
    )
    assert await sms.post("/sms/twilio", params, signature="bm90IGEgc2lnbmF0dXJl") == 403
    assert await sms.post("/sms/twilio", params, signature="") == 403
    wrong_url = twilio_signature(
        sms.twilio.auth_token, "https://elsewhere.example/sms/twilio", params
    )
    assert await sms.post("/sms/twilio", params, signature=wrong_url) == 403
    assert await sms.harness.scalar("SELECT COUNT(*) FROM message") == before
    assert (
        await sms.harness.scalar(
            "SELECT opted_out_at FROM channel_identity WHERE address = ?", f"sms:{ANA}"
        )
        is None
    )


async def test_a_duplicate_message_sid_is_ignored(sms: SmsStack) -> None:
    assert await sms.text("HELP", sid="SMdup") == 200
    assert await sms.text("HELP", sid="SMdup") == 200
    assert len(sms.twilio.to(ANA)) == 1
    assert (
        await sms.harness.scalar(
            "SELECT COUNT(*) FROM message WHERE direction = 'in' AND provider_message_id = 'SMdup'"
        )
        == 1
    )


async def test_twilio_21610_marks_the_number_opted_out(sms: SmsStack) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    sms.twilio.fail_next(code=21610, message="Attempt to send to unsubscribed recipient")
    await sms.remind()
    assert sms.twilio.to(ANA) == []
    assert (
        await sms.harness.scalar(
            "SELECT opted_out_at IS NOT NULL FROM channel_identity WHERE address = ?", f"sms:{ANA}"
        )
        == 1
    )


async def test_status_callbacks_in_any_order(sms: SmsStack) -> None:
    await sms.text("help")
    [sent] = sms.twilio.sent
    status = "SELECT status FROM message WHERE provider_message_id = ?"
    delivered = sms.report(sent.sid, "delivered")
    late_sent = sms.report(sent.sid, "sent")
    assert await sms.post("/sms/twilio/status", delivered) == 200
    assert await sms.post("/sms/twilio/status", late_sent) == 200
    assert await sms.harness.scalar(status, sent.sid) == "delivered"
    forged = sms.report(sent.sid, "failed")
    assert await sms.post("/sms/twilio/status", forged, signature="x") == 403
    assert await sms.harness.scalar(status, sent.sid) == "delivered"


async def test_a_status_report_of_21610_opts_the_number_out(sms: SmsStack) -> None:
    await sms.text("help")
    [sent] = sms.twilio.sent
    report = sms.report(sent.sid, "undelivered", "21610")
    assert await sms.post("/sms/twilio/status", report) == 200
    assert (
        await sms.harness.scalar(
            "SELECT status FROM message WHERE provider_message_id = ?", sent.sid
        )
        == "failed"
    )
    assert (
        await sms.harness.scalar(
            "SELECT opted_out_at IS NOT NULL FROM channel_identity WHERE address = ?", f"sms:{ANA}"
        )
        == 1
    )


async def test_numbered_replies_confirm_and_cancel_with_a_reason(sms: SmsStack) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    sms.harness.clock.set(VISIT - timedelta(hours=72))
    await sms.remind()
    [reminder] = sms.twilio.to(ANA)
    assert reminder == (
        "Bright Steps Therapy: Maya has an appointment Thu, Nov 26 at 3:30 PM."
        "\n\nReply 1 to confirm, 2 to cancel, 3 to reschedule."
    )
    assert "buttons" not in reminder and "CANCEL" not in reminder

    assert await sms.text("1") == 200
    assert sms.twilio.to(ANA)[-1].startswith("Thank you! Maya's appointment on Thursday")
    assert (await sms.harness.appointment_row("a-1")).participant_status == "accepted"

    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    assert await sms.text(" 2 ") == 200
    assert sms.twilio.to(ANA)[-1] == (
        "We're sorry Maya can't make it on Thursday, November 26 at 3:30 PM. Why are you"
        " cancelling?\n\nReply with a number:\n1 = Sick\n2 = Schedule conflict\n3 = Other reason"
        "\n4 = Keep the appointment"
    )
    assert await sms.text("1") == 200
    row = await sms.harness.appointment_row("a-1")
    assert (row.status, row.cancellation_reason) == ("cancelled", "sick")
    assert "is cancelled" in sms.twilio.to(ANA)[-1]


async def test_a_number_that_is_not_a_choice_is_not_pressed(sms: SmsStack) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    assert await sms.text("7") == 200
    row = await sms.harness.appointment_row("a-1")
    assert row.participant_status == "needs-action" and row.status == "booked"
    assert sms.twilio.to(ANA)[-1].startswith("Sorry, I couldn't match that to a choice.")
    assert await sms.harness.scalar("SELECT COUNT(*) FROM escalation") == 0
    assert await sms.text("9") == 200  # still nothing it can place: a person takes over
    assert await sms.harness.scalar("SELECT reason FROM escalation") == "not-understood"
    assert sms.twilio.to(ANA)[-1].startswith("Thanks for your message. To talk to a person")


LUZ = "+15551230002"


async def test_a_household_answers_each_visit_with_a_number_and_a_letter(sms: SmsStack) -> None:
    await sms.harness.family(
        "g-luz", "Luz", [("p-leo", "Leo", "2017-05-02"), ("p-sofia", "Sofía", "2020-11-09")], "es"
    )
    await give_phone(sms.harness, "g-luz", "Luz", "Rivera", LUZ, "es")
    await sms.harness.appointment("a-leo", "p-leo", VISIT)
    await sms.harness.appointment("a-sofia", "p-sofia", VISIT + timedelta(hours=1))
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    [reminder] = sms.twilio.to(LUZ)
    assert reminder == (
        "Bright Steps Therapy, jue, 26 nov:\n\n1 = Leo a las 15:30\n2 = Sofía a las 16:30"
        "\nResponda 1C confirmar, 1X cancelar, 1R reprogramar la cita 1."
    )
    assert await sms.text("1", sender=LUZ) == 200  # ambiguous: nothing is pressed
    assert (await sms.harness.appointment_row("a-leo")).participant_status == "needs-action"
    assert sms.twilio.to(LUZ)[-1].startswith("Perdón, no pude relacionar eso con una opción.")
    assert await sms.text("2c", sender=LUZ) == 200
    assert (await sms.harness.appointment_row("a-sofia")).participant_status == "accepted"
    assert (await sms.harness.appointment_row("a-leo")).participant_status == "needs-action"
    assert "confirmada" in sms.twilio.to(LUZ)[-1]


async def test_wrong_number_stops_the_number_and_tells_a_person(sms: SmsStack) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    assert await sms.text("Wrong number!") == 200
    assert sms.twilio.to(ANA) == [
        "Sorry for the trouble. We won't text this number again. (Bright Steps Therapy)"
    ]
    assert (
        await sms.harness.scalar(
            "SELECT opted_out_at IS NOT NULL FROM channel_identity WHERE address = ?", f"sms:{ANA}"
        )
        == 1
    )
    assert await sms.harness.scalar("SELECT COUNT(*) FROM escalation") == 1
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    assert len(sms.twilio.to(ANA)) == 1


async def test_quiet_hours_hold_a_text_reminder_until_morning_in_the_familys_timezone(
    sms: SmsStack,
) -> None:
    async with sms.harness.db.transaction() as conn:
        await conn.execute(
            "UPDATE guardian SET timezone = 'America/Los_Angeles' WHERE id = 'g-ana'"
        )
    # Booked on Thursday at 6:00 AM Los Angeles time (9:00 AM at the practice in New York) for
    # Friday at the same time: its 24-hour reminder is due now, in the family's night.
    sms.harness.clock.set(datetime(2026, 11, 26, 14, 0, tzinfo=UTC))
    await sms.harness.appointment("a-1", "p-maya", datetime(2026, 11, 27, 14, 0, tzinfo=UTC))
    await sms.remind()
    assert sms.twilio.to(ANA) == []  # held, not dropped
    sms.harness.clock.set(datetime(2026, 11, 26, 15, 59, tzinfo=UTC))
    await sms.remind()
    assert sms.twilio.to(ANA) == []
    sms.harness.clock.set(datetime(2026, 11, 26, 16, 0, tzinfo=UTC))  # 8:00 AM in Los Angeles
    await sms.remind()
    [reminder] = sms.twilio.to(ANA)
    assert reminder.startswith(
        "Bright Steps Therapy: Maya has an appointment Fri, Nov 27 at 9:00 AM."
    )


async def test_at_most_one_reminder_text_a_day_per_number(sms: SmsStack) -> None:
    # Thursday's 24-hour reminder and Saturday's 72-hour reminder fall due the same Wednesday.
    await sms.harness.appointment("a-thu", "p-maya", VISIT)
    await sms.harness.appointment("a-sat", "p-maya", VISIT + timedelta(days=2))
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    assert len(sms.twilio.to(ANA)) == 1
    assert "Thu, Nov 26" in sms.twilio.to(ANA)[0]
    sms.harness.clock.advance(timedelta(hours=3))
    await sms.remind()
    assert len(sms.twilio.to(ANA)) == 1  # held for tomorrow, not dropped
    sms.harness.clock.set(datetime(2026, 11, 26, 13, 0, tzinfo=UTC))  # Thursday 8:00 AM
    await sms.remind()
    assert len(sms.twilio.to(ANA)) == 2
    assert "Sat, Nov 28" in sms.twilio.to(ANA)[1]


async def test_next_and_language_by_word(sms: SmsStack) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    assert await sms.text("NEXT") == 200
    assert sms.twilio.to(ANA)[-1].startswith("Your upcoming appointments:")
    assert "Maya: Thursday, November 26 at 3:30 PM" in sms.twilio.to(ANA)[-1]
    assert await sms.text("idioma") == 200
    assert sms.twilio.to(ANA)[-1].endswith("Reply with a number:\n1 = English\n2 = Español")
    assert await sms.text("2") == 200
    assert await sms.harness.scalar("SELECT language FROM guardian WHERE id = 'g-ana'") == "es"
    assert await sms.text("próximas") == 200
    assert sms.twilio.to(ANA)[-1].startswith("Sus próximas citas:")


@pytest.mark.parametrize(
    "sms", [{"sms_weekly_cap": 2, "reminder_offsets_hours": [24]}], indirect=True
)
async def test_the_practice_weekly_cap_holds_a_third_reminder_text(sms: SmsStack) -> None:
    for day, appointment_id in enumerate(("a-wed", "a-thu", "a-fri")):
        start = datetime(2026, 11, 25 + day, 20, 30, tzinfo=UTC)
        await sms.harness.appointment(appointment_id, "p-maya", start)
    for day in range(3):
        sms.harness.clock.set(datetime(2026, 11, 24 + day, 20, 30, tzinfo=UTC))
        await sms.remind()
    [wednesday, thursday] = sms.twilio.to(ANA)
    assert "Wed, Nov 25" in wednesday and "Thu, Nov 26" in thursday
    assert (
        await sms.harness.scalar("SELECT status FROM reminder WHERE appointment_id = 'a-fri'")
        == "pending"
    )


async def test_two_families_sharing_a_number_each_see_only_their_own(sms: SmsStack) -> None:
    await sms.harness.family("g-bea", "Bea", [("p-nico", "Nico", "2018-02-02")])
    await give_phone(sms.harness, "g-bea", "Bea", "Soto", ANA)  # the same phone as Ana's
    await sms.harness.appointment("a-maya", "p-maya", VISIT)
    await sms.harness.appointment("a-nico", "p-nico", VISIT + timedelta(days=1))
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    sms.harness.clock.set(VISIT)
    await sms.remind()
    [to_ana, to_bea] = sms.twilio.to(ANA)
    assert "Maya" in to_ana and "Nico" not in to_ana
    assert "Nico" in to_bea and "Maya" not in to_bea
    assert await sms.text("1") == 200  # answers the last message: Bea's, about Nico
    assert (await sms.harness.appointment_row("a-nico")).participant_status == "accepted"
    assert (await sms.harness.appointment_row("a-maya")).participant_status == "needs-action"
    assert sms.twilio.to(ANA)[-1].startswith("Thank you! Nico's appointment")


async def test_free_text_after_a_reminder_is_clarified_once_then_goes_to_a_person(
    sms: SmsStack,
) -> None:
    await sms.harness.appointment("a-1", "p-maya", VISIT)
    sms.harness.clock.set(VISIT - timedelta(hours=24))
    await sms.remind()
    assert await sms.text("ok see you") == 200
    assert sms.twilio.to(ANA)[-1].startswith("Sorry, I couldn't match that to a choice.")
    assert await sms.harness.scalar("SELECT COUNT(*) FROM escalation") == 0
    assert await sms.text("yes we will be there") == 200
    assert await sms.harness.scalar("SELECT COUNT(*) FROM escalation") == 1
    assert await sms.text("1") == 200  # the reminder's choices still stand
    assert (await sms.harness.appointment_row("a-1")).participant_status == "accepted"
