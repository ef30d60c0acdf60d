"""Every recorded Twilio form (tests/fixtures/twilio/) through the real endpoints over HTTP,
signed as Twilio signs it: over the public URL and every parameter as posted, blank and
unknown ones included. What the family gets back is read at the fake Twilio; what the
practice keeps, in the record."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

import pytest

from bot.sandbox.fake_twilio import twilio_signature
from tests.channels import test_sms_e2e as sms_e2e
from tests.channels.test_sms_e2e import ANA, FROM, PUBLIC, SmsStack
from tests.fixtures.load import load, names

sms = sms_e2e.sms  # the SMS stack fixture (real twilio library, fake Twilio, signed webhooks)

INBOUND = [name for name in names("twilio") if name.startswith("inbound_")]
STATUS = [name for name in names("twilio") if name.startswith("status_")]
ONLY_TEXT = "Sorry, I can only read text, so I couldn't see what you sent."
_sids = itertools.count(1)


def sid(prefix: str = "SM") -> str:
    return f"{prefix}fx{next(_sids):030d}"


def inbound(stack: SmsStack, name: str, body: str = "Is there parking?", **values: str) -> dict:
    """An inbound fixture from Ana to the practice's number (MMS ids start MM)."""
    return load(
        "twilio",
        name,
        **{
            "MessageSid": sid("MM" if "mms" in name else "SM"),
            "AccountSid": stack.twilio.account_sid,
            "From": ANA,
            "To": FROM,
            "Body": body,
            **values,
        },
    )


def status(stack: SmsStack, name: str, message_sid: str, **values: str) -> dict:
    """A status callback fixture about a text the practice sent to Ana."""
    return load(
        "twilio",
        name,
        MessageSid=message_sid,
        AccountSid=stack.twilio.account_sid,
        From=FROM,
        To=ANA,
        **values,
    )


async def raw_post(stack: SmsStack, path: str, body: bytes, signature: str) -> tuple[int, str]:
    response = await stack.client.post(
        path,
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    return response.status_code, response.text


async def counts(stack: SmsStack) -> tuple[object, ...]:
    return (
        await stack.harness.scalar("SELECT COUNT(*) FROM message"),
        await stack.harness.scalar("SELECT COUNT(*) FROM inbound_event"),
        await stack.harness.scalar("SELECT COUNT(*) FROM unusable_request"),
    )


async def opted_out(stack: SmsStack) -> bool:
    return bool(
        await stack.harness.scalar(
            "SELECT opted_out_at IS NOT NULL FROM channel_identity WHERE address = ?",
            f"sms:{ANA}",
        )
    )


async def a_sent_text(stack: SmsStack) -> str:
    """Ana asks for HELP; the practice's answer goes out through the fake. Its Twilio sid."""
    before = len(stack.twilio.sent)
    assert await stack.text("HELP") == 200
    assert len(stack.twilio.sent) == before + 1
    return stack.twilio.sent[-1].sid


def test_the_fixtures_this_file_drives_are_all_there() -> None:
    assert set(INBOUND) == {
        "inbound_mms_no_body",
        "inbound_sms",
        "inbound_sms_blank_geo",
        "inbound_sms_no_service",
        "inbound_sms_unknown_param",
        "inbound_stop",
    }
    assert set(STATUS) == {
        "status_delivered",
        "status_failed_21610",
        "status_sent",
        "status_undelivered_30003",
    }


@pytest.mark.parametrize("name", INBOUND)
async def test_every_inbound_fixture_signed_as_twilio_signs_it_is_taken(
    sms: SmsStack, name: str
) -> None:
    form = inbound(sms, name)
    assert "" in form.values()  # every fixture has blank parameters, and they are signed too
    assert await sms.post("/sms/twilio", form) == 200
    await sms.deliver()
    recorded = await sms.harness.scalar(
        "SELECT body FROM message WHERE direction = 'in' AND provider_message_id = ?",
        form["MessageSid"],
    )
    expected = {"inbound_stop": "STOP", "inbound_mms_no_body": "[media]"}
    assert recorded == expected.get(name, "Is there parking?")
    assert await sms.harness.scalar("SELECT COUNT(*) FROM unusable_request") == 0


@pytest.mark.parametrize("name", INBOUND)
async def test_a_form_with_its_blank_fields_dropped_fails_the_signature(
    sms: SmsStack, name: str
) -> None:
    """Twilio signs the blank parameters too: a form missing them is not the one it signed."""
    form = inbound(sms, name, body="STOP")
    signature = twilio_signature(sms.twilio.auth_token, PUBLIC + "/sms/twilio", form)
    without_blanks = {key: value for key, value in form.items() if value != ""}
    assert without_blanks != form
    before = await counts(sms)
    status_code, _ = await raw_post(
        sms, "/sms/twilio", urlencode(without_blanks).encode(), signature
    )
    assert status_code == 403
    assert await counts(sms) == before
    assert not await opted_out(sms)
    assert sms.twilio.sent == []
    # The full form with the same signature is Twilio's own post: taken.
    status_code, _ = await raw_post(sms, "/sms/twilio", urlencode(form).encode(), signature)
    assert status_code == 200


async def test_an_unknown_parameter_changes_the_signature_and_is_signed_over(
    sms: SmsStack,
) -> None:
    form = inbound(sms, "inbound_sms_unknown_param")
    signature = twilio_signature(sms.twilio.auth_token, PUBLIC + "/sms/twilio", form)
    known_only = {k: v for k, v in form.items() if k not in ("AddOns", "CarebotFutureParam")}
    assert (await raw_post(sms, "/sms/twilio", urlencode(known_only).encode(), signature))[0] == 403
    assert (await raw_post(sms, "/sms/twilio", urlencode(form).encode(), signature))[0] == 200


async def test_a_picture_only_mms_is_answered_that_only_text_is_read(sms: SmsStack) -> None:
    form = inbound(sms, "inbound_mms_no_body")
    assert form["Body"] == "" and form["NumMedia"] == "2"
    assert await sms.post("/sms/twilio", form) == 200
    await sms.deliver()
    [reply] = sms.twilio.to(ANA)
    assert reply.startswith(ONLY_TEXT)
    assert "Bright Steps Therapy at +1 555 010 2030" in reply
    body = await sms.harness.scalar(
        "SELECT body FROM message WHERE direction = 'in' AND provider_message_id = ?",
        form["MessageSid"],
    )
    assert isinstance(body, str) and body.startswith("[media]")
    assert "twilio.com" not in body  # the media itself is never kept


async def test_a_picture_with_words_is_handled_as_the_words(sms: SmsStack) -> None:
    form = inbound(sms, "inbound_mms_no_body")
    form["Body"] = "HELP"
    assert await sms.post("/sms/twilio", form) == 200
    await sms.deliver()
    [reply] = sms.twilio.to(ANA)
    assert reply.startswith("Bright Steps Therapy: appointment reminders and messages.")


@pytest.mark.parametrize("body", ["", "   "])
async def test_a_blank_text_is_answered_only_text_not_passed_to_a_person(
    sms: SmsStack, body: str
) -> None:
    """A text with no words and no media (an MMS a carrier stripped, a phone that sends blank
    texts): there is nothing for a coordinator to read."""
    form = inbound(sms, "inbound_sms", body=body)
    assert await sms.post("/sms/twilio", form) == 200
    await sms.deliver()
    [reply] = sms.twilio.to(ANA)
    assert reply.startswith(ONLY_TEXT)
    assert await sms.harness.scalar("SELECT COUNT(*) FROM escalation") == 0


async def test_advanced_opt_out_stop_is_recorded_without_a_second_answer(sms: SmsStack) -> None:
    form = inbound(sms, "inbound_stop")
    assert form["OptOutType"] == "STOP"
    assert await sms.post("/sms/twilio", form) == 200
    await sms.deliver()
    assert await opted_out(sms)
    assert sms.twilio.to(ANA) == []  # Twilio already answered the family
    assert await sms.harness.scalar("SELECT COUNT(*) FROM message WHERE direction = 'out'") == 0
    # And nothing more goes to the number.
    assert await sms.text("what time is my appointment?") == 200
    assert sms.twilio.to(ANA) == []


async def test_advanced_opt_out_start_opts_back_in_silently(sms: SmsStack) -> None:
    assert await sms.post("/sms/twilio", inbound(sms, "inbound_stop")) == 200
    start = inbound(sms, "inbound_stop")
    start["Body"], start["OptOutType"] = "START", "START"
    assert await sms.post("/sms/twilio", start) == 200
    await sms.deliver()
    assert not await opted_out(sms)
    assert sms.twilio.to(ANA) == []
    assert await sms.text("HELP") == 200  # HELP without OptOutType: carebot answers
    assert sms.twilio.to(ANA)[-1].startswith("Bright Steps Therapy: appointment reminders")


async def test_status_fixtures_move_a_text_from_sent_to_delivered(sms: SmsStack) -> None:
    message_sid = await a_sent_text(sms)
    state = "SELECT status FROM message WHERE provider_message_id = ?"
    assert await sms.harness.scalar(state, message_sid) == "sent"
    assert await sms.post("/sms/twilio/status", status(sms, "status_sent", message_sid)) == 200
    assert await sms.harness.scalar(state, message_sid) == "sent"
    delivered = status(sms, "status_delivered", message_sid)
    assert await sms.post("/sms/twilio/status", delivered) == 200
    assert await sms.harness.scalar(state, message_sid) == "delivered"
    # A late "sent" (reports come in any order) does not move it back.
    assert await sms.post("/sms/twilio/status", status(sms, "status_sent", message_sid)) == 200
    assert await sms.harness.scalar(state, message_sid) == "delivered"
    assert await sms.harness.scalar("SELECT COUNT(*) FROM unusable_request") == 0


async def test_an_undelivered_report_fails_the_text_with_the_carriers_code(sms: SmsStack) -> None:
    message_sid = await a_sent_text(sms)
    report = status(sms, "status_undelivered_30003", message_sid)
    assert await sms.post("/sms/twilio/status", report) == 200
    assert (
        await sms.harness.scalar(
            "SELECT status || ' / ' || error FROM message WHERE provider_message_id = ?",
            message_sid,
        )
        == "failed / provider error 30003"
    )
    assert not await opted_out(sms)  # an unreachable handset is not an opt-out


async def test_a_failed_report_with_21610_opts_the_number_out(sms: SmsStack) -> None:
    message_sid = await a_sent_text(sms)
    report = status(sms, "status_failed_21610", message_sid)
    assert await sms.post("/sms/twilio/status", report) == 200
    assert (
        await sms.harness.scalar(
            "SELECT status FROM message WHERE provider_message_id = ?", message_sid
        )
        == "failed"
    )
    assert await opted_out(sms)
    sent = len(sms.twilio.sent)
    assert await sms.text("HELP?? anyone") == 200
    assert len(sms.twilio.sent) == sent


@pytest.mark.parametrize("name", STATUS)
async def test_a_status_for_a_text_carebot_never_sent_is_taken_and_changes_nothing(
    sms: SmsStack, name: str
) -> None:
    before = await counts(sms)
    assert await sms.post("/sms/twilio/status", status(sms, name, sid())) == 200
    assert await counts(sms) == before
    assert not await opted_out(sms)


async def test_a_status_nobody_documents_is_kept_as_unusable(sms: SmsStack) -> None:
    message_sid = await a_sent_text(sms)
    report = status(sms, "status_sent", message_sid)
    report["SmsStatus"] = report["MessageStatus"] = "teleported"
    signature = twilio_signature(sms.twilio.auth_token, PUBLIC + "/sms/twilio/status", report)
    response = await sms.client.post(
        "/sms/twilio/status",
        content=urlencode(report),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert response.status_code == 200
    assert response.text == "<Response/>"
    assert (
        await sms.harness.scalar(
            "SELECT status FROM message WHERE provider_message_id = ?", message_sid
        )
        == "sent"
    )
    row = await sms.harness.scalar(
        "SELECT channel || ' / ' || reason || ' / ' || size FROM unusable_request"
    )
    assert row == (
        f"sms / status callback without a message id or a known status / {len(urlencode(report))}"
    )


async def test_an_inbound_form_without_from_is_kept_as_unusable(sms: SmsStack) -> None:
    form = inbound(sms, "inbound_sms")
    del form["From"]
    assert await sms.post("/sms/twilio", form) == 200
    assert await sms.harness.scalar("SELECT COUNT(*) FROM message") == 0
    assert await sms.harness.scalar("SELECT COUNT(*) FROM inbound_event") == 0
    assert (
        await sms.harness.scalar("SELECT reason FROM unusable_request WHERE channel = 'sms'")
        == "inbound message without From or MessageSid"
    )
    # The body is never kept: only its size.
    assert await sms.harness.scalar("SELECT size FROM unusable_request") == len(urlencode(form))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"Body=caf\xe9&From=%2B15551230001", id="latin-1"),
        pytest.param("Body=café&From=%2B15551230001".encode(), id="raw-utf-8"),
        pytest.param(b"Body=%FF%FE&From=%2B15551230001", id="escaped-not-utf-8"),
    ],
)
async def test_a_body_twilio_could_not_have_sent_is_refused_and_writes_nothing(
    sms: SmsStack, body: bytes
) -> None:
    """Twilio percent-encodes UTF-8: raw bytes past ASCII, or escapes that are not UTF-8, are
    not its post, whatever signature comes with them."""
    params = {"Body": "café", "From": ANA, "MessageSid": sid()}
    signature = twilio_signature(sms.twilio.auth_token, PUBLIC + "/sms/twilio", params)
    before = await counts(sms)
    status_code, _ = await raw_post(sms, "/sms/twilio", body, signature)
    assert status_code == 403
    assert await counts(sms) == before
    assert sms.twilio.sent == []


async def test_a_public_url_with_a_query_string_is_signed_with_it(sms: SmsStack) -> None:
    form = inbound(sms, "inbound_sms", body="HELP")
    assert await sms.post("/sms/twilio?x=1", form) == 200  # signed over ...?x=1
    await sms.deliver()
    assert sms.twilio.to(ANA)[-1].startswith("Bright Steps Therapy: appointment reminders")
    # Signed without the query, posted with it: not what Twilio signed.
    other = inbound(sms, "inbound_sms", body="HELP")
    signature = twilio_signature(sms.twilio.auth_token, PUBLIC + "/sms/twilio", other)
    status_code, _ = await raw_post(sms, "/sms/twilio?x=1", urlencode(other).encode(), signature)
    assert status_code == 403
