"""Reminders: planned in the practice's timezone, sent once, never in quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from handlers.records.imports import import_csv
from handlers.reminders.dispatcher import household_window
from handlers.reminders.planning import plan_reminders
from storage.record import Record
from tests.handlers.conftest import ANA, CARMEN
from tests.harness import Harness

# Thursday 26 November 2026, 3:30 pm in New York (EST, UTC-5).
VISIT = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)


async def reminder_rows(h: Harness, appointment_id: str) -> list[tuple[int, str, str]]:
    async with h.db.read() as conn:
        cur = await conn.execute(
            "SELECT offset_hours, send_at, status FROM reminder WHERE appointment_id = ?"
            " ORDER BY id",
            (appointment_id,),
        )
        return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def test_reminders_are_planned_72_and_24_hours_before(linked: Harness) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    assert await reminder_rows(linked, "a-1") == [
        (72, "2026-11-23T20:30:00Z", "pending"),
        (24, "2026-11-25T20:30:00Z", "pending"),
    ]


async def test_a_reminder_goes_out_at_its_time_and_only_once(linked: Harness) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    linked.clock.set(VISIT - timedelta(hours=72, seconds=1))
    assert await linked.run_reminders() == []
    linked.clock.advance(timedelta(seconds=1))
    [reminder] = await linked.run_reminders()
    assert reminder.address == ANA
    assert reminder.body.startswith(
        "Hi Ana, this is Bright Steps Therapy. Reminder: Maya has an appointment on"
        " Thursday, November 26 at 3:30 PM."
    )
    assert "+1 555 010 2030" in reminder.body
    assert [b.label for b in reminder.buttons] == ["Confirm", "Cancel", "Reschedule"]
    assert await linked.run_reminders() == []
    linked.clock.advance(timedelta(minutes=10))
    assert await linked.run_reminders() == []


async def test_no_reminder_text_carries_clinical_detail(linked: Harness) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    linked.clock.set(VISIT - timedelta(hours=24))
    [reminder] = await linked.run_reminders()
    for secret in ("speech", "Dana", "Room 2", "2019", "Rivera"):
        assert secret not in reminder.body


async def test_a_spanish_family_is_reminded_in_spanish(linked: Harness) -> None:
    await linked.appointment("a-9", "p-leo", VISIT)
    linked.clock.set(VISIT - timedelta(hours=24))
    [reminder] = await linked.run_reminders()
    assert reminder.address == CARMEN
    assert "Leo" in reminder.body and "jueves, 26 de noviembre" in reminder.body
    assert "15:30" in reminder.body
    assert [b.label for b in reminder.buttons] == ["Confirmar", "Cancelar", "Reprogramar"]


async def test_two_children_the_same_day_share_one_message(linked: Harness) -> None:
    await linked.appointment("a-leo", "p-leo", VISIT)
    await linked.appointment("a-sofia", "p-sofia", VISIT + timedelta(hours=1))
    linked.clock.set(VISIT - timedelta(hours=24))
    [reminder] = await linked.run_reminders()
    assert "• Leo a las 15:30" in reminder.body or "• Leo" in reminder.body
    assert "Sofía" in reminder.body and "16:30" in reminder.body
    assert len(reminder.buttons) == 6
    # Sofía's reminder was due an hour later; it went out with Leo's and is not sent again.
    linked.clock.advance(timedelta(hours=1))
    assert await linked.run_reminders() == []
    statuses = await reminder_rows(linked, "a-sofia")
    assert statuses[-1][2] == "sent"
    # Each row of buttons answers for its own child.
    await linked.press(CARMEN, reminder.buttons[3])  # Confirmar Sofía
    assert (await linked.appointment_row("a-sofia")).participant_status == "accepted"
    assert (await linked.appointment_row("a-leo")).participant_status == "needs-action"


async def test_a_cancelled_appointment_is_not_reminded(linked: Harness) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    async with linked.db.transaction() as conn:
        await conn.execute("UPDATE appointment SET status = 'cancelled' WHERE id = 'a-1'")
    linked.clock.set(VISIT - timedelta(hours=24))
    assert await linked.run_reminders() == []
    assert "sent" not in {row[2] for row in await reminder_rows(linked, "a-1")}


async def test_a_moved_appointment_gets_fresh_reminders_and_the_old_ones_never_go(
    linked: Harness,
) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    await linked.appointment("a-1", "p-maya", VISIT + timedelta(days=2))
    rows = await reminder_rows(linked, "a-1")
    # The new start (Saturday) is past the planning window (72 h + 48 h): planned later.
    assert [r[2] for r in rows] == ["withdrawn", "withdrawn"]
    # Wednesday 3:30 pm: the old visit's 24 h reminder would be due, the new visit's 72 h is.
    linked.clock.set(VISIT - timedelta(hours=24))
    [reminder] = await linked.run_reminders()
    assert "Saturday, November 28" in reminder.body
    assert "Thursday" not in reminder.body


async def test_a_visit_moved_by_an_import_takes_the_buttons_off_its_sent_reminder(
    linked: Harness, tmp_path: Path
) -> None:
    """Ana's 72 h reminder went out with Confirm / Cancel / Reschedule; then the practice's
    import moves the visit: her reminder changes in place, its buttons gone, saying why, in
    her language; nothing more is changed on the next run."""
    await linked.appointment("a-1", "p-maya", VISIT)
    linked.clock.set(VISIT - timedelta(hours=72))
    [reminder] = await linked.run_reminders()
    assert [b.label for b in reminder.buttons] == ["Confirm", "Cancel", "Reschedule"]
    moved = tmp_path / "appointments.csv"
    moved.write_text(
        "appointment_id,patient_id,staff_id,start,duration_minutes,service,location\n"
        "a-1,p-maya,s-1,2026-11-27T15:30,45,speech therapy,Main clinic\n"
    )
    await import_csv(linked.db, "appointments", moved, linked.clock.now())
    changes = [r for r in await linked.run_reminders() if r.edits_message_id is not None]
    [change] = changes
    assert change.edits_message_id == reminder.id and change.address == ANA
    assert change.body == (
        reminder.body + "\n\nThis visit has moved: a new reminder with buttons will follow."
    )
    assert change.buttons == ()
    again = await linked.run_reminders()
    assert [r for r in again if r.edits_message_id is not None] == []


async def test_quiet_hours_are_the_recipients_and_delay_without_dropping(
    linked: Harness,
) -> None:
    # Ana lives in Los Angeles: 24 h before a 10:00 New York visit is 07:00 for her.
    async with linked.db.transaction() as conn:
        await conn.execute(
            "UPDATE guardian SET timezone = 'America/Los_Angeles' WHERE id = 'g-ana'"
        )
    visit = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # Friday 10:00 EST
    await linked.appointment("a-1", "p-maya", visit)
    assert (24, "2026-11-26T16:00:00Z", "pending") in await reminder_rows(linked, "a-1")
    linked.clock.set(visit - timedelta(hours=24))
    assert await linked.run_reminders() == []
    linked.clock.set(datetime(2026, 11, 26, 16, 0, tzinfo=UTC))  # 08:00 in Los Angeles
    [reminder] = await linked.run_reminders()
    assert "Friday, November 27 at 10:00 AM" in reminder.body


async def test_a_dispatcher_woken_in_the_night_holds_the_reminder_until_morning(
    linked: Harness,
) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    # The bot was down; it comes back at 3 a.m. New York time with the 72 h reminder overdue.
    linked.clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    assert await linked.run_reminders() == []
    assert (72, "2026-11-24T13:00:00Z", "pending") in await reminder_rows(linked, "a-1")
    linked.clock.set(datetime(2026, 11, 24, 13, 0, tzinfo=UTC))  # 08:00 New York
    [reminder] = await linked.run_reminders()
    assert "Maya" in reminder.body


async def test_a_late_booking_gets_one_reminder_not_two(linked: Harness) -> None:
    linked.clock.set(VISIT - timedelta(hours=10))
    await linked.appointment("a-1", "p-maya", VISIT)
    # Ten hours ahead is 05:30 in New York: quiet hours hold it until 08:00.
    assert await reminder_rows(linked, "a-1") == [(24, "2026-11-26T13:00:00Z", "pending")]
    linked.clock.set(datetime(2026, 11, 26, 13, 0, tzinfo=UTC))
    assert len(await linked.run_reminders()) == 1
    async with linked.db.transaction() as conn:
        record = Record(conn)
        practice = await record.practice.get()
        assert practice is not None
        assert await plan_reminders(record, practice, linked.clock.now()) == 0


async def test_a_family_without_a_linked_channel_is_recorded_undeliverable(h: Harness) -> None:
    await h.appointment("a-1", "p-maya", VISIT)
    h.clock.set(VISIT - timedelta(hours=24))
    assert await h.run_reminders() == []
    assert (await reminder_rows(h, "a-1"))[-1][2] == "undeliverable"
    assert (
        await h.scalar("SELECT COUNT(*) FROM audit_event WHERE action = 'reminder.undeliverable'")
        == 1
    )


async def test_a_family_that_links_after_a_missed_reminder_still_gets_the_next_one(
    h: Harness,
) -> None:
    # Booked 30 hours ahead while the family has no channel yet: the 72-hour reminder (due
    # now, late) cannot go; the 24-hour one, six hours later, must stay planned.
    h.clock.set(VISIT - timedelta(hours=30))
    await h.appointment("a-1", "p-maya", VISIT)
    assert await h.run_reminders() == []
    statuses = {offset: status for offset, _, status in await reminder_rows(h, "a-1")}
    assert statuses == {72: "undeliverable", 24: "pending"}
    await h.link("g-ana", ANA, "03/14/2019")
    h.clock.set(VISIT - timedelta(hours=24))
    [reminder] = await h.run_reminders()
    assert reminder.address == ANA and "Maya has an appointment" in reminder.body


async def test_after_downtime_a_visit_gets_one_reminder_not_one_per_missed_offset(
    linked: Harness,
) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    linked.clock.set(VISIT - timedelta(hours=20))  # both the 72 h and the 24 h are overdue
    [reminder] = await linked.run_reminders()
    assert "Maya" in reminder.body
    assert {row[2] for row in await reminder_rows(linked, "a-1")} == {"sent"}


def test_the_household_window_never_swallows_a_planned_reminder() -> None:
    assert household_window((72, 24)) == timedelta(hours=12)
    assert household_window((24, 12)) < timedelta(hours=6)
    assert household_window((3, 2, 1)) < timedelta(minutes=30)
    assert household_window((24,)) == timedelta(hours=12)


async def test_a_guardian_unlinked_from_the_child_is_not_reminded(linked: Harness) -> None:
    await linked.appointment("a-1", "p-maya", VISIT)
    async with linked.db.transaction() as conn:
        await conn.execute("DELETE FROM guardian_patient WHERE guardian_id = 'g-ana'")
    linked.clock.set(VISIT - timedelta(hours=24))
    assert await linked.run_reminders() == []


async def test_planning_a_late_booking_twice_adds_nothing(linked: Harness) -> None:
    linked.clock.set(VISIT - timedelta(hours=10))
    await linked.appointment("a-1", "p-maya", VISIT)
    async with linked.db.transaction() as conn:
        record = Record(conn)
        practice = await record.practice.get()
        assert practice is not None
        for _ in range(3):
            assert await plan_reminders(record, practice, linked.clock.now()) == 0
    assert len(await reminder_rows(linked, "a-1")) == 1
