"""Rows the contract suites need under their repository's (foreign keys), written directly."""

from __future__ import annotations

from storage.record import Record

#: When the seeded rows were created (the record's UTC text).
STAMP = "2026-11-20T15:00:00Z"


async def seed_family(
    record: Record,
    *,
    guardians: tuple[str, ...] = ("g-1",),
    staff: tuple[str, ...] = ("s-1",),
    role: str = "clinician",
    visits: tuple[str, ...] = (),
) -> None:
    """Patient p-1 with ``guardians``, staff members ``staff`` (all of ``role``), and
    ``visits`` of p-1 with the first of them on Thursday 2026-11-26 at 20:30 UTC."""
    conn = record.conn
    await conn.execute(
        "INSERT INTO patient VALUES ('p-1', 'Kid', 'Family', '2018-01-01', 'en', ?, ?)",
        (STAMP, STAMP),
    )
    await conn.executemany(
        "INSERT INTO guardian VALUES (?, 'Parent', 'Family', NULL, 'en', 0, NULL, ?, ?)",
        [(g, STAMP, STAMP) for g in guardians],
    )
    await conn.executemany(
        "INSERT INTO staff (id, name, role, discipline, slack_user_id, created_at, updated_at)"
        " VALUES (?, ?, ?, '', NULL, ?, ?)",
        [(s, role.capitalize(), role, STAMP, STAMP) for s in staff],
    )
    await conn.executemany(
        "INSERT INTO appointment (id, patient_id, staff_id, start_at, duration_minutes,"
        " created_at, updated_at) VALUES (?, 'p-1', ?, '2026-11-26T20:30:00Z', 45, ?, ?)",
        [(a, staff[0], STAMP, STAMP) for a in visits],
    )
