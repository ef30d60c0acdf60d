"""Confirming, cancelling and rescheduling from a reminder's buttons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.handlers.conftest import ANA, CARMEN, STRANGER
from tests.harness import Harness, Reply

# Thursday 26 November 2026, 3:30 pm in New York.
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)


async def reminded(h: Harness, start: datetime = VISIT) -> Reply:
    await h.appointment("a-1", "p-maya", start)
    h.clock.set(start - timedelta(hours=24))
    [reminder] = await h.run_reminders()
    return reminder


async def test_confirm_records_accepted_who_and_when(linked: Harness) -> None:
    reminder = await reminded(linked)
    [reply] = await linked.press(ANA, reminder.button("Confirm"))
    assert reply.body == (
        "Thank you! Maya's appointment on Thursday, November 26 at 3:30 PM is confirmed."
        " See you then!"
    )
    row = await linked.appointment_row("a-1")
    assert row.participant_status == "accepted"
    assert row.answered_by_guardian_id == "g-ana"
    assert row.answered_at == linked.clock.now()
    assert linked.last_outcome is not None and linked.last_outcome.notice == "Confirmed"


async def test_pressing_confirm_twice_does_no_harm(linked: Harness) -> None:
    reminder = await reminded(linked)
    await linked.press(ANA, reminder.button("Confirm"))
    linked.clock.advance(timedelta(minutes=5))
    [reply] = await linked.press(ANA, reminder.button("Confirm"))
    assert "already confirmed" in reply.body
    row = await linked.appointment_row("a-1")
    assert row.answered_at == linked.clock.now() - timedelta(minutes=5)
    assert (
        await linked.scalar(
            "SELECT COUNT(*) FROM audit_event WHERE action = 'appointment.confirmed'"
        )
        == 1
    )


async def test_cancel_asks_a_reason_then_cancels_and_withdraws_reminders(linked: Harness) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    linked.clock.set(VISIT - timedelta(hours=72))
    [reminder] = await linked.run_reminders()
    [ask] = await linked.press(ANA, reminder.button("Cancel"))
    assert "Why are you cancelling?" in ask.body
    assert [b.label for b in ask.buttons] == [
        "Sick",
        "Schedule conflict",
        "Other reason",
        "Keep the appointment",
    ]
    assert (await linked.appointment_row("a-1")).status == "booked"
    [done] = await linked.press(ANA, ask.button("Sick"))
    assert "Maya's appointment on Thursday, November 26 at 3:30 PM is cancelled" in done.body
    assert "late-cancellation" not in done.body  # 72 hours ahead: outside the window
    row = await linked.appointment_row("a-1")
    assert (row.status, row.participant_status, row.cancellation_reason) == (
        "cancelled",
        "declined",
        "sick",
    )
    assert row.answered_by_guardian_id == "g-ana"
    # The 24-hour reminder will not go out for a cancelled visit.
    linked.clock.set(VISIT - timedelta(hours=24))
    assert await linked.run_reminders() == []
    # The reason buttons pressed again say it is already cancelled.
    [again] = await linked.press(ANA, ask.button("Schedule conflict"))
    assert "is cancelled" in again.body
    assert (await linked.appointment_row("a-1")).cancellation_reason == "sick"


async def test_a_late_cancel_is_told_the_policy(linked: Harness) -> None:
    reminder = await reminded(linked)
    linked.clock.advance(timedelta(hours=2))
    [ask] = await linked.press(ANA, reminder.button("Cancel"))
    [done] = await linked.press(ANA, ask.button("Schedule conflict"))
    assert "less than 24 hours before the visit" in done.body
    assert "late-cancellation policy may apply" in done.body


async def test_keep_changes_nothing(linked: Harness) -> None:
    reminder = await reminded(linked)
    [ask] = await linked.press(ANA, reminder.button("Cancel"))
    [kept] = await linked.press(ANA, ask.button("Keep the appointment"))
    assert "stays as it is" in kept.body
    assert (await linked.appointment_row("a-1")).status == "booked"


async def test_reschedule_records_a_request_and_says_the_practice_will_call(
    linked: Harness,
) -> None:
    reminder = await reminded(linked)
    [reply] = await linked.press(ANA, reminder.button("Reschedule"))
    assert "Someone from Bright Steps Therapy will contact you soon" in reply.body
    row = await linked.appointment_row("a-1")
    assert row.reschedule_requested_at == linked.clock.now()
    assert row.status == "booked"
    await linked.press(ANA, reminder.button("Reschedule"))
    assert (
        await linked.scalar(
            "SELECT COUNT(*) FROM audit_event WHERE action = 'appointment.reschedule_requested'"
        )
        == 1
    )


async def test_a_button_for_a_moved_appointment_says_so(linked: Harness) -> None:
    reminder = await reminded(linked)
    await linked.appointment("a-1", "p-maya", VISIT + timedelta(days=1))
    [reply] = await linked.press(ANA, reminder.button("Confirm"))
    assert "has moved" in reply.body and "Friday, November 27 at 3:30 PM" in reply.body
    assert (await linked.appointment_row("a-1")).participant_status == "needs-action"


async def test_a_forged_button_is_refused_without_revealing_anything(linked: Harness) -> None:
    await reminded(linked)
    for forged in ("confirm:a-1", "x" * 200, "", "' OR 1=1 --"):
        replies = await linked.press(ANA, forged)
        assert replies == []
        assert linked.last_outcome is not None
        assert linked.last_outcome.notice == "Sorry, this button can't be used."
    assert (await linked.appointment_row("a-1")).participant_status == "needs-action"


async def test_another_familys_button_is_refused(linked: Harness) -> None:
    reminder = await reminded(linked)
    # Carmen (linked, another family) and a stranger press Ana's button.
    assert await linked.press(CARMEN, reminder.button("Confirm")) == []
    assert linked.last_outcome is not None and linked.last_outcome.notice
    stranger = await linked.press(STRANGER, reminder.button("Cancel"))
    assert "Maya" not in " ".join(r.body for r in stranger)
    row = await linked.appointment_row("a-1")
    assert row.participant_status == "needs-action" and row.status == "booked"


async def test_next_lists_upcoming_visits_with_their_state(linked: Harness) -> None:
    reminder = await reminded(linked)
    await linked.press(ANA, reminder.button("Confirm"))
    await linked.appointment("a-2", "p-maya", VISIT + timedelta(days=7))
    [reply] = await linked.send(ANA, "/next")
    assert reply.body.splitlines() == [
        "Your upcoming appointments:",
        "",
        "• Maya: Thursday, November 26 at 3:30 PM (confirmed)",
        "• Maya: Thursday, December 3 at 3:30 PM (not yet confirmed)",
    ]


async def test_language_switch_changes_every_later_message(linked: Harness) -> None:
    [ask] = await linked.send(ANA, "/language")
    assert [b.label for b in ask.buttons] == ["English", "Español"]
    [switched] = await linked.press(ANA, ask.button("Español"))
    assert switched.body == "¡De acuerdo! A partir de ahora le escribiré en español."
    assert await linked.scalar("SELECT language FROM guardian WHERE id = 'g-ana'") == "es"
    await linked.appointment("a-1", "p-maya", VISIT)
    [reply] = await linked.send(ANA, "/next")
    assert "jueves, 26 de noviembre" in reply.body and "15:30" in reply.body
    [back] = await linked.send(ANA, "/language en")
    assert back.body == "Okay! I'll write to you in English from now on."


async def test_help_says_what_the_bot_does_and_how_to_reach_the_practice(
    linked: Harness,
) -> None:
    [reply] = await linked.send(ANA, "/help")
    assert "/next" in reply.body and "/language" in reply.body
    assert "call Bright Steps Therapy at +1 555 010 2030" in reply.body
    [es] = await linked.send(CARMEN, "/help")
    assert "Bright Steps Therapy" in es.body and "llame" in es.body.lower()


LUIS = "telegram:1003"


async def test_a_co_guardians_reminder_loses_its_buttons_when_the_other_parent_answers(
    linked: Harness,
) -> None:
    """Maya has two guardians, each reminded on Telegram. Ana confirms: Luis's reminder is
    changed in place, in his language, with no button left to press; his stale press is
    still answered politely and changes nothing."""
    await linked.family("g-luis", "Luis", [("p-maya", "Maya", "2019-03-14")], language="es")
    await linked.link("g-luis", LUIS, "2019-03-14")
    await linked.appointment("a-1", "p-maya", VISIT)
    linked.clock.set(VISIT - timedelta(hours=24))
    reminders = {r.address: r for r in await linked.run_reminders()}
    ana, luis = reminders[ANA], reminders[LUIS]

    await linked.press(ANA, ana.button("Confirm"), on=ana)
    changed = {c.edits_message_id: c for c in linked.changes}
    assert changed[ana.id].body == ana.body + "\n\n✓ Confirmed by you at 3:30 PM."
    assert changed[luis.id].body == luis.body + "\n\nYa respondida: confirmada a las 15:30."
    assert changed[luis.id].buttons == () and changed[ana.id].buttons == ()

    [reply] = await linked.press(LUIS, luis.buttons[0])  # his old Confirm
    assert "ya está confirmada" in reply.body
    assert len(linked.changes) == 2  # nothing changed twice


async def test_the_reminder_whose_cancel_asked_the_reason_is_settled_with_it(
    linked: Harness,
) -> None:
    reminder = await reminded(linked)
    [ask] = await linked.press(ANA, reminder.button("Cancel"), on=reminder)
    assert linked.changes == []  # nothing answered yet: the reminder keeps its buttons
    await linked.press(ANA, ask.button("Sick"), on=ask)
    changed = {c.edits_message_id: c for c in linked.changes}
    assert changed[ask.id].body == ask.body + "\n\nCancelled by you at 3:30 PM."
    assert changed[reminder.id].body == (
        reminder.body + "\n\nAlready answered: cancelled at 3:30 PM."
    )
    assert changed[reminder.id].buttons == ()


async def test_a_message_for_two_children_keeps_the_other_childs_buttons(
    linked: Harness,
) -> None:
    """Carmen's one reminder for Leo and Sofía: confirming Leo leaves Sofía's buttons live
    (the note says whose answer it was); once Sofía is answered too, none is left."""
    await linked.appointment("a-leo", "p-leo", VISIT)
    await linked.appointment("a-sofia", "p-sofia", VISIT + timedelta(minutes=45))
    linked.clock.set(VISIT - timedelta(hours=24))
    [both] = await linked.run_reminders()
    assert len(both.buttons) == 6
    await linked.press(CARMEN, both.buttons[0], on=both)  # Leo: confirm
    [first] = linked.changes
    assert first.body == both.body + "\n\nLeo: ✓ Confirmada por usted a las 15:30."
    assert [b.token for b in first.buttons] == [b.token for b in both.buttons[3:]]
    await linked.press(CARMEN, both.buttons[3], on=both)  # Sofía: confirm
    assert linked.changes[-1].buttons == ()
