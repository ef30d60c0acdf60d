"""The demo practice: a small, believable therapy practice to try carebot with.

Loaded by ``carebot demo-data`` and the sandbox. Everyone in it is fictional; phone numbers are
in the 555-01xx range reserved for fiction. The data goes through the same checks and upserts as
a CSV import, so loading it twice changes nothing, and a practice row that already exists (the
operator's configuration) is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.records.columns import OPTIONAL
from handlers.records.imports import COLUMNS, PREPARERS, Checker, CsvRow
from handlers.reminders.planning import plan_reminders
from storage.db import Database
from storage.models import Practice
from storage.practice import SETTINGS
from storage.record import Record

log = logging.getLogger(__name__)

DEMO_PRACTICE = Practice(
    name="Bright Steps Therapy",
    phone="+1 555 010 2030",
    timezone="America/New_York",
    business_hours_start=time(8),
    business_hours_end=time(18),
    quiet_hours_start=time(21),
    quiet_hours_end=time(8),
    reminder_offsets_hours=(72, 24),
    late_cancel_hours=24,
)

#: A mother of two (English), whose children are seen the same afternoon, back to back.
DEMO_TWO_CHILD_GUARDIAN = "g-priya"
DEMO_TWO_CHILD_PATIENTS = ("p-arjun", "p-anika")
#: A Spanish-speaking mother of two, also seen back to back on one day.
DEMO_SPANISH_GUARDIAN = "g-carmen"
DEMO_SPANISH_PATIENTS = ("p-leo", "p-sofia")
#: A child with two guardians (separate phones), each reminded.
DEMO_TWO_GUARDIAN_PATIENT = "p-zoe"
DEMO_COORDINATOR = "s-brooks"

# staff_id, name, role, discipline, slack_user_id, language (Linh reads carebot in Spanish)
STAFF = (
    ("s-rivera", "Dana Rivera", "clinician", "speech-language pathology", "U0DEMO01", "en"),
    ("s-okafor", "Chidi Okafor", "clinician", "occupational therapy", "U0DEMO02", "en"),
    ("s-nguyen", "Linh Nguyen", "clinician", "ABA therapy (BCBA)", "U0DEMO03", "es"),
    ("s-haddad", "Samir Haddad", "clinician", "counselling", "U0DEMO04", "en"),
    ("s-brooks", "Tamara Brooks", "coordinator", "", "U0DEMO05", "en"),
    ("s-kowalski", "Ewa Kowalski", "admin", "", "U0DEMO06", "en"),
)
# patient_id, first_name, last_name, date_of_birth, language
PATIENTS = (
    ("p-ethan", "Ethan", "Thompson", "2018-04-12", "en"),
    ("p-leo", "Leo", "García", "2017-05-02", "es"),
    ("p-sofia", "Sofía", "García", "2020-11-09", "es"),
    ("p-arjun", "Arjun", "Patel", "2016-08-21", "en"),
    ("p-anika", "Anika", "Patel", "2019-02-03", "en"),
    ("p-noah", "Noah", "Kim", "2015-10-30", "en"),
    ("p-tobi", "Tobi", "Adeyemi", "2019-07-19", "en"),
    ("p-eli", "Eli", "Cohen", "2020-01-25", "en"),
    ("p-lily", "Lily", "Tran", "2021-06-11", "en"),
    ("p-zoe", "Zoe", "Williams", "2014-03-08", "en"),
    ("p-marco", "Marco", "Rossi", "2022-01-17", "en"),
    ("p-kai", "Kai", "Begay", "2013-09-05", "en"),
)
# guardian_id, patient_id, first_name, last_name, relationship, phone, language, sms_consent
GUARDIANS = (
    ("g-megan", "p-ethan", "Megan", "Thompson", "mother", "+15550100101", "en", "yes"),
    ("g-carmen", "p-leo", "Carmen", "García", "mother", "+15550100102", "es", "yes"),
    ("g-carmen", "p-sofia", "Carmen", "García", "mother", "+15550100102", "es", "yes"),
    ("g-priya", "p-arjun", "Priya", "Patel", "mother", "+15550100103", "en", "no"),
    ("g-priya", "p-anika", "Priya", "Patel", "mother", "+15550100103", "en", "no"),
    ("g-grace", "p-noah", "Grace", "Kim", "mother", "+15550100104", "en", "yes"),
    ("g-folake", "p-tobi", "Folake", "Adeyemi", "mother", "+15550100105", "en", "no"),
    ("g-rachel", "p-eli", "Rachel", "Cohen", "mother", "+15550100106", "en", "yes"),
    ("g-minh", "p-lily", "Minh", "Tran", "father", "+15550100107", "en", "no"),
    ("g-jasmine", "p-zoe", "Jasmine", "Williams", "mother", "+15550100108", "en", "yes"),
    ("g-marcus", "p-zoe", "Marcus", "Williams", "father", "+15550100109", "en", "no"),
    ("g-giulia", "p-marco", "Giulia", "Rossi", "mother", "+15550100110", "en", "yes"),
    ("g-shandiin", "p-kai", "Shandiin", "Begay", "grandmother", "", "en", "no"),
)
# appointment_id, patient_id, staff_id, weekday of the week (0 = first), local start, minutes,
# location
VISITS = (
    ("a-demo-01", "p-ethan", "s-rivera", 0, "10:00", 45, "Clinic room 2"),
    ("a-demo-02", "p-zoe", "s-haddad", 0, "15:30", 50, "Telehealth"),
    ("a-demo-03", "p-eli", "s-nguyen", 1, "09:00", 60, "Clinic room 3"),
    ("a-demo-04", "p-arjun", "s-rivera", 1, "15:30", 45, "Clinic room 2"),
    ("a-demo-05", "p-anika", "s-okafor", 1, "16:15", 45, "Sensory gym"),
    ("a-demo-06", "p-lily", "s-rivera", 2, "11:00", 30, "Clinic room 2"),
    ("a-demo-07", "p-leo", "s-rivera", 2, "15:00", 45, "Clinic room 2"),
    ("a-demo-08", "p-sofia", "s-okafor", 2, "15:45", 45, "Sensory gym"),
    ("a-demo-09", "p-eli", "s-nguyen", 3, "09:00", 60, "Clinic room 3"),
    ("a-demo-10", "p-tobi", "s-okafor", 3, "10:30", 45, "Sensory gym"),
    ("a-demo-11", "p-noah", "s-haddad", 3, "16:00", 50, "Clinic room 4"),
    ("a-demo-12", "p-marco", "s-nguyen", 4, "09:30", 60, "Clinic room 3"),
    ("a-demo-13", "p-marco", "s-rivera", 4, "11:00", 30, "Clinic room 2"),
    ("a-demo-14", "p-kai", "s-haddad", 4, "14:00", 50, "Telehealth"),
    # The demo's first day is a full one: every clinician, most of the families.
    ("a-demo-15", "p-tobi", "s-okafor", 0, "12:00", 45, "Sensory gym"),
    ("a-demo-16", "p-lily", "s-rivera", 0, "11:00", 30, "Clinic room 2"),
    ("a-demo-17", "p-marco", "s-nguyen", 0, "11:00", 60, "Clinic room 3"),
    ("a-demo-18", "p-eli", "s-nguyen", 0, "14:00", 60, "Clinic room 3"),
    ("a-demo-19", "p-kai", "s-haddad", 0, "16:30", 50, "Telehealth"),
)


@dataclass(frozen=True)
class DemoSummary:
    """What the demo practice holds, and how many reminders this load added."""

    staff: int
    patients: int
    guardians: int
    appointments: int
    reminders_added: int

    def __str__(self) -> str:
        return (
            f"{self.staff} staff, {self.patients} patients, {self.guardians} guardians,"
            f" {self.appointments} appointments, {self.reminders_added} reminders added"
        )


async def load_demo(db: Database, now: datetime) -> DemoSummary:
    """Load (or refresh) the demo practice, in one transaction.

    Args:
        db: the open care record.
        now: the current instant; the week of appointments starts on its local day.

    Returns:
        The demo's counts.
    """
    async with db.transaction() as conn:
        record = Record(conn)
        practice = await record.practice.get()
        if practice is None:
            practice = DEMO_PRACTICE
            await record.practice.save(practice, now, dict.fromkeys(SETTINGS, "demo data"))
        await _load(record, "patients", PATIENTS, now)
        await _load(record, "guardians", GUARDIANS, now)
        await _load(record, "staff", STAFF, now)
        await _load(record, "care-team", care_team(), now)
        week = appointments(now, ZoneInfo(practice.timezone), practice.business_hours_end)
        await _load(record, "appointments", week, now)
        added = await plan_reminders(record, practice, now)
    summary = DemoSummary(
        staff=len(STAFF),
        patients=len(PATIENTS),
        guardians=len({g[0] for g in GUARDIANS}),
        appointments=len(VISITS),
        reminders_added=added,
    )
    log.info("demo practice loaded: %s", summary)
    return summary


def care_team() -> list[tuple[str, str]]:
    """Each child's clinicians (from the week's visits) and the coordinator."""
    pairs = {(v[1], v[2]) for v in VISITS} | {(p[0], DEMO_COORDINATOR) for p in PATIENTS}
    return sorted(pairs)


def week_days(now: datetime, zone: ZoneInfo, day_ends: time = time(18)) -> list[date]:
    """Five working days from the practice-local day of ``now`` (from the next one once its
    working day has ended: a demo loaded at 22:00 or on a Saturday has its day ahead)."""
    local = now.astimezone(zone)
    first = local.date() + timedelta(days=1 if local.time() >= day_ends else 0)
    days = (first + timedelta(days=n) for n in range(9))
    return [day for day in days if day.weekday() < 5][:5]


def appointments(now: datetime, zone: ZoneInfo, day_ends: time = time(18)) -> list[tuple[str, ...]]:
    """The week's visits as appointment rows, starts in the practice's local time."""
    days = week_days(now, zone, day_ends)
    disciplines = {s[0]: s[3] for s in STAFF}
    rows: list[tuple[str, ...]] = []
    for appointment_id, patient_id, staff_id, day, start, minutes, location in VISITS:
        local = datetime.combine(days[day], time.fromisoformat(start), tzinfo=zone)
        service = disciplines[staff_id]
        rows.append(
            (
                appointment_id,
                patient_id,
                staff_id,
                local.isoformat(),
                str(minutes),
                service,
                location,
            )
        )
    return rows


async def _load(
    record: Record, kind: str, table: Sequence[Sequence[object]], now: datetime
) -> None:
    """Check and write one table exactly as an import of ``kind`` would."""
    columns = COLUMNS[kind] + OPTIONAL.get(kind, ())
    rows = [
        CsvRow(line, dict(zip(columns, map(str, values), strict=True)))
        for line, values in enumerate(table, start=2)
    ]
    checker = Checker()
    writes, _ = await PREPARERS[kind](checker, record, rows, now)
    if checker.errors:
        raise RuntimeError(f"the demo's {kind} are invalid: {checker.errors[0]}")
    for write in writes:
        await write()
