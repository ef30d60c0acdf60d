"""The staff side's watch: raise escalations and handoffs that waited too long.

Run by the scheduler next to the reminder dispatcher; everything it needs is in the record, so a
restart loses nothing and running it twice raises nothing twice.
"""

from __future__ import annotations

from handlers.core.context import Outgoing
from handlers.core.desk import StaffDesk
from handlers.core.texts import Translator
from handlers.staff.escalation_desk import check_escalations
from handlers.staff.handoffs import raise_overdue_handoffs
from storage.clock import Clock
from storage.db import Database
from storage.record import Record


class StaffWatch:
    """Raises what waited too long; returns how many messages it queued."""

    def __init__(self, db: Database, clock: Clock, translator: Translator, desk: StaffDesk) -> None:
        self._db = db
        self._clock = clock
        self._translator = translator
        self.desk = desk

    async def run_due(self) -> int:
        now = self._clock.now()
        async with self._db.transaction() as conn:
            record = Record(conn)
            practice = await record.practice.get()
            if practice is None:
                return 0
            out = Outgoing(
                record,
                now,
                practice,
                self._translator,
                staff_render=self.desk.render,
                staff_channel_language=self.desk.language,
            )
            await check_escalations(record, practice, self.desk, out)
            await raise_overdue_handoffs(record, self.desk, out)
            return len(out.queued)
