"""Staff view requests recorded with group commit: one durable transaction for a burst.

A read-only staff request (a day view, a patient summary, the home screen) has no effect to
commit, only its record: the inbound message row, whose unique event id also drops a retried
delivery. Under load, requests that arrive while a commit is under way share the next one, so
a burst of views costs one fsync instead of one each. Every request still waits for its row to
be durable before it is answered, exactly as before.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from storage.db import Database
from storage.record import Record


@dataclass(frozen=True)
class ViewRequest:
    channel: str
    event_id: str
    address: str
    slack_user_id: str
    body: str
    provider_message_id: str | None
    at: str  # the record's UTC text


class ViewLog:
    """Records view requests in shared transactions; each caller learns if it was new."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._waiting: list[tuple[ViewRequest, asyncio.Future[bool]]] = []
        self._committer: asyncio.Task[None] | None = None

    async def record(self, request: ViewRequest) -> bool:
        """Record the request durably; False if its event id was recorded before (a retry)."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, done))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_all())
        return await done

    async def _commit_all(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                if len(batch) == 1:
                    # Alone: one INSERT is its own atomic, durable commit (a single hop).
                    async with self._db.query() as conn:
                        fresh = await Record(conn).messages.record_staff_requests([batch[0][0]])
                else:
                    async with self._db.transaction() as conn:
                        fresh = await Record(conn).messages.record_staff_requests(
                            [request for request, _ in batch]
                        )
            except BaseException as error:  # every waiter hears of it; none is left hanging
                for _, done in batch:
                    if not done.done():
                        done.set_exception(error)
                if not isinstance(error, Exception):
                    raise
                continue
            for request, done in batch:
                if not done.done():
                    done.set_result(request.event_id in fresh)
                    fresh.discard(request.event_id)  # a second copy in one batch is a retry
