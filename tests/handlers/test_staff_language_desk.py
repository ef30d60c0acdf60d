"""Staff read carebot in their own language: the escalation desk, a family's answers, a
message that did not arrive. What is posted in the coordinators' channel is in the channel's
language, whoever's action it reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.config import PracticeSettings, Settings, SlackSettings, TelegramSettings
from handlers.staff import delivery
from storage.db import Database
from storage.record import Record
from tests.handlers.conftest import ANA, DANA, ROSA
from tests.harness import COORDINATORS, PRACTICE, Harness

TODAY_3PM = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # Monday 3:00 PM in New York


async def speaks_spanish(h: Harness, *staff_ids: str) -> None:
    """These staff members read carebot in Spanish (as a staff import with a language says)."""
    async with h.db.transaction() as conn:
        record = Record(conn)
        for staff_id in staff_ids:
            staff = await record.people.staff(staff_id)
            assert staff is not None
            await record.people.save_staff(
                staff.model_copy(update={"language": "es"}), h.clock.now()
            )


async def test_a_spanish_speaking_coordinator_works_an_escalation_in_spanish(
    staffed: Harness,
) -> None:
    await speaks_spanish(staffed, "s-9", "s-1")  # Rosa (coordinator), Dana (Maya's clinician)
    await staffed.send(ANA, "Question")
    [root] = [p for p in staffed.staff_posts_to(COORDINATORS) if p.thread_message_id is None]

    opened = await staffed.staff_press(ROSA, root.button("Reassign"))
    form = opened.form
    assert form is not None
    assert (form.title, form.submit) == ("Reasignar caso #1", "Reasignar")
    assert form.fields[0].label == "¿Quién debe tomarlo?"
    assert ("s-1", "Dana Brooks") in form.fields[0].options  # names stay as on the record
    empty = await staffed.staff(ROSA, form="reassign", value=form.context, fields={"staff": ""})
    assert empty.form_errors == {"staff": "Elija quién debe tomarlo."}

    done = await staffed.staff(ROSA, form="reassign", value=form.context, fields={"staff": "s-1"})
    posts = await staffed.replies(done.queued)
    [to_dana] = [p for p in posts if p.address == f"slack:{DANA}"]
    assert to_dana.body == (
        "<@U9> le asignó el caso #1. Responda a la familia en su hilo del canal de coordinación."
    )
    # The thread is in the coordinators' channel: in its language (English), not Rosa's.
    [note] = [p for p in posts if p.thread_message_id == root.id]
    assert note.body.endswith(" Reassigned to <@U1> by <@U9>.")
    # Ana hears in her own language, as before.
    assert any(p.address == ANA and p.body.startswith("Dana from Bright Steps") for p in posts)

    again = await staffed.staff_press(ROSA, root.button("Claim"))
    assert [s.text for s in again.shown] == ["El caso #1 ya lo tomó <@U1>."]


async def test_a_spanish_speaking_clinician_hears_a_familys_answer_in_spanish(
    staffed: Harness,
) -> None:
    await speaks_spanish(staffed, "s-1")  # Dana, Maya's clinician
    await staffed.appointment("a-1", "p-maya", TODAY_3PM + timedelta(days=3))
    staffed.clock.set(TODAY_3PM + timedelta(days=2))
    [reminder] = await staffed.run_reminders()
    await staffed.press(ANA, reminder.button("Confirm"))
    dm = staffed.staff_posts[-1]
    assert dm.address == f"slack:{DANA}"
    assert dm.body == (
        ":white_check_mark: Maya Rivera confirmó la cita del jue 26 nov, 15:00 (por Ana Rivera)."
    )


async def test_a_spanish_speaking_author_hears_in_spanish_that_their_message_failed(
    staffed: Harness,
) -> None:
    await speaks_spanish(staffed, "s-9")  # Rosa
    await staffed.send(ANA, "Can we move Thursday?")
    [root] = [p for p in staffed.staff_posts_to(COORDINATORS) if p.thread_message_id is None]
    await staffed.staff_press(ROSA, root.button("Claim"))
    reply = await staffed.thread_reply(ROSA, root, "Yes, Friday at 4 works.")
    [sent] = [r for r in await staffed.replies(reply.queued) if r.address == ANA]
    async with staffed.db.transaction() as conn:
        await conn.execute(
            "UPDATE message SET status = 'failed', error = 'recipient blocked the bot'"
            " WHERE id = ?",
            (sent.id,),
        )
        record = Record(conn)
        told = await delivery.tell_authors(
            record, staffed.desk, [sent.id], staffed.clock.now(), staffed.translator
        )
    assert told == 1
    body = await staffed.scalar(
        "SELECT body FROM message WHERE address = ? ORDER BY id DESC LIMIT 1", f"slack:{ROSA}"
    )
    assert body == (
        ":warning: Su mensaje a Ana Rivera por Telegram no se entregó: la familia bloqueó a"
        " carebot. carebot no volverá a intentarlo; por favor, llame a la familia."
    )


async def test_the_watch_raises_an_escalation_in_the_coordinators_channels_language(
    db: Database, staffed: Harness
) -> None:
    """With the channel in Spanish, the watch's posts are in Spanish (and so is the count)."""
    spanish = Harness(
        db,
        staffed.clock,
        Settings(
            database=db.path,
            slack=SlackSettings(escalation_channel=COORDINATORS, language="es"),
            telegram=TelegramSettings(bot_username="BrightStepsBot"),
            practice=PracticeSettings(
                name=PRACTICE.name, phone=PRACTICE.phone, timezone=PRACTICE.timezone
            ),
        ),
    )
    await staffed.send(ANA, "Can we talk?")
    staffed.clock.advance(timedelta(minutes=16))
    raised = await spanish.run_watch()
    assert raised[0].address == f"slack:{COORDINATORS}"
    assert (
        "El caso #1 (no entendido) lleva 16 minutos esperando y nadie lo ha tomado. <@U9>"
        in raised[0].body
    )
