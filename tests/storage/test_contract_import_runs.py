"""ImportRunRepo's contract: how far each batched import got, and which runs are still
unfinished (no later run of the same kind and file completed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage.db import Database
from storage.import_runs import ImportRun, ImportRunRepo
from storage.record import Record

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=3)


async def test_a_started_run_is_unfinished_with_nothing_written_yet(record: Record) -> None:
    runs = ImportRunRepo(record.conn)
    local = NOW.astimezone(ZoneInfo("America/New_York"))
    run_id = await runs.start("patients", "patients.csv", 1200, local)
    assert isinstance(run_id, int)
    [run] = await runs.unfinished()
    assert run == ImportRun(run_id, "patients", "patients.csv", 1200, 0, NOW)
    assert run.started_at.utcoffset() == timedelta(0)


async def test_no_runs_means_nothing_is_unfinished(record: Record) -> None:
    assert await ImportRunRepo(record.conn).unfinished() == []


async def test_written_rows_add_up_batch_by_batch(record: Record) -> None:
    runs = ImportRunRepo(record.conn)
    run_id = await runs.start("visits", "visits.csv", 250, NOW)
    await runs.wrote(run_id, 100, NOW + timedelta(minutes=1))
    await runs.wrote(run_id, 50, LATER)
    [run] = await runs.unfinished()
    assert (run.rows, run.written, run.started_at) == (250, 150, NOW)
    [row] = await record.conn.execute_fetchall("SELECT updated_at FROM import_run")
    assert row[0] == "2026-11-23T14:03:00Z"


async def test_a_finished_run_is_no_longer_unfinished(record: Record) -> None:
    runs = ImportRunRepo(record.conn)
    run_id = await runs.start("visits", "visits.csv", 2, NOW)
    await runs.wrote(run_id, 2, NOW)
    await runs.finish(run_id, LATER)
    assert await runs.unfinished() == []
    [row] = await record.conn.execute_fetchall("SELECT finished_at, written FROM import_run")
    assert tuple(row) == ("2026-11-23T14:03:00Z", 2)


async def test_a_later_completed_run_of_the_same_kind_and_file_settles_earlier_ones(
    record: Record,
) -> None:
    runs = ImportRunRepo(record.conn)
    died = await runs.start("visits", "visits.csv", 500, NOW)
    died_again = await runs.start("visits", "visits.csv", 500, NOW)
    other_file = await runs.start("visits", "visits-2026.csv", 80, NOW)
    other_kind = await runs.start("patients", "visits.csv", 80, NOW)
    assert [r.id for r in await runs.unfinished()] == [died, died_again, other_file, other_kind]
    await runs.finish(await runs.start("visits", "visits.csv", 500, LATER), LATER)
    assert [r.id for r in await runs.unfinished()] == [other_file, other_kind]


async def test_an_earlier_completed_run_does_not_settle_a_later_one_that_died(
    record: Record,
) -> None:
    runs = ImportRunRepo(record.conn)
    await runs.finish(await runs.start("staff", "staff.csv", 10, NOW), NOW)
    died = await runs.start("staff", "staff.csv", 10, LATER)
    await runs.wrote(died, 4, LATER)
    assert await runs.unfinished() == [ImportRun(died, "staff", "staff.csv", 10, 4, LATER)]


async def test_writing_to_or_finishing_an_unknown_run_changes_no_run(record: Record) -> None:
    runs = ImportRunRepo(record.conn)
    run_id = await runs.start("patients", "p.csv", 3, NOW)
    await runs.wrote(run_id + 1, 3, LATER)
    await runs.finish(run_id + 1, LATER)
    assert await runs.unfinished() == [ImportRun(run_id, "patients", "p.csv", 3, 0, NOW)]


async def test_rows_of_a_batch_whose_transaction_rolled_back_are_not_counted(
    store: Database,
) -> None:
    async with store.transaction() as conn:
        run_id = await ImportRunRepo(conn).start("visits", "visits.csv", 300, NOW)
    async with store.transaction() as conn:
        await ImportRunRepo(conn).wrote(run_id, 100, NOW)
    with pytest.raises(RuntimeError):
        async with store.transaction() as conn:
            await ImportRunRepo(conn).wrote(run_id, 100, LATER)
            raise RuntimeError("the process died mid-batch")
    async with store.read() as conn:
        [run] = await ImportRunRepo(conn).unfinished()
    assert run.written == 100
