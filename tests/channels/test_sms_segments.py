"""Every text-message template, rendered in both languages with realistic names, counted in
SMS segments. Plain English fits one GSM-7 segment (160 characters), the household message too;
Spanish fits one where its letters allow. One letter outside GSM-7 ("Sofía", "más") makes the
whole text UCS-2, 70 characters a segment: those are counted and bounded, not forbidden."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.channels.sms import segments
from bot.i18n import BabelTranslator
from handlers.core.context import ButtonSpec, numbered
from handlers.core.texts import Msg, When, _
from handlers.reminders.dispatcher import compact_reminder
from storage.models import Appointment
from tests.harness import PRACTICE

# A long practice name and long first names: the worst realistic case.
LONG_PRACTICE = PRACTICE.model_copy(update={"name": "Northside Pediatric Therapy"})
VISIT = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # Thursday 10:30 AM in New York


def visit(appointment_id: str, start: datetime) -> Appointment:
    return Appointment(
        id=appointment_id, patient_id="p", staff_id="s", start_at=start, duration_minutes=45,
        service="", location="", status="booked", participant_status="needs-action",
        answered_by_guardian_id=None, answered_at=None, cancellation_reason=None,
        reschedule_requested_at=None,
    )  # fmt: skip


def answers(appointment: Appointment, child: str | None) -> tuple[ButtonSpec, ...]:
    """The reminder's buttons, as handlers/reminders/dispatcher.py makes them."""
    subject = (
        _("{child} at {time}", child=child, time=When(appointment.start_at, "time"))
        if child
        else None
    )
    return tuple(
        ButtonSpec(label=_(action.title()), action=action, appointment=appointment, subject=subject)
        for action in ("confirm", "cancel", "reschedule")
    )


def templates(child: str, second: str) -> dict[str, list[Msg]]:
    one, two = visit("a1", VISIT), visit("a2", VISIT.replace(hour=16))
    names = {"a1": child, "a2": second}
    name, phone = LONG_PRACTICE.name, LONG_PRACTICE.phone
    return {
        "reminder": [*compact_reminder(LONG_PRACTICE, names, [one]), numbered(answers(one, None))],
        "household": [
            *compact_reminder(LONG_PRACTICE, names, [one, two]),
            numbered(answers(one, child) + answers(two, second)),
        ],
        "stop": [_("You're unsubscribed from {practice} messages and will get nothing more."
                   " Reply START to subscribe again.", practice=name)],
        "start": [_("You're subscribed to {practice} messages again. Reply STOP to unsubscribe,"
                    " HELP for help.", practice=name)],
        "help": [_("{practice}: appointment reminders and messages. For help call {phone}."
                   " Reply STOP to unsubscribe.", practice=name, phone=phone)],
        "wrong number": [_("Sorry for the trouble. We won't text this number again. ({practice})",
                           practice=name)],
    }  # fmt: skip


def counted(language: str, child: str, second: str) -> dict[str, tuple[int, str]]:
    translator = BabelTranslator()
    result = {}
    for name, parts in templates(child, second).items():
        text = "\n\n".join(translator.render(p, language, PRACTICE.timezone) for p in parts)
        result[name] = segments(text)
    return result


def test_plain_english_fits_one_gsm7_segment_everywhere() -> None:
    counts = counted("en", "Maximiliano", "Guadalupe")
    assert set(counts.values()) == {(1, "GSM-7")}, counts


def test_spanish_reminders_fit_one_segment_when_the_names_allow() -> None:
    counts = counted("es", "Maximiliano", "Guadalupe")
    assert counts["reminder"] == (1, "GSM-7") and counts["household"] == (1, "GSM-7"), counts
    # The opt-out answers say "más" and "recibirá": UCS-2, and still two segments at most.
    assert max(n for n, _encoding in counts.values()) <= 2, counts


@pytest.mark.parametrize("language", ["en", "es"])
def test_an_accented_name_costs_segments_but_stays_bounded(language: str) -> None:
    counts = counted(language, "Sofía", "Dulce")
    assert counts["reminder"][1] == "UCS-2"
    assert counts["reminder"][0] <= 3 and counts["household"][0] <= 3, counts


def test_the_segment_counter() -> None:
    assert segments("a" * 160) == (1, "GSM-7")
    assert segments("a" * 161) == (2, "GSM-7")
    assert segments("€" * 80) == (1, "GSM-7")  # two septets each
    assert segments("á" * 70) == (1, "UCS-2")
    assert segments("á" * 71) == (2, "UCS-2")
