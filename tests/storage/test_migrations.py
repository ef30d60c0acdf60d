"""Migrations on a record that already holds a practice's data: nothing stored is lost."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

from storage.db import Database, _statements


def _apply_up_to(path: Path, last: int) -> None:
    """The record as an older carebot left it: migrations 1..last, by hand."""
    folder = resources.files("storage") / "migrations"
    files = sorted(f for f in folder.iterdir() if f.name.endswith(".sql"))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(
            "CREATE TABLE schema_migration (version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " applied_at TEXT NOT NULL)"
        )
        for entry in files:
            version = int(entry.name.split("_", 1)[0])
            if version > last:
                break
            for statement in _statements(entry.read_text("utf-8")):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migration VALUES (?, ?, '2026-11-01T00:00:00Z')",
                (version, entry.name),
            )


def _seed(path: Path) -> None:
    now = "2026-11-20T15:00:00Z"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(
            "INSERT INTO guardian VALUES ('g-1', 'Ana', 'Rivera', '+15551230001', 'en', 1,"
            " NULL, ?, ?)",
            (now, now),
        )
        for n, status in enumerate(("queued", "sent", "delivered", "failed", "unknown"), 1):
            conn.execute(
                "INSERT INTO message (id, direction, channel, address, guardian_id, body,"
                " status, provider_message_id, not_before, created_at, thread_message_id,"
                " event_id) VALUES (?, 'out', 'sms', 'sms:+15551230001', 'g-1', ?, ?, ?, ?, ?,"
                " ?, NULL)",
                (n, f"message {n}", status, f"SM{n}", now, now, 1 if n > 1 else None),
            )
        conn.execute(
            "INSERT INTO message_button VALUES (1, 0, 'Confirm', 'tok1')"
        )  # a button on a message others refer to


async def test_0005_rebuilds_the_message_table_keeping_every_row_and_reference(
    tmp_path: Path,
) -> None:
    path = tmp_path / "carebot.db"
    _apply_up_to(path, 4)
    _seed(path)
    db = await Database.open(path)
    try:
        async with db.read() as conn:
            rows = await conn.execute_fetchall(
                "SELECT id, status, body, provider_message_id, thread_message_id, parts_sent,"
                " recovery FROM message ORDER BY id"
            )
            assert [tuple(r) for r in rows] == [
                (1, "queued", "message 1", "SM1", None, 0, None),
                (2, "sent", "message 2", "SM2", 1, 0, None),
                (3, "delivered", "message 3", "SM3", 1, 0, None),
                (4, "failed", "message 4", "SM4", 1, 0, None),
                (5, "unknown", "message 5", "SM5", 1, 0, None),
            ]
            buttons = await conn.execute_fetchall("SELECT message_id, token FROM message_button")
            assert [tuple(b) for b in buttons] == [(1, "tok1")]
            assert [tuple(r) for r in await conn.execute_fetchall("PRAGMA foreign_key_check")] == []
            assert (await conn.execute_fetchall("PRAGMA foreign_keys"))[0][0] == 1
            indexes = {
                r[0]
                for r in await conn.execute_fetchall(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'message'"
                )
            }
            assert {"message_by_address", "message_by_event", "message_queue_heads"} <= indexes
        async with db.transaction() as conn:  # 'sending' is a state the record now accepts
            await conn.execute("UPDATE message SET status = 'sending' WHERE id = 1")
    finally:
        await db.close()
