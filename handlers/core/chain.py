"""One ordered chain for every event, whatever the channel.

    (the adapter's edge: size limit and authenticity, before the body is parsed)
    dedupe -> identify -> numbered replies -> locale -> button check -> dispatch
    (the pipeline's transaction: commit; then the adapter answers the platform)

Each link is a small named piece: it is called with the :class:`Turn` and the rest of the
chain, and either calls on or stops the event (a redelivery, a stranger on the staff side, a
forged button). Links are tested alone (``tests/handlers/test_chain.py``); the pipeline only
opens the transaction around them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers.core.context import Context, current_language
from handlers.core.desk import StaffDesk
from handlers.core.events import ButtonPressed, FamilyText, Inbound, StaffEvent, ThreadReply
from handlers.core.numbers import NUMBER, word_command
from handlers.core.router import Router
from handlers.core.texts import _, normalize_language, not_linked
from handlers.core.view_log import ViewLog, ViewRequest
from storage.clock import to_db
from storage.models import ActionToken, Staff
from storage.record import Record

log = logging.getLogger(__name__)

#: Who a workspace user is, for read-only views, is remembered this long (a re-import that
#: changes someone's role or account takes effect within it; changes are always re-read).
STAFF_TTL = timedelta(seconds=10)
LETTERS = {"c": 0, "x": 1, "r": 2}


@dataclass
class Turn:
    """One event on its way through the chain.

    Attributes:
        event: the event; a link may replace it by what it means ("2" on SMS is a button).
        now: when it is handled.
        desk: the staff side's settings (who is a workspace user, where escalations go).
        unit: opens the unit of work (the pipeline's write transaction, or a read-only
            snapshot for a view) and makes the :class:`Context` for it; :class:`Dedupe` opens
            it, so the claim of the event's id is in the same transaction as its effect.
        reads_only: the event only reads the record (it runs on a snapshot).
        duplicate: a redelivery, stopped by :class:`Dedupe`.
        token: a pressed button's token, once :class:`CheckButton` found it is the sender's.
        notice: what to show the person at once (a refused button), rendered in their language.
        trail: the links it went through, in order (for tests and the logs).
    """

    event: Inbound
    now: datetime
    desk: StaffDesk
    unit: Callable[[Turn], AbstractAsyncContextManager[Context]]
    reads_only: bool = False
    duplicate: bool = False
    token: ActionToken | None = None
    notice: str | None = None
    trail: list[str] = field(default_factory=list)
    context: Context | None = None

    @property
    def ctx(self) -> Context:
        """What the handler will get; links after :class:`Dedupe` fill in who the sender is."""
        assert self.context is not None, "the unit of work is opened by Dedupe"
        return self.context

    @property
    def record(self) -> Record:
        return self.ctx.record


Next = Callable[[Turn], Awaitable[None]]


class Link:
    """A piece of the chain. ``name`` is what the trail and the logs call it."""

    name = "link"

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        raise NotImplementedError


class Chain:
    """Links run in order; each decides whether the rest runs."""

    def __init__(self, links: Sequence[Link]) -> None:
        self.links = tuple(links)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(link.name for link in self.links)

    async def run(self, turn: Turn) -> None:
        async def step(index: int, turn: Turn) -> None:
            if index == len(self.links):
                return
            link = self.links[index]
            turn.trail.append(link.name)
            await link(turn, lambda t: step(index + 1, t))

        await step(0, turn)


class Dedupe(Link):
    """A redelivered event (its provider id seen before) stops here and does nothing. The
    claim is in the event's own transaction: a crash leaves it unclaimed and undone alike. A
    read-only staff request is recorded through the view log's group commit instead."""

    name = "dedupe"

    def __init__(self, views: ViewLog) -> None:
        self._views = views

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        event = turn.event
        if turn.reads_only:
            # Recorded before the snapshot is taken: views arriving together share one commit.
            request = ViewRequest(
                channel=event.channel,
                event_id=event.event_id,
                address=event.address,
                slack_user_id=turn.desk.user_of(event.address),
                body=event.history(),
                provider_message_id=event.provider_message_id,
                at=to_db(turn.now),
            )
            if not await self._views.record(request):
                self._duplicate(turn)
                return
            async with turn.unit(turn):
                await call_next(turn)
            return
        async with turn.unit(turn):
            if not await turn.record.messages.claim_event(event.channel, event.event_id, turn.now):
                self._duplicate(turn)
                return
            await call_next(turn)

    @staticmethod
    def _duplicate(turn: Turn) -> None:
        log.info("duplicate event channel=%s id=%s", turn.event.channel, turn.event.event_id)
        turn.duplicate = True


class Identify(Link):
    """Who this is, and whether they may be answered at all.

    A family member: their channel identity and guardian (none for a stranger, who is still
    answered: with how to link); writing again undoes a block. A staff member: their staff row;
    someone not on the staff list gets a refusal (none in a thread: not our business) and
    nothing else. The event goes into the conversation history either way.
    """

    name = "identify"

    def __init__(self) -> None:
        self._staff_cache: dict[str, tuple[datetime, Staff | None]] = {}

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        event, ctx = turn.event, turn.ctx
        if isinstance(event, StaffEvent):
            user = ctx.desk.user_of(event.address)
            if turn.reads_only:
                ctx.staff = await self._staff_for_view(turn.record, user, turn.now)
            else:
                ctx.staff = await turn.record.staff.by_slack_user(user)
                await self._history(turn, None, ctx.staff.id if ctx.staff else None)
            if ctx.staff is None:
                log.warning("refused staff event id=%s: not mapped to staff", event.event_id)
                if not isinstance(event, ThreadReply):
                    ctx.show(
                        _(
                            "Sorry, carebot is only for {practice}'s staff. Ask a coordinator"
                            " to add your Slack account to the staff list.",
                            practice=ctx.practice.name,
                        )
                    )
                    # The chain stops here, before the language link: the staff channel's.
                    ctx.localize_screens(ctx.desk.language)
                return
        else:
            ctx.identity, ctx.guardian = await turn.record.identities.find_with_guardian(
                event.channel, event.address
            )
            if ctx.identity is not None and ctx.identity.blocked_at:
                await turn.record.identities.clear_blocked(ctx.identity.id)
            await self._history(turn, ctx.guardian.id if ctx.guardian else None, None)
        await call_next(turn)

    @staticmethod
    async def _history(turn: Turn, guardian_id: str | None, staff_id: str | None) -> None:
        event = turn.event
        await turn.record.messages.record_inbound(
            channel=event.channel,
            address=event.address,
            body=event.history(),
            guardian_id=guardian_id,
            staff_id=staff_id,
            provider_message_id=event.provider_message_id,
            now=turn.now,
        )

    async def _staff_for_view(self, record: Record, user: str, now: datetime) -> Staff | None:
        """The staff member behind a workspace user, for a read-only view (cached briefly)."""
        cached = self._staff_cache.get(user)
        if cached is None or now - cached[0] > STAFF_TTL or now < cached[0]:
            if len(self._staff_cache) > 1000:
                self._staff_cache.clear()
            cached = (now, await record.staff.by_slack_user(user))
            self._staff_cache[user] = cached
        return cached[1]


class NumberedReplies(Link):
    """On a channel without buttons, a linked family's "2" presses the second button of the
    last message that offered some ("1C" the first visit's confirm), and a bare answer word is
    the command it names. Anything else stays text."""

    name = "numbered"

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        event = turn.event
        if isinstance(event, FamilyText) and event.numbered_replies and turn.ctx.guardian:
            command = word_command(event.text)
            if command is not None:
                turn.event = event.model_copy(update={"text": command})
            else:
                turn.event = await self._choice(event, turn.record)
            turn.ctx.event = turn.event
        await call_next(turn)

    async def _choice(self, event: FamilyText, record: Record) -> FamilyText | ButtonPressed:
        match = NUMBER.fullmatch(event.text)
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
        return ButtonPressed(
            channel=event.channel,
            address=event.address,
            event_id=event.event_id,
            provider_message_id=event.provider_message_id,
            language_hint=event.language_hint,
            choice=tokens[position],
        )

    @staticmethod
    async def _household(record: Record, tokens: list[str]) -> bool:
        """Whether these buttons answer several visits (confirm/cancel/reschedule each)."""
        actions = []
        for token in tokens:
            found = await record.tokens.get(token)
            actions.append(found.action if found else "")
        return actions == ["confirm", "cancel", "reschedule"] * (len(tokens) // 3)


class Locale(Link):
    """The language of the person being answered, for the rest of the chain only: a
    guardian's own, else what their app reports; a staff member's own (the staff import's).
    What is shown at once (a family's notice; a staff member's notes, form and Home tab) is
    written here, in that language."""

    name = "locale"

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        ctx = turn.ctx
        if isinstance(turn.event, StaffEvent):
            language = normalize_language(ctx.staff.language if ctx.staff else ctx.desk.language)
        else:
            hint = turn.event.language_hint
            language = normalize_language(ctx.guardian.language if ctx.guardian else hint)
        token = current_language.set(language)
        try:
            await call_next(turn)
            if ctx.notice is not None:
                turn.notice = ctx.out.render(ctx.notice, current_language.get())
            ctx.localize_screens()
        finally:
            current_language.reset(token)


class CheckButton(Link):
    """A family's button press carries a token anyone could forge: it must exist, be for an
    action carebot knows, and have been issued to this guardian (or to another guardian on a
    number they share: the answer is then that guardian's). Anything else is refused."""

    name = "button"

    def __init__(self, router: Router) -> None:
        self._router = router

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        event, ctx = turn.event, turn.ctx
        if not isinstance(event, ButtonPressed):
            await call_next(turn)
            return
        token = await ctx.record.tokens.get(event.choice)
        if (
            token is not None
            and ctx.guardian is not None
            and token.guardian_id != ctx.guardian.id
            and await ctx.record.identities.shares(event.channel, event.address, token.guardian_id)
        ):
            ctx.guardian = await ctx.record.people.guardian(token.guardian_id)
            if ctx.guardian is not None:
                ctx.set_language(ctx.guardian.language)
        if (
            token is None
            or ctx.guardian is None
            or token.guardian_id != ctx.guardian.id
            or not self._router.knows_action(token.action)
        ):
            log.warning("refused button channel=%s id=%s", event.channel, event.event_id)
            ctx.notice = _("Sorry, this button can't be used.")
            if ctx.guardian is None:
                await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))
            return
        turn.token = token
        await call_next(turn)


class Dispatch(Link):
    """The end of the chain: the router hands the event to its type's handlers."""

    name = "dispatch"

    def __init__(self, router: Router) -> None:
        self._router = router

    async def __call__(self, turn: Turn, call_next: Next) -> None:
        await self._router.dispatch(turn.event, turn.ctx, turn.token)
        await call_next(turn)


def standard_chain(router: Router, views: ViewLog) -> Chain:
    """The chain every event takes, in the order ARCHITECTURE.md gives."""
    return Chain(
        [Dedupe(views), Identify(), NumberedReplies(), Locale(), CheckButton(router),
         Dispatch(router)]
    )  # fmt: skip
