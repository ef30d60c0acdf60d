"""A channel-agnostic harness: speak as a person, read the replies and the record.

Events go through the real pipeline and handlers into a real (temporary) care record; replies are
the rows the outbox would send, rendered in the recipient's language.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from bot.app import CareBot
from bot.channels.slack_render import mrkdwn
from bot.config import PracticeSettings, Settings, SlackSettings, TelegramSettings
from handlers.core.events import (
    ButtonPressed,
    FamilyText,
    FormSubmitted,
    HomeOpened,
    Inbound,
    StaffAction,
    StaffCommand,
    StaffEvent,
    ThreadReply,
)
from handlers.core.pipeline import Outcome
from handlers.core.screens import Section, StaffButton
from handlers.reminders.planning import plan_appointments
from storage.clock import FakeClock
from storage.db import Database
from storage.models import Appointment, Button, Guardian, GuardianLink, Patient, Practice, Staff
from storage.record import Record

PRACTICE = Practice(
    name="Bright Steps Therapy",
    phone="+1 555 010 2030",
    timezone="America/New_York",
    business_hours_start=time(8),
    business_hours_end=time(18),
    quiet_hours_start=time(21),
    quiet_hours_end=time(8),
    reminder_offsets_hours=(72, 24),
    late_cancel_hours=24,
)


COORDINATORS = "C0COORD"
TEAM = "T0CAREBOT"


def harness_settings(db: Database) -> Settings:
    """The settings the harness runs the bot with: no channel configured, coordinators in
    COORDINATORS, invite links for the practice's Telegram bot."""
    return Settings(
        database=db.path,
        slack=SlackSettings(escalation_channel=COORDINATORS),
        telegram=TelegramSettings(bot_username="BrightStepsBot"),
        practice=PracticeSettings(
            name=PRACTICE.name, phone=PRACTICE.phone, timezone=PRACTICE.timezone
        ),
    )


@dataclass(frozen=True)
class Reply:
    body: str
    buttons: tuple[Button, ...]
    address: str
    id: int = 0
    thread_message_id: int | None = None
    #: This row is a change of that message, sent before (chat.update, editMessageText).
    edits_message_id: int | None = None

    def button(self, label: str) -> Button:
        for b in self.buttons:
            if b.label == label:
                return b
        raise AssertionError(f"no button {label!r} in {[b.label for b in self.buttons]}")


def as_seen_in_slack(outcome: Outcome) -> Outcome:
    """The outcome with what it shows written as Slack shows it (mrkdwn, by the bot's own
    renderer), so a test reads the note a staff member would read."""

    def seen(sections: list[Section]) -> list[Section]:
        return [Section(mrkdwn(section.text), section.buttons) for section in sections]

    return replace(
        outcome,
        shown=seen(outcome.shown),
        home=None if outcome.home is None else seen(outcome.home),
    )


class Harness:
    """Drives the pipeline as families would, with a fake clock."""

    def __init__(self, db: Database, clock: FakeClock, settings: Settings | None = None) -> None:
        self.db = db
        self.clock = clock
        #: The bot as `carebot run` wires it (bot/app.py, the one composition root), without
        #: channels: events go in through its pipeline, what it queues is read from the record.
        self.carebot = CareBot(settings or harness_settings(db), db, clock)
        self.translator = self.carebot.translator
        self.desk = self.carebot.desk
        self.pipeline = self.carebot.pipeline
        self.watch = self.carebot.watch
        self.dispatcher = self.carebot.reminders
        #: Messages queued for staff (Slack), oldest first, as the outbox would post them.
        self.staff_posts: list[Reply] = []
        #: Changes of messages sent before (a post claimed, a reminder answered), oldest first.
        self.changes: list[Reply] = []
        self._ids = itertools.count(1000)
        self.last_outcome: Outcome | None = None

    async def setup(self, practice: Practice = PRACTICE) -> None:
        async with self.db.transaction() as conn:
            await Record(conn).practice.save(practice, self.clock.now())

    async def family(
        self,
        guardian_id: str,
        first_name: str,
        children: list[tuple[str, str, str]],
        language: str = "en",
    ) -> None:
        """A guardian and their children: (patient_id, first_name, date_of_birth)."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            record = Record(conn)
            await record.people.save_guardian(
                Guardian(
                    id=guardian_id,
                    first_name=first_name,
                    last_name="Rivera",
                    phone=None,
                    language=language,
                    sms_consent=False,
                    timezone=None,
                ),
                now,
            )
            for patient_id, child, dob in children:
                await record.people.save_patient(
                    Patient(
                        id=patient_id,
                        first_name=child,
                        last_name="Rivera",
                        date_of_birth=dob,
                        language=language,
                    ),
                    now,
                )
                await record.people.link(
                    GuardianLink(
                        guardian_id=guardian_id,
                        patient_id=patient_id,
                        relationship="mother",
                        may_receive_updates=True,
                    )
                )
            if await record.people.staff("s-1") is None:
                await record.people.save_staff(
                    Staff(
                        id="s-1",
                        name="Dana Brooks",
                        role="clinician",
                        discipline="speech-language pathology",
                        slack_user_id="U1",
                    ),
                    now,
                )

    async def add_staff(
        self,
        staff_id: str,
        name: str,
        role: str,
        slack_user: str | None,
        patients: tuple[str, ...] = (),
    ) -> None:
        """A staff member (role clinician, coordinator or admin) on these patients' care teams."""
        now = self.clock.now()
        async with self.db.transaction() as conn:
            record = Record(conn)
            await record.people.save_staff(
                Staff(
                    id=staff_id,
                    name=name,
                    role=role,  # type: ignore[arg-type]
                    discipline="occupational therapy" if role == "clinician" else "",
                    slack_user_id=slack_user,
                ),
                now,
            )
            for patient_id in patients:
                await record.people.add_to_care_team(patient_id, staff_id, now)

    async def appointment(
        self, appointment_id: str, patient_id: str, start: datetime, staff_id: str = "s-1"
    ) -> None:
        now = self.clock.now()
        async with self.db.transaction() as conn:
            record = Record(conn)
            existing = await record.appointments.get(appointment_id)
            await record.appointments.save(
                Appointment(
                    id=appointment_id,
                    patient_id=patient_id,
                    staff_id=staff_id,
                    start_at=start,
                    duration_minutes=45,
                    service="speech therapy",
                    location="Room 2",
                    status=existing.status if existing else "booked",
                    participant_status="needs-action",
                    answered_by_guardian_id=None,
                    answered_at=None,
                    cancellation_reason=None,
                    reschedule_requested_at=None,
                ),
                now,
            )
            practice = await record.practice.get()
            assert practice is not None
            saved = await record.appointments.get(appointment_id)
            assert saved is not None
            await plan_appointments(record, practice, [saved], now)

    async def invite(self, guardian_id: str) -> str:
        async with self.db.transaction() as conn:
            return await Record(conn).invites.create(
                guardian_id, self.clock.now(), timedelta(days=7)
            )

    async def send(self, address: str, text: str, language_hint: str = "en") -> list[Reply]:
        return await self._event(
            FamilyText(
                channel=address.split(":")[0],
                address=address,
                event_id=str(next(self._ids)),
                text=text,
                language_hint=language_hint,
            )
        )

    async def press(
        self, address: str, button: Button | str, on: Reply | None = None
    ) -> list[Reply]:
        """Press a button; ``on``: the message it is on, as Telegram says (marked sent)."""
        token = button.token if isinstance(button, Button) else button
        return await self._event(
            ButtonPressed(
                channel=address.split(":")[0],
                address=address,
                event_id=str(next(self._ids)),
                choice=token,
                on_message=await self.posted(on) if on is not None else None,
            )
        )

    async def _event(self, event: Inbound) -> list[Reply]:
        """Handle one event; return what was queued for families (staff posts are kept aside)."""
        self.last_outcome = as_seen_in_slack(await self.pipeline.handle(event))
        replies = await self.replies(self.last_outcome.queued)
        self.staff_posts.extend(
            r for r in replies if r.address.startswith("slack:") and r.edits_message_id is None
        )
        self.changes.extend(r for r in replies if r.edits_message_id is not None)
        return [
            r for r in replies if not r.address.startswith("slack:") and r.edits_message_id is None
        ]

    async def staff(self, user: str, **fields: Any) -> Outcome:
        """A staff member's event (``slack:T/U``), its type told by its fields as a Slack
        payload would be: a form's id, an action, the home tab, a thread, else command text."""
        kind: type[StaffEvent]
        if "form" in fields:
            kind = FormSubmitted
        elif "action" in fields:
            kind = StaffAction
        elif fields.pop("home", False):
            kind = HomeOpened
        elif "thread" in fields:
            kind = ThreadReply
        else:
            kind = StaffCommand
        await self._event(
            kind(  # type: ignore[arg-type]
                channel="slack",
                address=f"slack:{TEAM}/{user}",
                event_id=str(next(self._ids)),
                **fields,
            )
        )
        assert self.last_outcome is not None
        return self.last_outcome

    async def command(self, user: str, text: str) -> Outcome:
        return await self.staff(user, text=f"/carebot {text}", conversation="C0STAFF")

    async def staff_press(self, user: str, button: Button | StaffButton) -> Outcome:
        """Press a button of a staff post (a stored one) or of a screen (the home tab's)."""
        if isinstance(button, StaffButton):
            action, value = button.action, button.value
        else:
            action, _, value = button.token.partition(":")
        return await self.staff(user, action=action, value=value, conversation=COORDINATORS)

    async def thread_reply(self, user: str, root: Reply, text: str) -> Outcome:
        """Reply in the thread started by ``root`` (posted first: it gets a provider id)."""
        ts = await self.posted(root)
        return await self.staff(user, text=text, conversation=COORDINATORS, thread=ts)

    async def posted(self, reply: Reply) -> str:
        """Mark a staff post sent, as the outbox would; return its provider id (Slack's ts)."""
        ts = f"1700000000.{reply.id:06d}"
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE message SET status = 'sent', provider_message_id = ? WHERE id = ?",
                (ts, reply.id),
            )
        return ts

    async def run_watch(self) -> list[Reply]:
        """Run the staff watch now; return the staff posts it queued."""
        async with self.db.read() as conn:
            cur = await conn.execute("SELECT COALESCE(MAX(id), 0) FROM message")
            before = (await cur.fetchone())[0]
        await self.watch.run_due()
        async with self.db.read() as conn:
            cur = await conn.execute("SELECT id FROM message WHERE id > ? ORDER BY id", (before,))
            ids = [row[0] for row in await cur.fetchall()]
        posts = await self.replies(ids)
        self.staff_posts.extend(p for p in posts if p.edits_message_id is None)
        self.changes.extend(p for p in posts if p.edits_message_id is not None)
        return posts

    def now_shows(self, message: Reply) -> Reply:
        """A message as it shows now: its latest change, or itself if it never changed."""
        changed = [c for c in self.changes if c.edits_message_id == message.id]
        return changed[-1] if changed else message

    def staff_posts_to(self, conversation: str) -> list[Reply]:
        return [r for r in self.staff_posts if r.address == f"slack:{conversation}"]

    async def replies(self, message_ids: list[int]) -> list[Reply]:
        result = []
        async with self.db.read() as conn:
            for message_id in message_ids:
                cur = await conn.execute(
                    "SELECT body, address, thread_message_id, edits_message_id FROM message"
                    " WHERE id = ?",
                    (message_id,),
                )
                row = await cur.fetchone()
                bcur = await conn.execute(
                    "SELECT label, token FROM message_button WHERE message_id = ?"
                    " ORDER BY position",
                    (message_id,),
                )
                buttons = tuple(Button(label=b[0], token=b[1]) for b in await bcur.fetchall())
                result.append(
                    Reply(
                        body=row[0],
                        buttons=buttons,
                        address=row[1],
                        id=message_id,
                        thread_message_id=row[2],
                        edits_message_id=row[3],
                    )
                )
        return result

    async def link(self, guardian_id: str, address: str, birth_date: str) -> None:
        """Link an address to a guardian through the real invite flow."""
        token = await self.invite(guardian_id)
        await self.send(address, f"/start {token}")
        replies = await self.send(address, birth_date)
        assert "all set" in replies[0].body or "listo" in replies[0].body, replies[0].body

    async def run_reminders(self) -> list[Reply]:
        """Plan what entered the window, then queue what is due now; return the reminder
        messages queued."""
        async with self.db.read() as conn:
            cur = await conn.execute("SELECT COALESCE(MAX(id), 0) FROM message")
            before = (await cur.fetchone())[0]
        await self.dispatcher.run_due()
        async with self.db.read() as conn:
            cur = await conn.execute(
                "SELECT id FROM message WHERE id > ? AND direction = 'out' ORDER BY id", (before,)
            )
            ids = [row[0] for row in await cur.fetchall()]
        return await self.replies(ids)

    async def appointment_row(self, appointment_id: str) -> Appointment:
        async with self.db.read() as conn:
            found = await Record(conn).appointments.get(appointment_id)
        assert found is not None
        return found

    async def scalar(self, sql: str, *params: object) -> object:
        async with self.db.read() as conn:
            cur = await conn.execute(sql, params)
            row = await cur.fetchone()
            return row[0] if row else None
