"""The inbound pipeline: the transaction around the chain (see :mod:`handlers.core.chain`).

An event's effect, the record of the event, and its de-duplication commit together: a
redelivered event finds its id claimed and does nothing; a crash leaves no half-done effect.
An event that only reads (a staff view) runs the same chain on a read-only snapshot.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers.core.chain import Chain, Turn, standard_chain
from handlers.core.context import Context, Outgoing
from handlers.core.desk import StaffDesk
from handlers.core.events import Inbound
from handlers.core.router import Router
from handlers.core.screens import Form, Section, source_label
from handlers.core.texts import Translator
from handlers.core.view_log import ViewLog
from storage.clock import Clock
from storage.db import Database
from storage.models import Practice
from storage.record import Record

log = logging.getLogger(__name__)

PRACTICE_TTL = timedelta(seconds=60)


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
    """Turns one :class:`Inbound` event into changes in the record and queued replies."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        translator: Translator,
        router: Router,
        on_queued: Callable[[], None] | None = None,
        desk: StaffDesk | None = None,
        numbered_channels: frozenset[str] = frozenset(),
        chain: Chain | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._translator = translator
        self._router = router
        self._on_queued = on_queued
        self._practice_cache: tuple[datetime, Practice] | None = None
        self.desk = desk or StaffDesk()
        self._numbered = numbered_channels
        self.chain = chain or standard_chain(router, ViewLog(db))
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
        reads_only = self._router.reads_only(event)
        turn = Turn(event, self._clock.now(), self.desk, self._unit, reads_only=reads_only)
        await self.chain.run(turn)
        if turn.duplicate or turn.context is None:
            return Outcome(duplicate=turn.duplicate)
        ctx, out = turn.ctx, turn.ctx.out
        if out.queued and self._on_queued:
            self._on_queued()
        log.info(
            "handled event channel=%s id=%s queued=%d%s",
            event.channel,
            event.event_id,
            len(out.queued),
            " (view)" if reads_only else "",
        )
        return Outcome(
            queued=out.queued,
            notice=turn.notice,
            shown=ctx.shown,
            form=ctx.form,
            form_errors={key: source_label(e) for key, e in ctx.form_errors.items()},
            home=ctx.home,
        )

    @asynccontextmanager
    async def _unit(self, turn: Turn) -> AsyncIterator[Context]:
        """The event's unit of work: a write transaction (committed when the chain returns,
        rolled back if it raises), or a read-only snapshot for a view."""
        unit = self._db.snapshot() if turn.reads_only else self._db.transaction()
        async with unit as conn:
            record = Record(conn)
            practice = await self._practice(record, turn.now)
            out = Outgoing(
                record,
                turn.now,
                practice,
                self._translator,
                self._numbered,
                staff_render=self.desk.render,
                staff_channel_language=self.desk.language,
            )
            turn.context = Context(
                turn.event, record, turn.now, practice, out, None, None, desk=self.desk
            )
            yield turn.context

    async def _practice(self, record: Record, now: datetime) -> Practice:
        """The practice row, read at most once a minute (it changes only at start-up)."""
        if self._practice_cache is None or now - self._practice_cache[0] > PRACTICE_TTL:
            practice = await record.practice.get()
            if practice is None:
                raise RuntimeError("the record has no practice; start-up saves it first")
            self._practice_cache = (now, practice)
        return self._practice_cache[1]
