"""A family reaches a person: escalations, the thread relay, the emergency net, re-raising."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from tests.handlers.conftest import ANA, CARMEN, DANA, LEE, ROSA, STRANGER
from tests.harness import COORDINATORS, Harness, Reply

# The harness clock starts on Monday 23 November 2026, 9:00 in New York: business hours.
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)


def root_post(h: Harness) -> Reply:
    roots = [p for p in h.staff_posts_to(COORDINATORS) if p.thread_message_id is None]
    assert roots, "nothing was posted to the coordinators' channel"
    return roots[-1]


async def escalation(h: Harness, column: str, escalation_id: int | None = None) -> object:
    if escalation_id is None:
        return await h.scalar(f"SELECT {column} FROM escalation ORDER BY id DESC LIMIT 1")
    return await h.scalar(f"SELECT {column} FROM escalation WHERE id = ?", escalation_id)


async def test_free_text_reaches_the_coordinators_with_context(staffed: Harness) -> None:
    await staffed.appointment("a-1", "p-maya", VISIT)
    [reply] = await staffed.send(ANA, "Can Maya bring her own snack on Thursday?")
    assert reply.body == (
        "Thanks, I've passed your message to the team at Bright Steps Therapy. A person will"
        " answer you here soon."
    )
    post = root_post(staffed)
    assert "A family needs a person" in post.body
    assert "*Family:* Ana Rivera (telegram)" in post.body
    assert "*Children:* Maya Rivera" in post.body
    assert "*Next appointment:* Thu Nov 26, 3:30 PM · Maya Rivera · speech therapy" in post.body
    assert "> Can Maya bring her own snack on Thursday?" in post.body
    assert [b.label for b in post.buttons] == ["Claim", "Reassign", "Resolve"]
    assert await escalation(staffed, "reason") == "not-understood"
    assert await escalation(staffed, "patient_id") == "p-maya"
    assert await escalation(staffed, "status") == "open"


async def test_family_text_is_escaped_for_slack(staffed: Harness) -> None:
    await staffed.send(ANA, "<!channel> look at <https://evil.example|your invoice> @here & more")
    body = root_post(staffed).body
    assert "<!channel>" not in body and "<https://" not in body
    assert "&lt;!channel&gt;" in body
    assert "&lt;https://evil.example|your invoice&gt;" in body
    assert "@\u200bhere &amp; more" in body


async def test_claim_reply_relay_and_resolve(staffed: Harness) -> None:
    await staffed.send(ANA, "Who is Maya's teacher this week?")
    root = root_post(staffed)

    outcome = await staffed.staff_press(ROSA, root.button("Claim"))
    assert outcome.shown == []
    [told] = [r for r in await staffed.replies(outcome.queued) if r.address == ANA]
    assert told.body == "Rosa from Bright Steps Therapy has your message and will answer you here."
    assert await escalation(staffed, "claimed_by") == "s-9"
    again = await staffed.staff_press(DANA, root.button("Claim"))
    assert again.shown[0].text == "Escalation #1 is already claimed by <@U9>."

    outcome = await staffed.thread_reply(ROSA, root, "It's Ms. Ortiz <b>this</b> week & next")
    [answer] = [r for r in await staffed.replies(outcome.queued) if r.address == ANA]
    assert answer.body == "Rosa (Bright Steps Therapy): It's Ms. Ortiz <b>this</b> week & next"

    assert await staffed.send(ANA, "Thank you!") == []  # lands in the thread, no bot reply
    follow_up = staffed.staff_posts[-1]
    assert follow_up.thread_message_id == root.id
    assert follow_up.body == "*Ana Rivera:*\n> Thank you!"

    outcome = await staffed.staff_press(ROSA, root.button("Resolve"))
    assert await escalation(staffed, "status") == "resolved"
    assert "Resolved by <@U9>" in staffed.staff_posts[-1].body
    late = await staffed.thread_reply(ROSA, root, "One more thing")
    assert "resolved, so the family did not get this message" in late.shown[0].text
    assert [r for r in await staffed.replies(late.queued) if r.address == ANA] == []

    [reply] = await staffed.send(ANA, "Another question")
    assert "passed your message" in reply.body
    assert await staffed.scalar("SELECT COUNT(*) FROM escalation") == 2


async def test_a_reply_in_an_unclaimed_thread_claims_it(staffed: Harness) -> None:
    await staffed.send(ANA, "Is parking free?")
    root = root_post(staffed)
    outcome = await staffed.thread_reply(DANA, root, "Yes, behind the building.")
    [post, answer] = await staffed.replies(outcome.queued)
    assert answer.address == ANA and answer.body.startswith("Dana (Bright Steps Therapy): Yes")
    assert await escalation(staffed, "status") == "claimed"
    assert await escalation(staffed, "claimed_by") == "s-1"
    # The post in the coordinators' channel says so: nobody else claims it by mistake.
    assert post.edits_message_id == root.id
    assert post.body.startswith(root.body + "\n:raising_hand: Claimed by <@U1> at ")
    assert [b.label for b in post.buttons] == ["Reassign", "Resolve"]


async def test_replies_in_other_threads_are_ignored(staffed: Harness) -> None:
    outcome = await staffed.staff(
        ROSA, text="lunch?", conversation=COORDINATORS, thread="1699999999.000001"
    )
    assert outcome.queued == [] and outcome.shown == []


async def test_talk_to_a_person_in_spanish(staffed: Harness) -> None:
    [reply] = await staffed.send(CARMEN, "Quiero hablar con una persona, por favor")
    assert reply.body == (
        "Gracias, le pasé su mensaje al equipo de Bright Steps Therapy. Una persona le"
        " responderá aquí pronto."
    )
    assert await escalation(staffed, "reason") == "person"
    assert "asked to talk to a person" in root_post(staffed).body
    outcome = await staffed.staff_press(ROSA, root_post(staffed).button("Claim"))
    [told] = [r for r in await staffed.replies(outcome.queued) if r.address == CARMEN]
    assert told.body == "Rosa de Bright Steps Therapy tiene su mensaje y le responderá aquí."


async def test_an_emergency_gets_numbers_at_once_and_an_urgent_escalation(
    staffed: Harness,
) -> None:
    [reply] = await staffed.send(ANA, "Maya's brother is talking about suicide")
    assert "call 911 now" in reply.body and "988" in reply.body
    assert "You can also call +1 555 010 2030" in reply.body
    post = root_post(staffed)
    assert post.body.startswith(":rotating_light: *Possible emergency* <!here>")
    assert await escalation(staffed, "urgent") == 1


async def test_an_emergency_in_spanish_mentions_the_on_call_coordinator(
    staffed: Harness,
) -> None:
    staffed.pipeline.desk = staffed.desk = replace(staffed.desk, on_call="s-9")
    [reply] = await staffed.send(CARMEN, "Es una EMERGENCIA, Leo no respira bien")
    assert reply.body.startswith("Si es una emergencia, llame al 911 ahora.")
    assert "<@U9>" in root_post(staffed).body


async def test_an_emergency_inside_an_open_escalation_raises_it(staffed: Harness) -> None:
    await staffed.send(ANA, "About Thursday")
    root = root_post(staffed)
    await staffed.send(ANA, "actually this is an emergency")
    assert await escalation(staffed, "urgent") == 1
    last = staffed.staff_posts[-1]
    assert last.thread_message_id == root.id and "Possible emergency" in last.body


async def test_after_hours_the_family_hears_when_the_office_opens(staffed: Harness) -> None:
    staffed.clock.set(datetime(2026, 11, 24, 3, 0, tzinfo=UTC))  # Monday 22:00 in New York
    [reply] = await staffed.send(ANA, "Question about next week")
    assert "The office is closed now" in reply.body
    assert "after it opens on Tuesday, November 24 at 8:00 AM." in reply.body
    assert await escalation(staffed, "reason") == "after-hours"


async def test_strangers_get_no_escalation_but_do_get_emergency_numbers(
    staffed: Harness,
) -> None:
    [reply] = await staffed.send(STRANGER, "hello, who is this?")
    assert "only help families the practice has invited" in reply.body
    assert await staffed.scalar("SELECT COUNT(*) FROM escalation") == 0
    [reply] = await staffed.send(STRANGER, "I want to die")
    assert "988" in reply.body
    assert "*Family:* (not linked) (telegram)" in root_post(staffed).body


async def test_an_unclaimed_escalation_is_raised_again_after_the_response_time(
    staffed: Harness,
) -> None:
    await staffed.send(ANA, "Can we talk?")
    staffed.clock.advance(timedelta(minutes=14))
    assert await staffed.run_watch() == []
    staffed.clock.advance(timedelta(minutes=2))
    raised = await staffed.run_watch()
    assert raised[0].address == f"slack:{COORDINATORS}"
    assert "has waited 16 minutes and nobody has claimed it. <@U9>" in raised[0].body
    assert await staffed.run_watch() == []  # raised once per response window


async def test_a_claimed_escalation_left_unanswered_is_raised(staffed: Harness) -> None:
    await staffed.send(ANA, "Can we talk?")
    await staffed.staff_press(DANA, root_post(staffed).button("Claim"))
    staffed.clock.advance(timedelta(minutes=16))
    [raised, _note] = await staffed.run_watch()
    assert "was claimed by <@U1> but the family has had no answer" in raised.body


async def test_an_answered_escalation_is_not_raised(staffed: Harness) -> None:
    await staffed.send(ANA, "Can we talk?")
    await staffed.thread_reply(DANA, root_post(staffed), "Sure, what's up?")
    staffed.clock.advance(timedelta(hours=2))
    assert await staffed.run_watch() == []


async def test_reassign_opens_a_form_and_hands_it_over(staffed: Harness) -> None:
    await staffed.send(ANA, "Question")
    outcome = await staffed.staff_press(ROSA, root_post(staffed).button("Reassign"))
    assert outcome.form is not None and outcome.form.id == "reassign"
    # Only coordinators and Maya's care team can take it: Dana is offered, Lee (Leo's) is not.
    assert ("s-1", "Dana Brooks") in outcome.form.fields[0].options
    assert ("s-2", "Lee Park") not in outcome.form.fields[0].options
    outcome = await staffed.staff(
        ROSA, form="reassign", value=outcome.form.context, fields={"staff": "s-1"}
    )
    assert await escalation(staffed, "claimed_by") == "s-1"
    posts = await staffed.replies(outcome.queued)
    assert any(p.address == "slack:U1" and "assigned you escalation #1" in p.body for p in posts)
    assert any(p.address == ANA and p.body.startswith("Dana from Bright Steps") for p in posts)


async def test_reassigning_to_someone_outside_the_care_team_is_refused_in_the_form(
    staffed: Harness,
) -> None:
    await staffed.send(ANA, "Question")
    form = (await staffed.staff_press(ROSA, root_post(staffed).button("Reassign"))).form
    assert form is not None
    outcome = await staffed.staff(
        ROSA, form="reassign", value=form.context, fields={"staff": "s-2"}
    )
    assert outcome.form_errors == {
        "staff": "Choose a coordinator or someone on the patient's care team."
    }
    assert await escalation(staffed, "status") == "open"
    assert await escalation(staffed, "claimed_by") is None
    # Submitted without a choice, the form names the choice that is missing.
    empty = await staffed.staff(ROSA, form="reassign", value=form.context, fields={"staff": ""})
    assert empty.form_errors == {"staff": "Choose who should take it."}


async def test_a_clinician_outside_the_care_team_cannot_act_on_the_escalation(
    staffed: Harness,
) -> None:
    """Lee is on Leo's and Sofía's care team, not Maya's: every action on Ana's escalation is
    refused with the same words, whatever its state, and nothing changes or reaches Ana."""
    await staffed.send(ANA, "Can Maya come at 4 instead?")
    root = root_post(staffed)
    refusal = "Sorry, only coordinators and the patient's care team can act on this escalation."
    for label in ("Claim", "Resolve", "Reassign"):
        outcome = await staffed.staff_press(LEE, root.button(label))
        assert [s.text for s in outcome.shown] == [refusal], label
        assert outcome.form is None and outcome.queued == []
    form = await staffed.staff(LEE, form="reassign", value="1", fields={"staff": "s-2"})
    assert "not yours" in form.form_errors["staff"]
    reply = await staffed.thread_reply(LEE, root, "I can take Maya at 4.")
    assert reply.queued == []
    assert [s.text for s in reply.shown] == [f"{refusal} The family did not get your message."]
    assert await escalation(staffed, "status") == "open"
    assert await escalation(staffed, "claimed_by") is None
    assert not await staffed.scalar(
        "SELECT COUNT(*) FROM message WHERE address = ? AND direction = 'out'"
        " AND body LIKE '%take Maya%'",
        ANA,
    )
    # Resolved, it still says nothing more to Lee; Dana (Maya's team) may act on it.
    await staffed.staff_press(ROSA, root.button("Resolve"))
    outcome = await staffed.staff_press(LEE, root.button("Claim"))
    assert [s.text for s in outcome.shown] == [refusal]
    outcome = await staffed.staff_press(DANA, root.button("Claim"))
    assert [s.text for s in outcome.shown] == ["Escalation #1 is already resolved."]


async def test_an_urgent_escalation_is_raised_again_after_five_minutes_at_night(
    staffed: Harness,
) -> None:
    staffed.clock.set(datetime(2026, 11, 24, 7, 0, tzinfo=UTC))  # 2:00 AM in New York
    await staffed.send(ANA, "emergency, please call me")
    staffed.clock.advance(timedelta(minutes=6))
    [raised, _note] = await staffed.run_watch()
    assert "Escalation #1 (emergency) has waited 6 minutes and nobody has claimed it. <!here>" in (
        raised.body
    )
    staffed.clock.advance(timedelta(minutes=6))
    assert len(await staffed.run_watch()) == 2


async def test_a_family_texting_by_sms_reaches_a_person_and_hears_back(staffed: Harness) -> None:
    sms = "sms:+15551230001"
    async with staffed.db.transaction() as conn:
        await conn.execute(
            "INSERT INTO channel_identity (channel, address, guardian_id, verified_at,"
            " consent_at, created_at) VALUES ('sms', ?, 'g-ana', ?, ?, ?)",
            (sms, "2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z", "2026-11-23T14:00:00Z"),
        )
    [ack] = await staffed.send(sms, "Can Maya come 10 minutes late on Thursday?")
    assert ack.address == sms and "passed your message" in ack.body
    root = root_post(staffed)
    assert "*Family:* Ana Rivera (sms)" in root.body
    outcome = await staffed.thread_reply(ROSA, root, "Of course, see you then.")
    [_post_changed, answer] = await staffed.replies(outcome.queued)
    assert answer.address == sms
    assert answer.body == "Rosa (Bright Steps Therapy): Of course, see you then."
