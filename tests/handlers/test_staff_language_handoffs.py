"""Handoffs and updates in the staff member's language: a Spanish-speaking clinician reads
carebot's forms, notes and errors in Spanish, an English-speaking colleague in English."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.record import Record
from tests.handlers.conftest import DANA, LEE
from tests.harness import Harness


@pytest.fixture
async def spanish_lee(staffed: Harness) -> Harness:
    """The staffed practice, where Lee (s-2, U2: Leo's and Sofía's clinician) reads Spanish."""
    async with staffed.db.transaction() as conn:
        record = Record(conn)
        lee = await record.people.staff("s-2")
        assert lee is not None
        await record.people.save_staff(
            lee.model_copy(update={"language": "es"}), staffed.clock.now()
        )
    return staffed


async def test_the_handoff_form_is_in_spanish(spanish_lee: Harness) -> None:
    form = (await spanish_lee.command(LEE, "handoff")).form
    assert form is not None
    assert (form.title, form.submit) == ("Traspasar un paciente", "Traspasar")
    assert [f.label for f in form.fields] == [
        "Paciente", "Terapeuta que lo recibe", "Resumen", "Pendientes", "Fecha de inicio",
        "Familia",
    ]  # fmt: skip
    # Names from the record stay as they are; carebot's own words are translated.
    assert form.fields[0].options == (("p-leo", "Leo Rivera"), ("p-sofia", "Sofía Rivera"))
    assert form.fields[5].options == (
        ("yes", "Informar a la familia del cambio de terapeuta (tras confirmar recepción)"),
    )


async def test_a_handoff_reaches_a_spanish_speaking_clinician_in_spanish(
    spanish_lee: Harness,
) -> None:
    outcome = await spanish_lee.staff(
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
    # Dana reads English: the note she is shown is in her language.
    assert outcome.shown[0].text == ("Handed Maya to <@U2>; they've been asked to acknowledge.")
    [dm] = await spanish_lee.replies(outcome.queued)
    assert dm.address == "slack:U2"
    assert "*Traspaso #1* de <@U1>: Maya Rivera, a partir del 2026-11-30" in dm.body
    assert "*Resumen*\n> Working on /s/ sounds" in dm.body  # her words, as she wrote them
    assert "*Pendientes*\n> Send home practice sheet" in dm.body
    assert (
        "_Se informará a la familia del cambio de terapeuta cuando usted confirme la"
        " recepción._" in dm.body
    )
    assert [b.label for b in dm.buttons] == ["Confirmar recepción"]

    acked = await spanish_lee.staff_press(LEE, dm.button("Confirmar recepción"))
    assert acked.shown[0].text == (
        "Recepción confirmada. Ahora usted forma parte del equipo de atención de Maya Rivera."
    )
    replies = await spanish_lee.replies(acked.queued)
    [changed] = [r for r in replies if r.edits_message_id == dm.id]
    assert "Recepción confirmada a las " in changed.body
    # Dana is told in English.
    assert any(
        r.address == "slack:U1" and "<@U2> acknowledged handoff #1 (Maya Rivera)." in r.body
        for r in replies
    )
    again = await spanish_lee.staff_press(LEE, dm.button("Confirmar recepción"))
    assert again.shown[0].text == "Ya confirmó la recepción del traspaso #1."


async def test_a_spanish_speaking_clinician_hears_when_their_handoff_is_acknowledged(
    spanish_lee: Harness,
) -> None:
    outcome = await spanish_lee.staff(
        LEE,
        form="handoff",
        fields={"patient": "p-leo", "to": "s-1", "summary": "x", "effective": "2026-11-30"},
    )
    assert outcome.shown[0].text == (
        "Traspaso de Leo enviado a <@U1>; se le pidió confirmar la recepción."
    )
    [dm] = await spanish_lee.replies(outcome.queued)
    assert "*Handoff #1* from <@U2>: Leo Rivera, effective 2026-11-30" in dm.body  # Dana's
    acked = await spanish_lee.staff_press(DANA, dm.button("Acknowledge"))
    replies = await spanish_lee.replies(acked.queued)
    assert any(
        r.address == "slack:U2"
        and "<@U1> confirmó la recepción del traspaso #1 (Leo Rivera)." in r.body
        for r in replies
    )


async def test_handoff_form_errors_are_in_spanish(spanish_lee: Harness) -> None:
    outcome = await spanish_lee.staff(
        LEE, form="handoff",
        fields={"patient": "", "to": "", "summary": "", "effective": "2026-11-20"},
    )  # fmt: skip
    assert outcome.form_errors == {
        "patient": "Elija al paciente.",
        "to": "Elija quién se hace cargo.",
        "summary": "Escriba un breve resumen para quien recibe el traspaso.",
        "effective": "El 20 nov ya pasó: elija hoy o una fecha posterior.",
    }
    outcome = await spanish_lee.staff(
        LEE, form="handoff",
        fields={"patient": "p-maya", "to": "s-2", "summary": "x", "effective": "soon"},
    )  # fmt: skip
    assert outcome.form_errors == {
        "patient": "Solo puede traspasar pacientes de su equipo de atención.",
        "to": "Elija a otra persona del equipo clínico con cuenta de Slack.",
        "effective": "Elija la fecha de inicio del traspaso.",
    }


async def test_an_unacknowledged_handoff_is_raised_in_the_channels_language(
    spanish_lee: Harness,
) -> None:
    """The coordinators' channel reads English, whoever the handoff is for."""
    await spanish_lee.staff(
        DANA,
        form="handoff",
        fields={"patient": "p-maya", "to": "s-2", "summary": "x", "effective": "2026-11-30"},
    )
    spanish_lee.clock.advance(timedelta(hours=24))
    [raised] = await spanish_lee.run_watch()
    assert "Handoff #1 (Maya Rivera) to <@U2> has not been acknowledged. <@U9>" in raised.body


async def test_the_update_form_and_its_errors_are_in_spanish(spanish_lee: Harness) -> None:
    form = (await spanish_lee.command(LEE, "update")).form
    assert form is not None
    assert (form.title, form.submit) == ("Novedad de un paciente", "Enviar")
    assert [f.label for f in form.fields] == ["Paciente", "Novedad", "Quién lo ve"]
    assert form.fields[1].hint == (
        "Las familias lo ven tal como usted lo escribe: sin diagnósticos ni detalles clínicos."
    )
    assert form.fields[2].options == (
        ("family", "La familia"),
        ("care-team", "Solo el equipo de atención"),
    )
    empty = await spanish_lee.staff(
        LEE, form="update", fields={"patient": "", "text": "", "audience": ""}
    )
    assert empty.form_errors == {
        "patient": "Elija al paciente.",
        "text": "Escriba la novedad.",
        "audience": "Elija quién lo ve.",
    }
    wrong = await spanish_lee.staff(
        LEE, form="update", fields={"patient": "p-maya", "text": "x" * 2001, "audience": "family"}
    )
    assert wrong.form_errors == {
        "patient": "Solo puede enviar novedades de pacientes de su equipo de atención.",
        "text": "Use menos de 2000 caracteres.",
    }
    # Dana, who reads English, still gets her errors in English.
    english = await spanish_lee.staff(
        DANA, form="update", fields={"patient": "", "text": "", "audience": ""}
    )
    assert english.form_errors["text"] == "Write the update."


async def test_an_update_is_confirmed_in_spanish(spanish_lee: Harness) -> None:
    sent = await spanish_lee.staff(
        LEE,
        form="update",
        fields={"patient": "p-leo", "text": "Leo did great today!", "audience": "family"},
    )
    assert sent.shown[0].text == "Se envió su novedad sobre Leo a 1 familiar."
    note = await spanish_lee.staff(
        LEE,
        form="update",
        fields={"patient": "p-leo", "text": "Try the visual schedule", "audience": "care-team"},
    )
    assert note.shown[0].text == (
        "Se guardó una nota del equipo de atención en el expediente de Leo (novedad #2)."
    )


async def test_an_unknown_button_is_answered_in_spanish(spanish_lee: Harness) -> None:
    outcome = await spanish_lee.staff(LEE, action="nope", value="", conversation="C0STAFF")
    assert [s.text for s in outcome.shown] == ["Lo siento, ese botón no se puede usar."]
