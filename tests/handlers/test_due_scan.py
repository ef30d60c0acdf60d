"""The due-scan on a record of a few thousand visits: it works in short transactions, and a
family's button press in the middle of a large fan-out is recorded before the fan-out ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from handlers.reminders.dispatcher import DUE_BATCH, ReminderDispatcher
from handlers.reminders.planning import PLAN_BATCH, plan_ahead, plan_reminders
from storage.clock import to_db
from storage.record import Record
from tests.handlers.conftest import ANA
from tests.harness import Harness

FAMILIES = 2400
#: Of them, the families whose visit is tomorrow (their reminders fall due together); the
#: others' visits are later in the week.
DUE = 800


async def _generate(harness: Harness, families: int, due: int, plan: bool = True) -> None:
    """``families`` linked Telegram families, each with a visit: the first ``due`` in 25 hours,
    the others days later (written directly: the import path has its own tests)."""
    now = to_db(harness.clock.now())

    def visit(n: int) -> str:
        later = timedelta(hours=25) if n < due else timedelta(days=4, hours=3, minutes=n % 600)
        return to_db(harness.clock.now() + later)

    async with harness.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO patient VALUES (?, ?, 'Family', '2018-01-01', 'en', ?, ?)",
            [(f"p-{n}", f"Child{n}", now, now) for n in range(families)],
        )
        await conn.executemany(
            "INSERT INTO guardian VALUES (?, ?, 'Family', NULL, 'en', 0, NULL, ?, ?)",
            [(f"g-{n}", f"Parent{n}", now, now) for n in range(families)],
        )
        await conn.executemany(
            "INSERT INTO guardian_patient VALUES (?, ?, 'mother', 1)",
            [(f"g-{n}", f"p-{n}") for n in range(families)],
        )
        await conn.executemany(
            "INSERT INTO channel_identity (channel, address, guardian_id, verified_at,"
            " consent_at, created_at) VALUES ('telegram', ?, ?, ?, ?, ?)",
            [(f"telegram:{900000 + n}", f"g-{n}", now, now, now) for n in range(families)],
        )
        await conn.executemany(
            "INSERT INTO appointment (id, patient_id, staff_id, start_at, duration_minutes,"
            " created_at, updated_at) VALUES (?, ?, 's-1', ?, 45, ?, ?)",
            [(f"a-{n}", f"p-{n}", visit(n), now, now) for n in range(families)],
        )
        record = Record(conn)
        practice = await record.practice.get()
        assert practice is not None
        if plan:
            await plan_reminders(record, practice, harness.clock.now())


async def _still_due(harness: Harness) -> object:
    """Reminders still pending whose time has come."""
    return await harness.scalar(
        "SELECT COUNT(*) FROM reminder WHERE status = 'pending' AND send_at <= ?",
        to_db(harness.clock.now()),
    )


async def test_a_button_press_is_recorded_in_the_middle_of_a_large_fan_out(
    linked: Harness,
) -> None:
    # Ana has a reminder with buttons from before; then a fan-out to 800 families comes due.
    await linked.appointment("a-ana", "p-maya", linked.clock.now() + timedelta(hours=26))
    [ana_reminder] = await linked.run_reminders()
    await _generate(linked, FAMILIES, DUE)
    linked.clock.advance(timedelta(hours=1, minutes=1))  # every 24-hour reminder is due

    held: list[float] = []
    first_batch = asyncio.Event()

    def observe(seconds: float) -> None:
        held.append(seconds)
        first_batch.set()

    linked.db.observers.append(observe)
    fan_out = asyncio.create_task(linked.dispatcher.run_due())
    await first_batch.wait()
    replies = await linked.press(ANA, ana_reminder.button("Confirm"))
    assert not fan_out.done(), "the press waited for the whole fan-out"
    queued = await fan_out

    assert replies[0].body == (
        "Thank you! Maya's appointment on Tuesday, November 24 at 11:00 AM is confirmed."
        " See you then!"
    )
    assert (await linked.appointment_row("a-ana")).participant_status == "accepted"
    assert queued == DUE
    # One transaction per batch of due reminders (plus the press).
    assert len(held) >= DUE // DUE_BATCH
    # Both reminders of each visit tomorrow (the 72-hour one, late, and the 24-hour one) went
    # in one message per family; the later visits' reminders wait for their time.
    sent = "SELECT COUNT(*) FROM reminder WHERE status = 'sent' AND guardian_id != 'g-ana'"
    assert await linked.scalar(sent) == 2 * DUE
    assert await _still_due(linked) == 0


async def test_a_batch_past_its_time_budget_leaves_the_rest_to_the_next_one(
    linked: Harness,
) -> None:
    """With no time to spare (a budget of 0 s), every transaction takes one reminder and stops:
    the batch's other due reminders stay pending for the next, and each family still gets its
    reminder once, none lost."""
    await _generate(linked, 60, 30)
    linked.clock.advance(timedelta(hours=1, minutes=1))
    dispatcher = ReminderDispatcher(linked.db, linked.clock, linked.translator, due_budget=0.0)
    held: list[float] = []
    linked.db.observers.append(held.append)
    queued = await dispatcher.run_due()
    assert queued == 30
    # At least one transaction per family (the due batches hold 10; planning adds its own).
    assert len(held) >= 30
    assert (
        await linked.scalar(
            "SELECT COUNT(DISTINCT guardian_id) FROM reminder WHERE status = 'sent'"
        )
        == 30
    )
    # One message each: 30 families, none with two.
    per_family = (
        "SELECT COUNT(*) AS n FROM message WHERE direction = 'out'"
        " AND guardian_id GLOB 'g-[0-9]*' GROUP BY guardian_id"
    )
    assert await linked.scalar(f"SELECT COUNT(*) FROM ({per_family})") == 30
    assert await linked.scalar(f"SELECT MAX(n) FROM ({per_family})") == 1
    assert await _still_due(linked) == 0


async def test_the_window_moving_on_is_planned_in_paced_batches_missing_no_visit(
    linked: Harness,
) -> None:
    """600 visits enter the window at once, 400 of them at the very same minute (batches are
    cut between equal start times): each gets its two reminders once, in many transactions,
    the first of at most PLAN_FIRST visits; planning again adds nothing."""
    await _generate(linked, 600, 400, plan=False)
    async with linked.db.query() as conn:
        practice = await Record(conn).practice.get()
    assert practice is not None
    held: list[float] = []
    linked.db.observers.append(held.append)
    added = await plan_ahead(linked.db, practice, linked.clock.now())
    linked.db.observers.remove(held.append)
    # The 72- and 24-hour reminders of every visit (the 72-hour one of tomorrow's is late).
    assert added == 2 * 600
    assert len(held) >= 600 // PLAN_BATCH + 1
    twice = (
        "SELECT COUNT(*) FROM (SELECT appointment_id, offset_hours FROM reminder"
        " GROUP BY 1, 2 HAVING COUNT(*) > 1)"
    )
    assert await linked.scalar(twice) == 0
    assert (
        await linked.scalar(
            "SELECT COUNT(DISTINCT appointment_id) FROM reminder WHERE"
            " appointment_id GLOB 'a-[0-9]*'"
        )
        == 600
    )
    assert await plan_ahead(linked.db, practice, linked.clock.now()) == 0
