"""The inbound pipeline: dedupe -> identity -> locale -> handler, in one transaction.

An event's effect, the record of the event, and its de-duplication commit together: a
redelivered event finds its id claimed and does nothing; a crash leaves no half-done effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers.context import Context, Outgoing, current_language
from handlers.events import Inbound
from handlers.numbered import NUMBER, word_command
from handlers.router import Handler, Router
from handlers.staff.desk import StaffDesk
from handlers.staff.screens import Form, Section
from handlers.texts import Translator, _, normalize_language, not_linked
from handlers.view_log import ViewLog, ViewRequest
from storage.clock import Clock, to_db
from storage.db import Database
from storage.models import Practice, Staff
from storage.record import Record

log = logging.getLogger(__name__)

PRACTICE_TTL = timedelta(seconds=60)
#: Who a workspace user is, for read-only views, is remembered this long (a re-import that
#: changes someone's role or account takes effect within it; changes are always re-read).
STAFF_TTL = timedelta(seconds=10)
LETTERS = {"c": 0, "x": 1, "r": 2}


@dataclass
class Outcome:
    """What handling an event did, for the adapter (e.g. to answer a button press)."""

    duplicate: bool = False
    queued: list[int] = field(default_factory=list)
    notice: str | None = None
    #: For a staff member: notes shown only to them, a form to open, errors in a submitted form,
    #: their refreshed home screen.
    shown: list[Section] = field(default_factory=list)
    form: Form | None = None
    form_errors: dict[str, str] = field(default_factory=dict)
    home: list[Section] | None = None


class Pipeline:
    """Turns one :class:`Inbound` into changes in the record and queued replies."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        translator: Translator,
        router: Router,
        on_queued: Callable[[], None] | None = None,
        desk: StaffDesk | None = None,
        numbered_channels: frozenset[str] = frozenset(),
    ) -> None:
        self._db = db
        self._clock = clock
        self._translator = translator
        self._router = router
        self._on_queued = on_queued
        self._practice_cache: tuple[datetime, Practice] | None = None
        self._staff_cache: dict[str, tuple[datetime, Staff | None]] = {}
        self.desk = desk or StaffDesk()
        self._numbered = numbered_channels
        self._views = ViewLog(db)
        #: Events handled so far (duplicates included), for tests and the sandbox to wait on.
        self.handled = 0
        self._handled_changed = asyncio.Condition()

    async def handle(self, event: Inbound) -> Outcome:
        try:
            return await self._handle(event)
        finally:
            async with self._handled_changed:
                self.handled += 1
                self._handled_changed.notify_all()

    async def wait_handled(self, count: int) -> None:
        """Wait until ``count`` events have been handled in all (no polling, no sleeping)."""
        async with self._handled_changed:
            await self._handled_changed.wait_for(lambda: self.handled >= count)

    async def _handle(self, event: Inbound) -> Outcome:
        if self._router.reads_only(event):
            return await self._staff_view(event)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            record = Record(conn)
            if not await record.messages.claim_event(event.channel, event.event_id, now):
                log.info("duplicate event channel=%s id=%s", event.channel, event.event_id)
                return Outcome(duplicate=True)
            practice = await self._practice(record, now)
            if event.staff:
                outcome = await self._staff_event(event, record, now, practice)
            else:
                outcome = await self._family_event(event, record, now, practice)
        if outcome.queued and self._on_queued:
            self._on_queued()
        log.info(
            "handled event channel=%s id=%s queued=%d",
            event.channel,
            event.event_id,
            len(outcome.queued),
        )
        return outcome

    async def _family_event(
        self, event: Inbound, record: Record, now: datetime, practice: Practice
    ) -> Outcome:
        identity, guardian = await record.identities.find_with_guardian(
            event.channel, event.address
        )
        if identity is not None and identity.blocked_at:
            await record.identities.clear_blocked(identity.id)
        await record.messages.record_inbound(
            channel=event.channel,
            address=event.address,
            body=_history_body(event),
            guardian_id=guardian.id if guardian else None,
            staff_id=None,
            provider_message_id=event.provider_message_id,
            now=now,
        )
        if event.numbered_replies and event.text and guardian is not None:
            command = word_command(event.text)
            if command is not None:
                event = event.model_copy(update={"text": command})
            else:
                event = await self._numbered_choice(event, record)
        token = current_language.set(
            normalize_language(guardian.language if guardian else event.language_hint)
        )
        try:
            out = Outgoing(record, now, practice, self._translator, self._numbered)
            ctx = Context(event, record, now, practice, out, identity, guardian, desk=self.desk)
            await self._route(event, ctx)
            notice = out.render(ctx.notice, current_language.get()) if ctx.notice else None
        finally:
            current_language.reset(token)
        return Outcome(queued=out.queued, notice=notice)

    async def _staff_view(self, event: Inbound) -> Outcome:
        """A staff request that only reads: record it (group commit, see handlers/view_log.py),
        then answer it from the read-only connection, so looking at the day never queues
        behind the writer."""
        now = self._clock.now()
        recorded = await self._views.record(
            ViewRequest(
                channel=event.channel,
                event_id=event.event_id,
                address=event.address,
                slack_user_id=self.desk.user_of(event.address),
                body=event.text or (f"[{event.action}]" if event.action else "[home]"),
                provider_message_id=event.provider_message_id,
                at=to_db(now),
            )
        )
        if not recorded:
            log.info("duplicate event channel=%s id=%s", event.channel, event.event_id)
            return Outcome(duplicate=True)
        async with self._db.snapshot() as conn:
            record = Record(conn)
            practice = await self._practice(record, now)
            staff = await self._staff_for_view(record, self.desk.user_of(event.address), now)
            out = Outgoing(record, now, practice, self._translator, self._numbered)
            ctx = Context(
                event, record, now, practice, out, None, None, desk=self.desk, staff=staff
            )
            token = current_language.set("en")
            try:
                await self._route_staff(event, ctx)
            finally:
                current_language.reset(token)
        log.info("handled staff view channel=%s id=%s", event.channel, event.event_id)
        return Outcome(shown=ctx.shown, form=ctx.form, home=ctx.home)

    async def _staff_event(
        self, event: Inbound, record: Record, now: datetime, practice: Practice
    ) -> Outcome:
        """A staff member's event: only mapped staff get anything; authorization comes first."""
        staff = await record.staff.by_slack_user(self.desk.user_of(event.address))
        await record.messages.record_inbound(
            channel=event.channel,
            address=event.address,
            body=event.text or f"[{event.action or event.form or 'home'}]",
            guardian_id=None,
            staff_id=staff.id if staff else None,
            provider_message_id=event.provider_message_id,
            now=now,
        )
        out = Outgoing(record, now, practice, self._translator, self._numbered)
        ctx = Context(event, record, now, practice, out, None, None, desk=self.desk, staff=staff)
        token = current_language.set("en")
        try:
            await self._route_staff(event, ctx)
        finally:
            current_language.reset(token)
        return Outcome(
            queued=out.queued,
            shown=ctx.shown,
            form=ctx.form,
            form_errors=ctx.form_errors,
            home=ctx.home,
        )

    async def _route_staff(self, event: Inbound, ctx: Context) -> None:
        router = self._router
        if ctx.staff is None:
            log.warning("refused staff event id=%s: not mapped to staff", event.event_id)
            if event.thread is None:  # a stranger chatting in a thread is none of our business
                ctx.show(
                    f"Sorry, carebot is only for {ctx.practice.name}'s staff. Ask a coordinator"
                    " to add your Slack account to the staff list."
                )
            return
        found: Handler | None
        if event.home:
            for each in router.home_handlers:
                await each(event, ctx)
        elif event.form is not None:
            found = router.forms.get(event.form)
            if found is not None:
                await found(event, ctx)
        elif event.action is not None:
            found = router.staff_actions.get(event.action)
            if found is None:
                ctx.show("Sorry, that button can't be used.")
            else:
                await found(event, ctx)
        elif event.thread is not None:
            for each in router.thread_handlers:
                await each(event, ctx)
        else:
            command = event.command()
            text = command[1] if command else event.text
            found = router.staff_commands.get(router.staff_command_name(text))
            if found is not None:
                await found(event, ctx)

    async def _numbered_choice(self, event: Inbound, record: Record) -> Inbound:
        """ "2" on a channel without buttons presses the second button of the last message
        that offered some; anything else stays text."""
        match = NUMBER.fullmatch(event.text or "")
        if match is None:
            return event
        tokens = await record.messages.latest_buttons(event.channel, event.address)
        number, letter = int(match.group(1)), match.group(2)
        position = number - 1
        if letter is not None:
            position = (number - 1) * 3 + LETTERS[letter.lower()]
        elif len(tokens) > 3 and len(tokens) % 3 == 0 and await self._household(record, tokens):
            return event  # "1" alone is ambiguous for several visits: the text handlers ask
        if not 0 <= position < len(tokens):
            return event  # not one of the choices: the text handlers answer it
        return event.model_copy(update={"choice": tokens[position], "text": None})

    async def _household(self, record: Record, tokens: list[str]) -> bool:
        """Whether these buttons answer several visits (confirm/cancel/reschedule each)."""
        actions = []
        for token in tokens:
            found = await record.tokens.get(token)
            actions.append(found.action if found else "")
        return actions == ["confirm", "cancel", "reschedule"] * (len(tokens) // 3)

    async def _staff_for_view(self, record: Record, user: str, now: datetime) -> Staff | None:
        """The staff member behind a workspace user, for a read-only view (cached briefly)."""
        cached = self._staff_cache.get(user)
        if cached is None or now - cached[0] > STAFF_TTL or now < cached[0]:
            if len(self._staff_cache) > 1000:
                self._staff_cache.clear()
            cached = (now, await record.staff.by_slack_user(user))
            self._staff_cache[user] = cached
        return cached[1]

    async def _practice(self, record: Record, now: datetime) -> Practice:
        """The practice row, read at most once a minute (it changes only at start-up)."""
        if self._practice_cache is None or now - self._practice_cache[0] > PRACTICE_TTL:
            practice = await record.practice.get()
            if practice is None:
                raise RuntimeError("the record has no practice; start-up saves it first")
            self._practice_cache = (now, practice)
        return self._practice_cache[1]

    async def _route(self, event: Inbound, ctx: Context) -> None:
        router = self._router
        if event.choice is not None:
            await self._choice(event, ctx)
            return
        command = event.command()
        if command is not None:
            entry = router.commands.get(command[0])
            if entry is not None and (ctx.guardian or not entry[1]):
                await entry[0](event, ctx)
            elif ctx.guardian is None:
                await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))
            else:
                await ctx.reply(
                    _("Sorry, I don't know that command. Send /help to see what I can do.")
                )
            return
        for handler, linked_only in router.text_handlers:
            if linked_only and ctx.guardian is None:
                continue
            if await handler(event, ctx):
                return
        await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))

    async def _choice(self, event: Inbound, ctx: Context) -> None:
        """A pressed button: its token must exist and belong to this verified guardian."""
        assert event.choice is not None
        token = await ctx.record.tokens.get(event.choice)
        if (
            token is not None
            and ctx.guardian is not None
            and token.guardian_id != ctx.guardian.id
            and await ctx.record.identities.shares(event.channel, event.address, token.guardian_id)
        ):
            # A number two guardians share: the answer is for the guardian the message was to.
            ctx.guardian = await ctx.record.people.guardian(token.guardian_id)
            if ctx.guardian is not None:
                ctx.set_language(ctx.guardian.language)
        if (
            token is None
            or ctx.guardian is None
            or token.guardian_id != ctx.guardian.id
            or token.action not in self._router.actions
        ):
            log.warning("refused button channel=%s id=%s", event.channel, event.event_id)
            ctx.notice = _("Sorry, this button can't be used.")
            if ctx.guardian is None:
                await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))
            return
        await self._router.actions[token.action](event, ctx, token)


def _history_body(event: Inbound) -> str:
    """What the history keeps of a family's message: its text, never an attachment itself."""
    if event.text is None:
        return "[button]"
    if event.attachment is not None:
        return f"[{event.attachment}] {event.text}".rstrip()
    return event.text
