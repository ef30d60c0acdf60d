"""The console's explanation of the moment, on its own (the sandbox itself starts at 09:00)."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.sandbox.console_views import situation
from tests.harness import PRACTICE  # quiet hours 21:00-08:00, America/New_York


def test_in_quiet_hours_the_first_view_says_until_when_reminders_wait() -> None:
    night = datetime(2026, 11, 24, 7, 10, tzinfo=UTC)  # 02:10 in New York
    assert situation(night, PRACTICE) == (
        "It is 02:10 at the practice: quiet hours (21:00-08:00), so reminders wait until 08:00."
        " Press Send the next reminders to move the clock to them."
    )


def test_in_the_day_it_says_how_to_move_on() -> None:
    morning = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)  # 09:00 in New York
    assert situation(morning, PRACTICE).startswith(
        "It is 09:00 at the practice: reminders due by now have gone out."
    )
    evening = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # 21:30: quiet again
    assert "quiet hours" in situation(evening, PRACTICE)
