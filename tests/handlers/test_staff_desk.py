"""Staff in Slack: access, the day view, patient summaries, updates, handoffs, invites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.channels.slack_render import section_blocks
from handlers.staff.schedule import DAY_PAGE, HOME_ITEMS
from storage.models import Patient
from storage.record import Record
from tests.handlers.conftest import ANA, CARMEN, DANA, LEE, NOBODY, ROSA
from tests.harness import Harness

TODAY_3PM = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # Monday 3:00 PM in New York
TODAY_4PM = datetime(2026, 11, 23, 21, 0, tzinfo=UTC)


async def test_people_not_on_the_staff_list_are_refused_and_see_nothing(
    staffed: Harness,
) -> None:
    for text in ("today", "patient Maya", "update", "invite g-ana"):
        outcome = await staffed.command(NOBODY, text)
        assert outcome.queued == [] and outcome.form is None
        assert [s.text for s in outcome.shown] == [
            "Sorry, carebot is only for Bright Steps Therapy's staff. Ask a coordinator to add"
            " your Slack account to the staff list."
        ]


async def test_today_shows_a_clinician_their_day_and_a_coordinator_everyone(
    staffed: Harness,
) -> None:
    await staffed.appointment("a-maya", "p-maya", TODAY_3PM, staff_id="s-1")
    await staffed.appointment("a-leo", "p-leo", TODAY_4PM, staff_id="s-2")
    async with staffed.db.transaction() as conn:
        await conn.execute(
            "UPDATE appointment SET participant_status = 'accepted' WHERE id = 'a-maya'"
        )
        await conn.execute(
            "UPDATE appointment SET status = 'cancelled', cancellation_reason = 'sick'"
            " WHERE id = 'a-leo'"
        )
    [dana] = (await staffed.command(DANA, "today")).shown
    assert dana.text == (
        "*Your day — Mon Nov 23*\n"
        "• Mon Nov 23, 3:00 PM · Maya Rivera · speech therapy — :white_check_mark: confirmed"
    )
    [rosa] = (await staffed.command(ROSA, "today")).shown
    assert "*The practice — Mon Nov 23*" in rosa.text
    assert "Maya Rivera · speech therapy (Dana Brooks) — :white_check_mark: confirmed" in rosa.text
    assert "Leo Rivera · speech therapy (Lee Park) — :x: cancelled (sick)" in rosa.text


async def test_a_busy_day_comes_a_page_at_a_time_with_the_whole_days_tally(
    staffed: Harness,
) -> None:
    # 60 visits 5 minutes apart from 8:00 AM: every third one Dana's, the others Lee's; the
    # first ten confirmed, two cancelled, one asked to move.
    start = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    for n in range(60):
        patient, staff = ("p-maya", "s-1") if n % 3 == 0 else ("p-leo", "s-2")
        await staffed.appointment(f"a-{n:02d}", patient, start + timedelta(minutes=5 * n), staff)
    async with staffed.db.transaction() as conn:
        await conn.execute(
            "UPDATE appointment SET participant_status = 'accepted' WHERE id < 'a-10'"
        )
        await conn.execute(
            "UPDATE appointment SET status = 'cancelled', cancellation_reason = 'sick'"
            " WHERE id IN ('a-20', 'a-41')"
        )
        await conn.execute(
            "UPDATE appointment SET reschedule_requested_at = '2026-11-23T12:00:00Z'"
            " WHERE id = 'a-30'"
        )
    history = await staffed.scalar("SELECT COUNT(*) FROM message")

    first, footer = (await staffed.command(ROSA, "today")).shown
    lines = first.text.splitlines()
    assert lines[:2] == [
        "*The practice — Mon Nov 23*",
        "60 appointments: 10 :white_check_mark: confirmed · 47 :hourglass: not answered"
        " · 1 :arrows_counterclockwise: reschedule requested · 2 :x: cancelled",
    ]
    assert len(lines) == 2 + DAY_PAGE
    assert lines[2] == (
        "• Mon Nov 23, 8:00 AM · Maya Rivera · speech therapy (Dana Brooks)"
        " — :white_check_mark: confirmed"
    )
    assert lines[2 + 20].endswith("Leo Rivera · speech therapy (Lee Park) — :x: cancelled (sick)")
    assert lines[-1].startswith(f"• Mon Nov 23, {_clock(DAY_PAGE - 1)} · ")
    assert footer.text == "_Appointments 1–25 of 60._"
    assert [(b.label, b.action, b.value) for b in footer.buttons] == [
        ("Later →", "today.page", "2026-11-23:2")
    ]

    # The next page: the 26th to the 50th, with a button either way.
    second, footer = (await staffed.staff(ROSA, action="today.page", value="2026-11-23:2")).shown
    lines = second.text.splitlines()
    assert lines[2].startswith(f"• Mon Nov 23, {_clock(DAY_PAGE)} · ")
    assert lines[2 + 41 - 25].endswith("(Lee Park) — :x: cancelled (sick)")
    assert lines[2 + 30 - 25].endswith("— :arrows_counterclockwise: reschedule requested")
    assert footer.text == "_Appointments 26–50 of 60._"
    assert [b.value for b in footer.buttons] == ["2026-11-23:1", "2026-11-23:3"]
    last, footer = (await staffed.staff(ROSA, action="today.page", value="2026-11-23:3")).shown
    assert len(last.text.splitlines()) == 2 + 10
    assert footer.text == "_Appointments 51–60 of 60._"
    assert [b.label for b in footer.buttons] == ["← Earlier"]

    # Dana sees her own 20, on one page: no tally, no buttons.
    [dana] = (await staffed.command(DANA, "today")).shown
    assert len(dana.text.splitlines()) == 1 + 20 and "Leo" not in dana.text

    # A page past the end, or a forged value, is answered, not obeyed or crashed on.
    [past] = (await staffed.staff(ROSA, action="today.page", value="2026-11-23:9")).shown
    assert past.text.endswith("There is no page 9: the day has 3.")
    for forged in ("", "2026-11-23", "x:2", "2026-11-23:0", "2026-11-23:-1", "1990-01-01:2"):
        [refused] = (await staffed.staff(ROSA, action="today.page", value=forged)).shown
        assert refused.text == "Sorry, that button can't be used.", forged
    # Pages are read on the read-only side, and each request is still in the history.
    assert await staffed.scalar("SELECT COUNT(*) FROM message") == history + 11
    assert await staffed.scalar("SELECT COUNT(*) FROM message WHERE body = '[today.page]'") == 9


def _clock(n: int) -> str:
    """The time of the n-th (from 0) visit of the busy day: 8:00 AM plus 5 minutes each."""
    minutes = 8 * 60 + 5 * n
    return f"{(minutes // 60 - 1) % 12 + 1}:{minutes % 60:02d} {'AM' if minutes < 720 else 'PM'}"


async def test_patient_summary_only_for_the_care_team_and_coordinators(staffed: Harness) -> None:
    await staffed.appointment("a-maya", "p-maya", TODAY_3PM + timedelta(days=2))
    [refused] = (await staffed.command(LEE, "patient Maya")).shown
    assert refused.text == "No patient called “Maya” on your care team."
    [summary] = (await staffed.command(DANA, "patient maya rivera")).shown
    assert summary.text.startswith("*Maya Rivera* (`p-maya`)")
    assert "*Care team:* <@U1> (occupational therapy)" in summary.text
    assert "Wed Nov 25, 3:00 PM · Maya Rivera · speech therapy" in summary.text
    assert "*Open escalations:* 0" in summary.text
    [coordinator] = (await staffed.command(ROSA, "patient p-maya")).shown
    assert coordinator.text.startswith("*Maya Rivera*")
    [none] = (await staffed.command(ROSA, "patient Nobody")).shown
    assert none.text == "No patient called “Nobody” on your care team."


async def test_an_update_reaches_every_guardian_who_may_receive_it(staffed: Harness) -> None:
    form = (await staffed.command(LEE, "update")).form
    assert form is not None and form.id == "update"
    assert form.fields[0].options == (("p-leo", "Leo Rivera"), ("p-sofia", "Sofía Rivera"))
    outcome = await staffed.staff(
        LEE,
        form="update",
        fields={"patient": "p-leo", "text": "Leo did great today!", "audience": "family"},
    )
    [to_carmen] = await staffed.replies(outcome.queued)
    assert to_carmen.address == CARMEN
    assert (
        to_carmen.body
        == "Un mensaje de Lee de Bright Steps Therapy sobre Leo:\n\nLeo did great today!"
    )
    assert outcome.shown[0].text == "Sent your update about Leo to 1 family member."
    assert await staffed.scalar("SELECT audience FROM care_update") == "family"


async def test_a_care_team_note_stays_in_the_record(staffed: Harness) -> None:
    outcome = await staffed.staff(
        DANA,
        form="update",
        fields={"patient": "p-maya", "text": "Try the visual schedule", "audience": "care-team"},
    )
    assert outcome.queued == []
    assert "care-team note" in outcome.shown[0].text
    [summary] = (await staffed.command(DANA, "patient Maya")).shown
    assert "Dana Brooks (care team): Try the visual schedule" in summary.text


async def test_an_update_for_someone_elses_patient_is_refused(staffed: Harness) -> None:
    outcome = await staffed.staff(
        DANA, form="update", fields={"patient": "p-leo", "text": "Hi", "audience": "family"}
    )
    assert outcome.form_errors == {"patient": "You can only update patients on your care team."}
    assert outcome.queued == []
    assert await staffed.scalar("SELECT COUNT(*) FROM care_update") == 0


async def test_an_empty_update_is_refused(staffed: Harness) -> None:
    outcome = await staffed.staff(
        DANA, form="update", fields={"patient": "p-maya", "text": "  ", "audience": "family"}
    )
    assert outcome.form_errors == {"text": "Write the update."}


async def test_an_empty_update_form_says_what_each_field_lacks(staffed: Harness) -> None:
    """Slack sends an untouched form's fields blank: each says its own problem, at once."""
    outcome = await staffed.staff(
        DANA, form="update", fields={"patient": "", "text": "", "audience": ""}
    )
    assert outcome.form_errors == {
        "patient": "Choose the patient.",
        "text": "Write the update.",
        "audience": "Choose who sees it.",
    }
    assert await staffed.scalar("SELECT COUNT(*) FROM care_update") == 0


async def test_a_handoff_is_acknowledged_and_the_family_told(staffed: Harness) -> None:
    form = (await staffed.command(DANA, "handoff")).form
    assert form is not None and [f.id for f in form.fields] == [
        "patient", "to", "summary", "open_items", "effective", "tell_family",
    ]  # fmt: skip
    assert form.fields[1].options == (("s-2", "Lee Park"),)
    outcome = await staffed.staff(
        DANA,
        form="handoff",
        fields={
            "patient": "p-maya",
            "to": "s-2",
            "summary": "Working on /s/ sounds",
            "open_items": "Send home practice sheet",
            "effective": "2026-11-30",
            "tell_family": "yes",
        },
    )
    [dm] = await staffed.replies(outcome.queued)
    assert dm.address == "slack:U2"
    assert "*Handoff #1* from <@U1>: Maya Rivera, effective 2026-11-30" in dm.body
    assert "> Send home practice sheet" in dm.body
    assert [b.label for b in dm.buttons] == ["Acknowledge"]

    stranger = await staffed.staff_press(ROSA, dm.button("Acknowledge"))
    assert "only the receiving clinician" in stranger.shown[0].text

    outcome = await staffed.staff_press(LEE, dm.button("Acknowledge"))
    assert outcome.shown[0].text == "Acknowledged. Maya Rivera is now on your care team."
    replies = await staffed.replies(outcome.queued)
    assert any(r.address == "slack:U1" and "acknowledged handoff #1" in r.body for r in replies)
    [family] = [r for r in replies if r.address == ANA]
    assert (
        family.body
        == "From Monday, November 30, Maya's clinician at Bright Steps Therapy will be Lee."
    )
    assert (
        await staffed.scalar(
            "SELECT COUNT(*) FROM care_team WHERE patient_id = 'p-maya' AND staff_id = 's-2'"
        )
        == 1
    )
    again = await staffed.staff_press(LEE, dm.button("Acknowledge"))
    assert again.shown[0].text == "You already acknowledged handoff #1." and again.queued == []


async def test_an_unacknowledged_handoff_is_raised_after_a_business_day(staffed: Harness) -> None:
    await staffed.staff(
        DANA,
        form="handoff",
        fields={"patient": "p-maya", "to": "s-2", "summary": "x", "effective": "2026-11-30"},
    )
    staffed.clock.advance(timedelta(hours=23))
    assert await staffed.run_watch() == []
    staffed.clock.advance(timedelta(hours=1))
    [raised] = await staffed.run_watch()
    assert "Handoff #1 (Maya Rivera) to <@U2> has not been acknowledged. <@U9>" in raised.body
    assert await staffed.run_watch() == []


async def test_a_handoff_form_with_gaps_says_what_is_missing(staffed: Harness) -> None:
    outcome = await staffed.staff(
        DANA, form="handoff", fields={"patient": "p-leo", "to": "s-1", "effective": "soon"}
    )
    assert set(outcome.form_errors) == {"patient", "to", "summary", "effective"}
    assert await staffed.scalar("SELECT COUNT(*) FROM handoff") == 0


async def test_a_handoff_form_names_what_was_not_chosen_and_questions_a_past_date(
    staffed: Harness,
) -> None:
    outcome = await staffed.staff(
        DANA, form="handoff",
        fields={"patient": "", "to": "", "summary": "Working on /s/", "effective": "2026-11-20"},
    )  # fmt: skip
    assert outcome.form_errors == {
        "patient": "Choose the patient.",
        "to": "Choose who takes over.",
        "effective": "Nov 20 has passed: choose today or a later date.",
    }
    today = await staffed.staff(
        DANA, form="handoff",
        fields={"patient": "p-maya", "to": "s-2", "summary": "x", "effective": "2026-11-23"},
    )  # fmt: skip
    assert today.form_errors == {}  # today is not the past (the practice's today)
    assert await staffed.scalar("SELECT COUNT(*) FROM handoff") == 1


async def test_the_home_screen_lists_open_items(staffed: Harness) -> None:
    await staffed.staff(
        DANA,
        form="handoff",
        fields={"patient": "p-maya", "to": "s-2", "summary": "x", "effective": "2026-11-30"},
    )
    home = (await staffed.staff(LEE, home=True)).home
    assert home is not None
    assert home[0].text.startswith("*Your day — Mon Nov 23*")
    assert home[-1].text == "Handoff #1: Maya Rivera, effective 2026-11-30"
    assert home[-1].buttons[0].action == "handoff.ack"


async def test_a_home_screen_with_many_open_items_lists_the_first_and_counts_the_rest(
    staffed: Harness,
) -> None:
    for n in range(HOME_ITEMS + 5):
        await staffed.staff(
            DANA,
            form="handoff",
            fields={"patient": "p-maya", "to": "s-2", "summary": f"{n}", "effective": "2026-11-30"},
        )
    home = (await staffed.staff(LEE, home=True)).home
    assert home is not None
    handoffs = [s for s in home if s.text.startswith("Handoff #")]
    assert len(handoffs) == HOME_ITEMS and handoffs[0].text.startswith("Handoff #1:")
    assert home[-1].text == (
        "_…and 5 more: handoffs in your direct messages, escalations in the coordinators' channel._"
    )
    # What Slack would be sent stays inside its 100 blocks for a Home tab.
    assert len(section_blocks(home)) <= 100


async def test_coordinators_create_invites_from_slack(staffed: Harness) -> None:
    [shown] = (await staffed.command(ROSA, "invite g-ana")).shown
    assert "One-time invite for Ana Rivera, valid 7 days" in shown.text
    link = shown.text.rsplit("\n", 1)[1]
    assert link.startswith("https://t.me/BrightStepsBot?start=")
    [refused] = (await staffed.command(DANA, "invite g-ana")).shown
    assert refused.text == "Only coordinators can create family invites."
    [unknown] = (await staffed.command(ROSA, "invite g-nobody")).shown
    assert unknown.text == "No guardian with id `g-nobody` in the record."


async def test_the_clinician_hears_a_familys_answers(staffed: Harness) -> None:
    await staffed.appointment("a-1", "p-maya", TODAY_3PM + timedelta(days=3))
    staffed.clock.set(TODAY_3PM + timedelta(days=2))
    [reminder] = await staffed.run_reminders()
    await staffed.press(ANA, reminder.button("Confirm"))
    assert staffed.staff_posts[-1].address == "slack:U1"
    assert staffed.staff_posts[-1].body == (
        ":white_check_mark: Maya Rivera confirmed Thu Nov 26, 3:00 PM (by Ana Rivera)."
    )
    await staffed.press(ANA, reminder.button("Reschedule"))
    dm = [p for p in staffed.staff_posts if p.address == "slack:U1"][-1]
    assert "asked to reschedule Thu Nov 26, 3:00 PM" in dm.body
    root = staffed.staff_posts_to("C0COORD")[-1]
    assert "reschedule request" in root.body
    assert "_pressed Reschedule for Maya's visit on Thu Nov 26, 3:00 PM_" in root.body


async def test_help_for_staff(staffed: Harness) -> None:
    [shown] = (await staffed.command(DANA, "")).shown
    assert "`/carebot today`" in shown.text and "`/carebot handoff`" in shown.text


async def test_an_update_reaches_a_family_that_only_texts(staffed: Harness) -> None:
    sms = "sms:+15551230009"
    await staffed.family("g-lupe", "Lupe", [("p-tomas", "Tomás", "2018-06-01")])
    await staffed.add_staff("s-1", "Dana Brooks", "clinician", DANA, ("p-maya", "p-tomas"))
    async with staffed.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO channel_identity (channel, address, guardian_id, verified_at,"
            " consent_at, created_at) VALUES ('sms', ?, 'g-lupe', ?, ?, ?)",
            (sms, "2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z"),
        )
    outcome = await staffed.staff(
        DANA,
        form="update",
        fields={"patient": "p-tomas", "text": "Tomás tried the swing today!", "audience": "family"},
    )
    [text] = await staffed.replies(outcome.queued)
    assert text.address == sms
    assert text.body == (
        "A message from Dana at Bright Steps Therapy about Tomás:\n\nTomás tried the swing today!"
    )


async def test_patient_search_whole_names_first_then_beginnings(staffed: Harness) -> None:
    await staffed.family("g-nora", "Nora", [("p-leonor", "Leonor", "2016-02-11")])
    await staffed.add_staff("s-2", "Lee Park", "clinician", LEE, ("p-leo", "p-sofia", "p-leonor"))
    [leo] = (await staffed.command(LEE, "patient Leo")).shown  # whole: not Leonor too
    assert leo.text.startswith("*Leo Rivera* (`p-leo`)")
    [leonor] = (await staffed.command(LEE, "patient leon")).shown
    assert leonor.text.startswith("*Leonor Rivera* (`p-leonor`)")
    [both] = (await staffed.command(LEE, "patient LE")).shown
    assert both.text == (
        "Several patients match: Leo Rivera (`p-leo`), Leonor Rivera (`p-leonor`)."
        " Use the full name or the id."
    )
    [full] = (await staffed.command(DANA, "patient maya  riv")).shown
    assert full.text.startswith("*Maya Rivera* (`p-maya`)")
    [by_id] = (await staffed.command(ROSA, "patient P-MAY")).shown
    assert by_id.text.startswith("*Maya Rivera* (`p-maya`)")
    # A beginning matches only the caller's care team, with the same answer as no patient.
    [refused] = (await staffed.command(DANA, "patient Le")).shown
    assert refused.text == "No patient called “Le” on your care team."


async def test_patient_search_any_case_with_accents_as_typed(staffed: Harness) -> None:
    [sofia] = (await staffed.command(ROSA, "patient SOFÍA")).shown
    assert sofia.text.startswith("*Sofía Rivera* (`p-sofia`)")
    [unaccented] = (await staffed.command(ROSA, "patient sofia")).shown
    assert unaccented.text == "No patient called “sofia” on your care team."


async def test_patient_search_names_at_most_twenty(staffed: Harness) -> None:
    async with staffed.db.transaction() as conn:
        for i in range(25):
            await Record(conn).people.save_patient(
                Patient(
                    id=f"p-m{i:02d}",
                    first_name=f"Mia{i:02d}",
                    last_name="Stone",
                    date_of_birth="2019-01-01",
                    language="en",
                ),
                staffed.clock.now(),
            )
    [many] = (await staffed.command(ROSA, "patient Stone")).shown
    assert many.text.startswith("Several patients match: Mia00 Stone (`p-m00`), ")
    assert many.text.endswith("Mia19 Stone (`p-m19`) and more. Use the full name or the id.")
    assert "Mia20" not in many.text


async def test_a_coordinators_home_lists_what_waits_for_a_person_emergencies_first(
    staffed: Harness,
) -> None:
    await staffed.send(ANA, "Is parking free?")
    staffed.clock.advance(timedelta(minutes=3))
    await staffed.send(CARMEN, "Es una EMERGENCIA, Leo no respira bien")
    staffed.clock.advance(timedelta(minutes=2))
    home = (await staffed.staff(ROSA, home=True)).home
    assert home is not None
    title, emergency, ordinary = home[:3]
    assert title.text == "*Waiting for a person (2)*"
    assert emergency.text.startswith(
        ":rotating_light: *Possible emergency* Escalation #2: emergency (Carmen Rivera's family)"
        " — waiting 2 min, raised again at "
    )
    assert ordinary.text.startswith(
        ":speech_balloon: Escalation #1: not understood (Maya Rivera) — waiting 5 min"
    )
    assert [b.action for b in emergency.buttons] == ["escalation.claim"]
    assert home[3].text.startswith("*The practice — ")  # the day comes after
    assert not any("No open items" in s.text for s in home)  # never, while one waits
    # Claimed, it leaves the list; a clinician's home has no such list at all.
    await staffed.staff_press(ROSA, emergency.buttons[0])
    home = (await staffed.staff(ROSA, home=True)).home
    assert home is not None and home[0].text == "*Waiting for a person (1)*"
    dana = (await staffed.staff(DANA, home=True)).home
    assert dana is not None and dana[0].text.startswith("*Your day — ")
