"""Patients, guardians (with their per-patient links), staff and care teams."""

from __future__ import annotations

from datetime import datetime

import aiosqlite

from storage.clock import to_db
from storage.models import Guardian, GuardianLink, Patient, Staff
from storage.rows import fetch_all, fetch_one

_PATIENT = "id, first_name, last_name, date_of_birth, language"
_GUARDIAN = "id, first_name, last_name, phone, language, sms_consent, timezone"
_STAFF = "id, name, role, discipline, slack_user_id, language"
#: Ids per look-up of a batch (well under SQLite's limit of bound parameters).
_CHUNK = 500


def _patient(row: aiosqlite.Row) -> Patient:
    return Patient(**{k: row[k] for k in row.keys()})


def _guardian(row: aiosqlite.Row) -> Guardian:
    data = {k: row[k] for k in row.keys()}
    data["sms_consent"] = bool(data["sms_consent"])
    return Guardian(**data)


def _staff(row: aiosqlite.Row) -> Staff:
    return Staff(**{k: row[k] for k in row.keys()})


#: A guardian's number as a verified SMS identity. The same guardian's row keeps its opt-out
#: and its consent (withdrawn if the record withdrew it). A row nobody vouches for any more (a
#: number the record took from its guardian: unverified) goes to the guardian the record now
#: gives the number, its opt-out kept (a STOP is the number's, whoever has it). A number
#: another guardian still has is left to them (and shared: see ``shared_number``).
_SAVE_SMS_IDENTITY = (
    "INSERT INTO channel_identity (channel, address, guardian_id, verified_at,"
    " consent_at, created_at) VALUES ('sms', ?, ?, ?, ?, ?)"
    " ON CONFLICT (channel, address) DO UPDATE SET"
    " consent_at = CASE WHEN channel_identity.guardian_id IS NOT excluded.guardian_id"
    " THEN excluded.consent_at WHEN excluded.consent_at IS NULL THEN NULL"
    " ELSE COALESCE(channel_identity.consent_at, excluded.consent_at) END,"
    " verified_at = COALESCE(channel_identity.verified_at, excluded.verified_at),"
    " guardian_id = excluded.guardian_id"
    " WHERE channel_identity.staff_id IS NULL AND (channel_identity.guardian_id"
    " = excluded.guardian_id OR channel_identity.verified_at IS NULL)"
)
#: The guardian's SMS identities at numbers the record no longer gives them (a new number, or
#: none): no longer verified nor consenting, so nothing reaches the old number and a text from
#: it is a stranger's, not the guardian's (the number may be someone else's now). The row stays:
#: an opt-out the number sent is kept.
_RETIRE_OLD_NUMBERS = (
    "UPDATE channel_identity SET verified_at = NULL, consent_at = NULL"
    " WHERE channel = 'sms' AND guardian_id = ? AND address != ? AND verified_at IS NOT NULL"
)


class PeopleRepo:
    """Who is in the record: the patients, their guardians, the practice's staff."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def patient(self, patient_id: str) -> Patient | None:
        row = await fetch_one(
            self._conn, f"SELECT {_PATIENT} FROM patient WHERE id = ?", (patient_id,)
        )
        return _patient(row) if row else None

    async def patient_ids(self) -> set[str]:
        rows = await fetch_all(self._conn, "SELECT id FROM patient")
        return {row[0] for row in rows}

    async def save_patient(self, patient: Patient, now: datetime) -> None:
        await self._conn.execute(
            f"INSERT INTO patient ({_PATIENT}, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name,"
            " last_name = excluded.last_name, date_of_birth = excluded.date_of_birth,"
            " language = excluded.language, updated_at = excluded.updated_at",
            (
                patient.id,
                patient.first_name,
                patient.last_name,
                patient.date_of_birth,
                patient.language,
                to_db(now),
                to_db(now),
            ),
        )

    async def guardian(self, guardian_id: str) -> Guardian | None:
        row = await fetch_one(
            self._conn, f"SELECT {_GUARDIAN} FROM guardian WHERE id = ?", (guardian_id,)
        )
        return _guardian(row) if row else None

    async def guardian_ids(self) -> set[str]:
        rows = await fetch_all(self._conn, "SELECT id FROM guardian")
        return {row[0] for row in rows}

    async def save_guardian(self, guardian: Guardian, now: datetime) -> None:
        await self._conn.execute(
            f"INSERT INTO guardian ({_GUARDIAN}, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name,"
            " last_name = excluded.last_name, phone = excluded.phone,"
            " language = excluded.language, sms_consent = excluded.sms_consent,"
            " updated_at = excluded.updated_at",
            (
                guardian.id,
                guardian.first_name,
                guardian.last_name,
                guardian.phone,
                guardian.language,
                int(guardian.sms_consent),
                guardian.timezone,
                to_db(now),
                to_db(now),
            ),
        )
        if guardian.phone:
            await self._save_sms_identity(guardian, now)
        await self._conn.execute(_RETIRE_OLD_NUMBERS, (guardian.id, f"sms:{guardian.phone or ''}"))

    async def _save_sms_identity(self, guardian: Guardian, now: datetime) -> None:
        """The guardian's number as an SMS identity: the practice vouches for it (verified);
        consent follows the record's sms_consent. An opt-out the number sent stays. A number
        already another guardian's is left to them."""
        consent = to_db(now) if guardian.sms_consent else None
        await self._conn.execute(
            _SAVE_SMS_IDENTITY,
            (f"sms:{guardian.phone}", guardian.id, to_db(now), consent, to_db(now)),
        )
        owner = await fetch_one(
            self._conn,
            "SELECT guardian_id FROM channel_identity WHERE channel = 'sms' AND address = ?",
            (f"sms:{guardian.phone}",),
        )
        if owner is not None and owner[0] != guardian.id:
            await self._conn.execute(
                "INSERT INTO shared_number (channel, address, guardian_id, consent_at,"
                " created_at) VALUES ('sms', ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
                " consent_at = excluded.consent_at",
                (f"sms:{guardian.phone}", guardian.id, consent, to_db(now)),
            )

    async def set_guardian_language(self, guardian_id: str, language: str, now: datetime) -> None:
        await self._conn.execute(
            "UPDATE guardian SET language = ?, updated_at = ? WHERE id = ?",
            (language, to_db(now), guardian_id),
        )

    async def link(self, link: GuardianLink) -> None:
        await self._conn.execute(
            "INSERT INTO guardian_patient (guardian_id, patient_id, relationship,"
            " may_receive_updates) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (guardian_id, patient_id) DO UPDATE SET"
            " relationship = excluded.relationship",
            (link.guardian_id, link.patient_id, link.relationship, int(link.may_receive_updates)),
        )

    async def children(self, guardian_id: str) -> list[Patient]:
        """The patients this guardian is linked to, by first name."""
        rows = await fetch_all(
            self._conn,
            f"SELECT {', '.join('p.' + c.strip() for c in _PATIENT.split(','))}"
            " FROM patient p JOIN guardian_patient gp ON gp.patient_id = p.id"
            " WHERE gp.guardian_id = ? ORDER BY p.first_name, p.id",
            (guardian_id,),
        )
        return [_patient(row) for row in rows]

    async def guardians_of(self, patient_id: str) -> list[Guardian]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {', '.join('g.' + c.strip() for c in _GUARDIAN.split(','))}"
            " FROM guardian g JOIN guardian_patient gp ON gp.guardian_id = g.id"
            " WHERE gp.patient_id = ? ORDER BY g.id",
            (patient_id,),
        )
        return [_guardian(row) for row in rows]

    async def guardians_of_patients(self, patient_ids: list[str]) -> dict[str, list[Guardian]]:
        """Each patient's guardians (one query for many patients)."""
        if not patient_ids:
            return {}
        unique = sorted(set(patient_ids))
        rows = await fetch_all(
            self._conn,
            f"SELECT gp.patient_id AS patient_id,"
            f" {', '.join('g.' + c.strip() for c in _GUARDIAN.split(','))}"
            " FROM guardian g JOIN guardian_patient gp ON gp.guardian_id = g.id"
            f" WHERE gp.patient_id IN ({','.join('?' * len(unique))}) ORDER BY g.id",
            unique,
        )
        found: dict[str, list[Guardian]] = {p: [] for p in unique}
        for row in rows:
            data = {k: row[k] for k in row.keys()}
            patient_id = data.pop("patient_id")
            data["sms_consent"] = bool(data["sms_consent"])
            found[patient_id].append(Guardian(**data))
        return found

    async def is_guardian_of(self, guardian_id: str, patient_id: str) -> bool:
        row = await fetch_one(
            self._conn,
            "SELECT 1 FROM guardian_patient WHERE guardian_id = ? AND patient_id = ?",
            (guardian_id, patient_id),
        )
        return row is not None

    async def staff(self, staff_id: str) -> Staff | None:
        row = await fetch_one(self._conn, f"SELECT {_STAFF} FROM staff WHERE id = ?", (staff_id,))
        return _staff(row) if row else None

    async def staff_ids(self) -> set[str]:
        rows = await fetch_all(self._conn, "SELECT id FROM staff")
        return {row[0] for row in rows}

    async def save_staff(self, staff: Staff, now: datetime) -> None:
        await self._conn.execute(
            f"INSERT INTO staff ({_STAFF}, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,"
            " discipline = excluded.discipline, slack_user_id = excluded.slack_user_id,"
            " language = excluded.language, updated_at = excluded.updated_at",
            (
                staff.id,
                staff.name,
                staff.role,
                staff.discipline,
                staff.slack_user_id,
                staff.language,
                to_db(now),
                to_db(now),
            ),
        )

    async def add_to_care_team(self, patient_id: str, staff_id: str, now: datetime) -> None:
        await self._conn.execute(
            "INSERT INTO care_team (patient_id, staff_id, added_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (patient_id, staff_id, to_db(now)),
        )

    async def care_team(self, patient_id: str) -> list[Staff]:
        rows = await fetch_all(
            self._conn,
            f"SELECT {', '.join('s.' + c.strip() for c in _STAFF.split(','))}"
            " FROM staff s JOIN care_team ct ON ct.staff_id = s.id WHERE ct.patient_id = ?"
            " ORDER BY s.name",
            (patient_id,),
        )
        return [_staff(row) for row in rows]

    # Batch writes and look-ups for imports: one statement (or one executemany) per batch of
    # rows. A row that changes nothing is not written (its updated_at stays).

    async def existing_patient_ids(self, patient_ids: list[str]) -> set[str]:
        """Which of these patients are in the record."""
        return await self._existing("SELECT id FROM patient WHERE id IN", patient_ids)

    async def existing_staff_ids(self, staff_ids: list[str]) -> set[str]:
        """Which of these staff members are in the record."""
        return await self._existing("SELECT id FROM staff WHERE id IN", staff_ids)

    async def existing_links(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (guardian, patient) links are in the record."""
        return await self._existing_pairs(
            "SELECT guardian_id, patient_id FROM guardian_patient"
            " WHERE (guardian_id, patient_id) IN",
            pairs,
        )

    async def existing_care_team(self, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (patient, staff) care-team memberships are in the record."""
        return await self._existing_pairs(
            "SELECT patient_id, staff_id FROM care_team WHERE (patient_id, staff_id) IN", pairs
        )

    async def _existing(self, sql: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for at in range(0, len(ids), _CHUNK):
            chunk = ids[at : at + _CHUNK]
            rows = await fetch_all(self._conn, f"{sql} ({','.join('?' * len(chunk))})", chunk)
            found |= {row[0] for row in rows}
        return found

    async def _existing_pairs(self, sql: str, pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        found: set[tuple[str, str]] = set()
        for at in range(0, len(pairs), _CHUNK):
            chunk = pairs[at : at + _CHUNK]
            values = ",".join("(?, ?)" for _ in chunk)
            rows = await fetch_all(
                self._conn, f"{sql} (VALUES {values})", [v for pair in chunk for v in pair]
            )
            found |= {(row[0], row[1]) for row in rows}
        return found

    async def save_patients(self, patients: list[Patient], now: datetime) -> None:
        """Insert or update patients by id (as :meth:`save_patient`, for many)."""
        await self._conn.executemany(
            f"INSERT INTO patient ({_PATIENT}, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name,"
            " last_name = excluded.last_name, date_of_birth = excluded.date_of_birth,"
            " language = excluded.language, updated_at = excluded.updated_at"
            " WHERE (patient.first_name, patient.last_name, patient.date_of_birth,"
            " patient.language) IS NOT (excluded.first_name, excluded.last_name,"
            " excluded.date_of_birth, excluded.language)",
            [
                (
                    p.id,
                    p.first_name,
                    p.last_name,
                    p.date_of_birth,
                    p.language,
                    to_db(now),
                    to_db(now),
                )
                for p in patients
            ],
        )

    async def save_guardians(self, guardians: list[Guardian], now: datetime) -> None:
        """Insert or update guardians by id, with their numbers as SMS identities (as
        :meth:`save_guardian`, for many, in order)."""
        if not guardians:
            return
        stamp = to_db(now)
        await self._conn.executemany(
            f"INSERT INTO guardian ({_GUARDIAN}, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET first_name = excluded.first_name,"
            " last_name = excluded.last_name, phone = excluded.phone,"
            " language = excluded.language, sms_consent = excluded.sms_consent,"
            " updated_at = excluded.updated_at"
            " WHERE (guardian.first_name, guardian.last_name, guardian.phone, guardian.language,"
            " guardian.sms_consent) IS NOT (excluded.first_name, excluded.last_name,"
            " excluded.phone, excluded.language, excluded.sms_consent)",
            [
                (
                    g.id,
                    g.first_name,
                    g.last_name,
                    g.phone,
                    g.language,
                    int(g.sms_consent),
                    g.timezone,
                    stamp,
                    stamp,
                )
                for g in guardians
            ],
        )
        await self._conn.executemany(
            _RETIRE_OLD_NUMBERS, [(g.id, f"sms:{g.phone or ''}") for g in guardians]
        )
        numbered = [g for g in guardians if g.phone]
        if not numbered:
            return
        consent = {g.id: stamp if g.sms_consent else None for g in numbered}
        await self._conn.executemany(
            _SAVE_SMS_IDENTITY,
            [(f"sms:{g.phone}", g.id, stamp, consent[g.id], stamp) for g in numbered],
        )
        addresses = sorted({f"sms:{g.phone}" for g in numbered})
        owners: dict[str, str] = {}
        for at in range(0, len(addresses), _CHUNK):
            chunk = addresses[at : at + _CHUNK]
            rows = await fetch_all(
                self._conn,
                "SELECT address, guardian_id FROM channel_identity WHERE channel = 'sms'"
                f" AND address IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            owners |= {row[0]: row[1] for row in rows}
        # A number already another guardian's is shared (as save_guardian does).
        await self._conn.executemany(
            "INSERT INTO shared_number (channel, address, guardian_id, consent_at,"
            " created_at) VALUES ('sms', ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
            " consent_at = excluded.consent_at",
            [
                (f"sms:{g.phone}", g.id, consent[g.id], stamp)
                for g in numbered
                if owners.get(f"sms:{g.phone}", g.id) != g.id
            ],
        )

    async def link_many(self, links: list[GuardianLink]) -> None:
        """Link guardians to patients (as :meth:`link`, for many)."""
        await self._conn.executemany(
            "INSERT INTO guardian_patient (guardian_id, patient_id, relationship,"
            " may_receive_updates) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (guardian_id, patient_id) DO UPDATE SET"
            " relationship = excluded.relationship"
            " WHERE guardian_patient.relationship IS NOT excluded.relationship",
            [
                (k.guardian_id, k.patient_id, k.relationship, int(k.may_receive_updates))
                for k in links
            ],
        )

    async def slack_holders(self) -> dict[str, str]:
        """Slack user id -> the staff member it is mapped to."""
        rows = await fetch_all(
            self._conn, "SELECT slack_user_id, id FROM staff WHERE slack_user_id IS NOT NULL"
        )
        return {row[0]: row[1] for row in rows}

    async def free_slack_ids(self, staff: list[tuple[str, str | None]], now: datetime) -> None:
        """For each (staff id, Slack id to have), clear the Slack id the member has if it is
        another, so that ids can move between staff in one import."""
        await self._conn.executemany(
            "UPDATE staff SET slack_user_id = NULL, updated_at = ? WHERE id = ?"
            " AND slack_user_id IS NOT NULL AND slack_user_id IS NOT ?",
            [(to_db(now), staff_id, slack) for staff_id, slack in staff],
        )

    async def save_staff_many(
        self, staff: list[Staff], now: datetime, *, with_language: bool = True
    ) -> None:
        """Insert or update staff by id (as :meth:`save_staff`, for many). Without
        ``with_language`` (a file with no language column) a stored language is kept, and a
        new member's is English."""
        language = "excluded.language" if with_language else "staff.language"
        await self._conn.executemany(
            f"INSERT INTO staff ({_STAFF}, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role,"
            " discipline = excluded.discipline, slack_user_id = excluded.slack_user_id,"
            f" language = {language}, updated_at = excluded.updated_at"
            " WHERE (staff.name, staff.role, staff.discipline, staff.slack_user_id,"
            " staff.language) IS NOT"
            f" (excluded.name, excluded.role, excluded.discipline, excluded.slack_user_id,"
            f" {language})",
            [
                (s.id, s.name, s.role, s.discipline, s.slack_user_id, s.language)
                + (to_db(now), to_db(now))
                for s in staff
            ],
        )

    async def add_to_care_teams(self, pairs: list[tuple[str, str]], now: datetime) -> None:
        """Add (patient, staff) care-team memberships (as :meth:`add_to_care_team`, for many)."""
        await self._conn.executemany(
            "INSERT INTO care_team (patient_id, staff_id, added_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            [(patient_id, staff_id, to_db(now)) for patient_id, staff_id in pairs],
        )
