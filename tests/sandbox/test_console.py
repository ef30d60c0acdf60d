"""The sandbox console over HTTP, as its page uses it: actions in, server-rendered panes out.

The bot behind it is the real one on the emulators; what is asserted is what a person trying
the sandbox sees (the phone, the Slack pane, the clock) and what the record holds.
"""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bot.sandbox.actors import telegram_user_id
from bot.sandbox.emulators import COORDINATORS
from bot.sandbox.runtime import Sandbox, open_sandbox
from storage.clock import MovableClock
from storage.record import Record
from tests.sandbox.conftest import until

MEGAN = {"family": "g-megan", "channel": "sms"}
PRIYA = {"family": "g-priya", "channel": "telegram"}
DANA = "U0DEMO01"  # Dana Rivera, Ethan's and Arjun's clinician
TAMARA = "U0DEMO05"  # Tamara Brooks, the coordinator


async def act(client: httpx.AsyncClient, action: str, **fields: Any) -> dict[str, Any]:
    response = await client.post("/console/action", json={"action": action, **fields})
    answer = response.json()
    assert response.status_code == 200, answer
    return answer


async def panes(client: httpx.AsyncClient, **params: str) -> dict[str, Any]:
    response = await client.get("/console/panes", params=params)
    assert response.status_code == 200
    return response.json()


async def appointment_status(sandbox: Sandbox, appointment_id: str) -> str:
    """The family's answer on the record (FHIR participant status: accepted = confirmed)."""
    async with sandbox.db.read() as conn:
        appointment = await Record(conn).appointments.get(appointment_id)
    assert appointment is not None
    return appointment.participant_status


async def test_the_page_shows_both_panes_and_says_no_real_platform_is_called(
    sandbox: Sandbox,
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        page = await client.get("/")
        assert page.status_code == 200
        assert "no real platform is called" in page.text
        assert "Megan Thompson (Ethan)" in page.text  # the guardian picker
        assert "Tamara Brooks (coordinator)" in page.text  # the staff picker
        script = await client.get("/console/static/console.js")
        assert script.status_code == 200 and "EventSource" in script.text
        shown = await panes(client, **MEGAN, staff=TAMARA)
        assert 'Practice time: <b id="clock-now">Mon 23 Nov 2026, 09:00</b>' in shown["clock"]
        assert "Texts to +15550100101" in shown["phone"]
        assert "Children: Ethan, born 2018-04-12" in shown["phone"]
        assert "#coordination" in shown["slack"]
        # A clinician does not see the coordinators' channel.
        assert "#coordination" not in (await panes(client, staff=DANA))["slack"]
        # The first view says what is happening now and what to try.
        assert (
            "It is 09:00 at the practice: reminders due by now have gone out." in (shown["intro"])
        )
        assert "<summary>Things to try</summary>" in shown["intro"]
        assert 'id="activity"' in page.text


async def test_a_reminded_parent_replies_1_and_the_clinician_sees_the_confirmation(
    sandbox: Sandbox,
) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        # Monday 9:00: the reminders already due went out when the sandbox started.
        await until(sandbox, lambda: sandbox.phones.sms_thread("+15550100101"), "Megan's reminder")
        phone = (await panes(client, **MEGAN))["phone"]
        assert "Ethan has an appointment Mon, Nov 23 at 10:00 AM" in phone
        assert "Reply 1 to confirm, 2 to cancel, 3 to reschedule." in phone

        await act(client, "phone-send", **MEGAN, text="1")
        await until(sandbox, lambda: sandbox.fakes.slack.messages(DANA), "Dana's DM")
        await until(sandbox, lambda: len(sandbox.phones.sms_thread("+15550100101")) >= 3, "reply")
        assert await appointment_status(sandbox, "a-demo-01") == "accepted"
        slack = (await panes(client, staff=DANA))["slack"]
        assert "Ethan" in slack and "confirmed" in slack
        phone = (await panes(client, **MEGAN))["phone"]
        assert phone.count('class="bubble mine"') == 1  # the "1" Megan sent
        assert "confirmed" in phone.lower()

        # The day view changes: Dana's /carebot today now shows the visit confirmed.
        await act(client, "slack-command", staff=DANA, text="today")
        await until(sandbox, lambda: sandbox.fakes.slack.notes_for(DANA), "the day view")
        day = (await panes(client, staff=DANA))["slack"]
        assert "Only visible to you" in day and "Ethan" in day


async def test_a_family_links_by_invite_writes_free_text_and_the_coordinator_answers(
    sandbox: Sandbox,
) -> None:
    chat = telegram_user_id("g-priya")
    telegram = sandbox.fakes.telegram
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        shown = await panes(client, **PRIYA)
        assert "Not linked on Telegram yet" in shown["phone"]
        linked = await act(client, "phone-link", **PRIYA)
        assert linked["note"].startswith("https://t.me/carebot_sandbox_bot?start=")
        await until(sandbox, lambda: telegram.sent_messages(chat), "the birth-date question")
        await act(client, "phone-send", **PRIYA, text="2016-08-21")  # Arjun's birthday
        await until(sandbox, lambda: len(telegram.sent_messages(chat)) >= 2, "the welcome")
        shown = await panes(client, **PRIYA)
        assert "Linked on Telegram" in shown["phone"]
        assert "You&#x27;re all set" in shown["phone"]

        await act(client, "phone-send", **PRIYA, text="Could Arjun move to Thursdays?")
        slack = sandbox.fakes.slack
        await until(sandbox, lambda: slack.messages(COORDINATORS), "the escalation")
        [escalation] = slack.messages(COORDINATORS)
        shown = await panes(client, staff=TAMARA)
        assert "Could Arjun move to Thursdays?" in shown["slack"]
        claim = escalation.buttons()["Claim"]
        await act(
            client, "slack-press", staff=TAMARA, action_id=claim["action_id"],
            value=claim["value"], conversation=COORDINATORS, ts=escalation.ts,
        )  # fmt: skip
        await until(sandbox, lambda: len(telegram.sent_messages(chat)) >= 3, "the claim notice")
        await act(
            client, "slack-reply", staff=TAMARA, conversation=COORDINATORS, ts=escalation.ts,
            text="Yes, Thursdays at 3:30 work. I'll move him from next week.",
        )  # fmt: skip
        await until(
            sandbox,
            lambda: "Thursdays at 3:30" in telegram.sent_messages(chat)[-1]["text"],
            "the answer on the phone",
        )
        phone = (await panes(client, **PRIYA))["phone"]
        assert "Yes, Thursdays at 3:30 work." in phone
        shown = await panes(client, staff=TAMARA)
        assert "Tamara Brooks" in shown["slack"] and "Thursdays at 3:30 work" in shown["slack"]
        # The post itself now says who holds it, and so does the activity, by name.
        assert "Claimed by @Tamara Brooks" in shown["activity"]
        assert "#C0COORD: change of a message <b>sent</b>" in shown["activity"]
        # In words, as a person reads the post: no emoji codes, no mrkdwn marks.
        assert "#C0COORD: A family needs a person — escalation #1" in shown["activity"]
        assert ":speech_balloon:" not in shown["activity"] and "*A family" not in shown["activity"]


async def test_telegram_buttons_on_a_reminder_confirm_it(sandbox: Sandbox) -> None:
    chat = telegram_user_id("g-priya")
    telegram = sandbox.fakes.telegram
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await act(client, "phone-link", **PRIYA)
        await until(sandbox, lambda: telegram.sent_messages(chat), "the birth-date question")
        await act(client, "phone-send", **PRIYA, text="2016-08-21")
        await until(sandbox, lambda: len(telegram.sent_messages(chat)) >= 2, "the welcome")
        # Arjun and Anika on Tuesday afternoon: reminded on Monday when the day opens.
        for _ in range(3):
            await act(client, "clock", step="next")
            if len(telegram.sent_messages(chat)) >= 3:
                break
        await until(sandbox, lambda: len(telegram.sent_messages(chat)) >= 3, "the reminder")
        reminder = telegram.transcript(chat)[-1]
        assert "Arjun" in reminder["text"]
        buttons = {
            b["text"]: b["callback_data"]
            for row in reminder["reply_markup"]["inline_keyboard"]
            for b in row
        }
        confirm = next(data for label, data in buttons.items() if label.startswith("Confirm"))
        await act(client, "phone-press", **PRIYA, message=reminder["message_id"], data=confirm)
        await until(
            sandbox,
            lambda: (
                telegram.transcript(chat)[-1]["text"] != reminder["text"]
                or len(telegram.transcript(chat)) > 3
            ),
            "the confirmation",
        )
        statuses = {await appointment_status(sandbox, a) for a in ("a-demo-04", "a-demo-05")}
        assert "accepted" in statuses


async def test_texts_are_reported_delivered_through_the_signed_status_callback(
    sandbox: Sandbox,
) -> None:
    megan = "+15550100101"
    await until(
        sandbox,
        lambda: any(
            sandbox.phones.status(t.sid) == "delivered" for t in sandbox.phones.sms_thread(megan)
        ),
        "Twilio's delivery report for Megan's reminder",
    )
    async with sandbox.db.read() as conn:
        cursor = await conn.execute(
            "SELECT status FROM message WHERE address = ? AND direction = 'out'",
            (f"sms:{megan}",),
        )
        assert [row[0] for row in await cursor.fetchall()] == ["delivered"]
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        shown = await panes(client, **MEGAN)
        assert "Delivered</span>" in shown["phone"]
        # The activity pane says it too, so nothing shows only in the terminal.
        assert re.search(
            r'<li class="delivered"><time>\d\d:\d\d</time> sms to Megan: [^<]*Ethan[^<]*'
            r"<b>delivered</b></li>",
            shown["activity"],
        ), shown["activity"]


async def test_next_reminders_jumps_the_clock_to_the_next_one_due_and_sends_it(
    sandbox: Sandbox, sandbox_clock: MovableClock
) -> None:
    grace = "+15550100104"  # Noah's mother: Thursday 16:00, reminded 72 hours before
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        assert not sandbox.phones.sms_thread(grace)
        moved = await act(client, "clock", step="next")
        assert moved["note"] == "1 message became due and went out"
        assert (
            sandbox_clock.now().astimezone(ZoneInfo("America/New_York")).strftime("%a %H:%M")
            == "Mon 16:00"
        )
        await until(sandbox, lambda: sandbox.phones.sms_thread(grace), "Grace's reminder")
        shown = await panes(client, family="g-grace", channel="sms")
        assert "Noah has an appointment Thu, Nov 26 at 4:00 PM" in shown["phone"]
        assert "1 message became due and went out" in shown["clock"]


async def test_a_clinician_posts_an_update_through_the_modal(sandbox: Sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await act(client, "slack-command", staff=DANA, text="update")
        await until(sandbox, lambda: sandbox.staff.open_view(DANA) is not None, "the modal")
        shown = await panes(client, staff=DANA)
        assert "Update about a patient" in shown["modal"]
        assert '<option value="p-ethan">Ethan Thompson</option>' in shown["modal"]
        view = shown["modal_id"]
        refused = await client.post(
            "/console/action",
            json={"action": "slack-submit", "staff": DANA, "view": view,
                  "values": {"patient": "p-ethan", "text": "", "audience": "family"}},
        )  # fmt: skip
        assert refused.json() == {"ok": False, "errors": {"text": "Write the update."}}
        assert (await panes(client, staff=DANA))["modal_id"] == view  # still open
        sent = await act(
            client, "slack-submit", staff=DANA, view=view,
            values={"patient": "p-ethan", "text": "Ethan practised his sounds at home.",
                    "audience": "family"},
        )  # fmt: skip
        assert sent == {"ok": True, "errors": {}}
        assert (await panes(client, staff=DANA))["modal"] == ""
        await until(
            sandbox,
            lambda: any("practised his sounds" in t.body for t in sandbox.fakes.twilio.sent),
            "the update on Megan's phone",
        )
        assert "practised his sounds" in (await panes(client, **MEGAN))["phone"]


async def test_the_clock_moves_forward_only_and_bad_actions_get_a_clear_error(
    sandbox: Sandbox, sandbox_clock: MovableClock
) -> None:
    start = sandbox_clock.offset
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await act(client, "clock", step="hour")
        assert sandbox_clock.offset == start + timedelta(hours=1)
        await act(client, "clock", step="day")
        assert sandbox_clock.offset == start + timedelta(hours=25)
        shown = await panes(client)
        assert "Tue 24 Nov 2026, 10:0" in shown["clock"]
        for body, status, error in (
            ({"action": "clock", "step": "back"}, 422, "unknown clock step 'back'"),
            ({"action": "phone-send", **MEGAN, "text": "  "}, 422, "type a message first"),
            ({"action": "launch"}, 422, "unknown action 'launch'"),
            ({"action": "slack-submit", "staff": DANA, "view": "V9", "values": {}}, 422,
             "that form is no longer open"),
        ):  # fmt: skip
            response = await client.post("/console/action", json=body)
            assert (response.status_code, response.json()["error"]) == (status, error)
        response = await client.post("/console/action", content=b"{not json")
        assert response.status_code == 400
        assert sandbox_clock.offset == start + timedelta(hours=25)


async def test_the_event_stream_announces_changes(sandbox: Sandbox) -> None:
    async with (
        httpx.AsyncClient(base_url=sandbox.url) as client,
        client.stream("GET", "/console/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        first = [await anext(lines) for _ in range(4)]
        assert first[0] == "retry: 1000"
        [announced] = [
            int(line.removeprefix("data: ")) for line in first if line.startswith("data")
        ]
        assert announced == sandbox.changes.version  # the page loads what it is told about
        await act(client, "clock", step="hour")
        async with asyncio.timeout(5):
            while not (line := await anext(lines)).startswith("data: "):
                pass
        assert int(line.removeprefix("data: ")) > announced


async def test_the_sandbox_keeps_its_state_until_reset(
    tmp_path: Path, sandbox_clock: MovableClock
) -> None:
    clock = sandbox_clock
    database = tmp_path / "sandbox.db"
    async with open_sandbox(database, clock=clock) as first:
        async with httpx.AsyncClient(base_url=first.url) as client:
            await until(first, lambda: first.phones.sms_thread("+15550100101"), "the reminder")
            await act(client, "phone-send", **MEGAN, text="1")
            await until(first, lambda: first.fakes.slack.messages(DANA), "the confirmation")
    async with open_sandbox(database, clock=clock) as again:
        assert await appointment_status(again, "a-demo-01") == "accepted"
    async with open_sandbox(database, clock=clock, reset=True) as fresh:
        assert await appointment_status(fresh, "a-demo-01") == "needs-action"


async def test_a_handoff_through_its_form_is_acknowledged_by_the_receiver(
    sandbox: Sandbox,
) -> None:
    chidi = "U0DEMO02"  # Chidi Okafor, occupational therapy
    slack = sandbox.fakes.slack
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await act(client, "slack-command", staff=DANA, text="handoff")
        await until(sandbox, lambda: sandbox.staff.open_view(DANA) is not None, "the form")
        shown = await panes(client, staff=DANA)
        assert "Hand off a patient" in shown["modal"]
        assert 'type="date" name="effective"' in shown["modal"]
        assert 'type="checkbox" name="tell_family" value="yes"' in shown["modal"]
        accepted = await act(
            client, "slack-submit", staff=DANA, view=shown["modal_id"],
            values={"patient": "p-ethan", "to": "s-okafor", "summary": "Working on /s/ sounds.",
                    "open_items": "", "effective": "2026-11-30", "tell_family": []},
        )  # fmt: skip
        assert accepted["ok"], accepted
        await until(sandbox, lambda: slack.messages(chidi), "the handoff in Chidi's DMs")
        shown = await panes(client, staff=chidi)
        assert "Working on /s/ sounds." in shown["slack"]
        [handoff] = slack.messages(chidi)
        acknowledge = handoff.buttons()["Acknowledge"]
        await act(
            client, "slack-press", staff=chidi, action_id=acknowledge["action_id"],
            value=acknowledge["value"], conversation=chidi, ts=handoff.ts,
        )  # fmt: skip
        await until(sandbox, lambda: slack.messages(DANA), "Dana hearing it was acknowledged")
        assert "Chidi Okafor" in (await panes(client, staff=DANA))["slack"]


async def test_the_coordinator_reassigns_an_escalation_through_its_form(sandbox: Sandbox) -> None:
    grace = {"family": "g-grace", "channel": "sms"}
    slack = sandbox.fakes.slack
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await act(client, "phone-send", **grace, text="Is there parking near the clinic?")
        await until(sandbox, lambda: slack.messages(COORDINATORS), "the escalation")
        [escalation] = slack.messages(COORDINATORS)
        reassign = escalation.buttons()["Reassign"]
        await act(
            client, "slack-press", staff=TAMARA, action_id=reassign["action_id"],
            value=reassign["value"], conversation=COORDINATORS, ts=escalation.ts,
        )  # fmt: skip
        await until(sandbox, lambda: sandbox.staff.open_view(TAMARA) is not None, "the form")
        shown = await panes(client, staff=TAMARA)
        assert "Who should take it?" in shown["modal"]
        assert (await panes(client, staff=DANA))["modal"] == ""  # only Tamara's screen shows it
        await act(
            client, "slack-submit", staff=TAMARA, view=shown["modal_id"],
            values={"staff": "s-haddad"},
        )  # fmt: skip
        samir = "U0DEMO04"
        await until(sandbox, lambda: slack.messages(samir), "Samir hearing it is his")
        assert "assigned you escalation" in (await panes(client, staff=samir))["slack"]
        await until(
            sandbox,
            lambda: any("Reassigned" in m.text for m in slack.thread(COORDINATORS, escalation.ts)),
            "the note in the thread",
        )
        thread = (await panes(client, staff=TAMARA))["slack"]
        assert 'Reassigned to <span class="mention">@Samir Haddad</span>' in thread


async def test_messages_carry_their_times_by_the_sandbox_clock(sandbox: Sandbox) -> None:
    """Every bubble and post says when it was sent, by the sandbox's clock (the practice's
    Monday 09:00), not the machine's: the phone (SMS and Telegram) and the Slack pane alike."""
    monday_nine = '<time class="sent" datetime="2026-11-23T09:00-05:00">Mon 09:00</time>'
    monday_ten = '<time class="sent" datetime="2026-11-23T10:00-05:00">Mon 10:00</time>'
    chat = telegram_user_id("g-priya")
    telegram = sandbox.fakes.telegram
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        await until(sandbox, lambda: sandbox.phones.sms_thread("+15550100101"), "Megan's reminder")
        await act(client, "phone-send", **MEGAN, text="1")
        await until(sandbox, lambda: sandbox.fakes.slack.messages(DANA), "Dana's DM")
        await until(sandbox, lambda: len(sandbox.phones.sms_thread("+15550100101")) >= 3, "reply")
        phone = (await panes(client, **MEGAN))["phone"]
        # The reminder, Megan's "1" and the bot's answer; and Dana's DM about it.
        assert phone.count(monday_nine) == 3
        assert monday_nine in (await panes(client, staff=DANA))["slack"]

        await act(client, "clock", step="hour")
        await act(client, "phone-link", **PRIYA)
        await until(sandbox, lambda: telegram.sent_messages(chat), "the birth-date question")
        assert monday_ten in (await panes(client, **PRIYA))["phone"]


async def test_a_spanish_reading_clinician_sees_the_staff_side_in_spanish(
    sandbox: Sandbox,
) -> None:
    linh = "U0DEMO03"  # Linh Nguyen: the demo's staff import gives her Spanish
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        page = await client.get("/")
        assert "Linh Nguyen (ABA therapy (BCBA), reads Spanish)" in page.text
        await act(client, "slack-command", staff=linh, text="today")
        await until(sandbox, lambda: sandbox.fakes.slack.notes_for(linh), "Linh's day")
        slack = (await panes(client, staff=linh))["slack"]
        assert "Su día — lun 23 nov" in slack
        assert "lun 23 nov, 11:00 · Marco Rossi" in slack and "sin respuesta" in slack
        # Tamara, who reads English, is shown the same kind of screen in English.
        await act(client, "slack-command", staff=TAMARA, text="today")
        await until(sandbox, lambda: sandbox.fakes.slack.notes_for(TAMARA), "Tamara's day")
        assert "The practice — Mon Nov 23" in (await panes(client, staff=TAMARA))["slack"]
