"""The due-scan on a record of a few thousand visits: it works in short transactions, and a
family's button press in the middle of a large fan-out is recorded before the fan-out ends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from handlers.reminders import DUE_BATCH, plan_reminders
from storage.clock import to_db
from storage.record import Record
from tests.handlers.conftest import ANA
from tests.harness import Harness

FAMILIES = 2400
#: Of them, the families whose visit is tomorrow (their reminders fall due together); the
#: others' visits are later in the week.
DUE = 800


async def _generate(harness: Harness, families: int, due: int) -> None:
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
        await plan_reminders(record, practice, harness.clock.now())


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
    assert (
        await linked.scalar(
            "SELECT COUNT(*) FROM reminder WHERE status = 'pending' AND send_at <= ?",
            to_db(linked.clock.now()),
        )
        == 0
    )
