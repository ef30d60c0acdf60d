"""Group commit of staff view requests: durable before answered, retries dropped, errors told."""

from __future__ import annotations

import asyncio

import pytest

from handlers.core.view_log import ViewLog, ViewRequest
from storage.db import Database


def request(event_id: str) -> ViewRequest:
    return ViewRequest(
        channel="slack",
        event_id=event_id,
        address="slack:T/U1",
        slack_user_id="U1",
        body="/carebot today",
        provider_message_id=None,
        at="2026-11-23T14:00:00Z",
    )


async def rows(db: Database) -> list[str]:
    async with db.read() as conn:
        found = await conn.execute_fetchall("SELECT event_id FROM message ORDER BY id")
    return [r[0] for r in found]


async def test_a_burst_shares_commits_and_each_caller_learns_if_it_was_new(db: Database) -> None:
    log = ViewLog(db)
    results = await asyncio.gather(*(log.record(request(f"e{i % 5}")) for i in range(10)))
    assert results == [True] * 5 + [False] * 5
    assert sorted(await rows(db)) == ["e0", "e1", "e2", "e3", "e4"]
    assert await log.record(request("e3")) is False  # a retry after the burst
    assert await log.record(request("e9")) is True


async def test_a_failed_commit_reaches_every_waiter_and_the_next_one_works(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = ViewLog(db)
    from storage.messages import MessageRepo

    original = MessageRepo.record_staff_requests

    async def broken(self: MessageRepo, requests: list[ViewRequest]) -> set[str]:
        raise RuntimeError("disk full")

    monkeypatch.setattr(MessageRepo, "record_staff_requests", broken)
    outcomes = await asyncio.gather(
        log.record(request("a")), log.record(request("b")), return_exceptions=True
    )
    assert [type(o) for o in outcomes] == [RuntimeError, RuntimeError]
    monkeypatch.setattr(MessageRepo, "record_staff_requests", original)
    assert await log.record(request("a")) is True
    assert await rows(db) == ["a"]
