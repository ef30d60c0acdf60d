"""The columns each kind of CSV import takes, and what each takes (for the import itself,
``carebot import --help`` and INTERFACE.md alike)."""

from __future__ import annotations

#: The columns each kind's header must name (INTERFACE.md); other columns are ignored.
COLUMNS: dict[str, tuple[str, ...]] = {
    "patients": ("patient_id", "first_name", "last_name", "date_of_birth", "language"),
    "guardians": (
        "guardian_id",
        "patient_id",
        "first_name",
        "last_name",
        "relationship",
        "phone",
        "language",
        "sms_consent",
    ),
    "staff": ("staff_id", "name", "role", "discipline", "slack_user_id"),
    "care-team": ("patient_id", "staff_id"),
    "appointments": (
        "appointment_id",
        "patient_id",
        "staff_id",
        "start",
        "duration_minutes",
        "service",
        "location",
    ),
}
#: Columns a kind's header may add; a file without one leaves what the record holds.
OPTIONAL: dict[str, tuple[str, ...]] = {"staff": ("language",)}
#: The kinds of import, in the order a new practice imports them.
KINDS: tuple[str, ...] = tuple(COLUMNS)
#: What a column takes, where its name does not say (``carebot import --help``, INTERFACE.md).
COLUMN_FORMATS = {
    "date_of_birth": "YYYY-MM-DD",
    "language": "BCP 47, e.g. en, es",
    "phone": "as people write it; no country code: the practice's country; stored as E.164",
    "sms_consent": "yes/no",
    "role": "clinician|coordinator|admin",
    "slack_user_id": "U…, may be empty",
    "start": "ISO 8601, e.g. 2027-01-11T15:30; no offset: practice time",
    "duration_minutes": "1 to 1440",
}


def _described(name: str) -> str:
    return f"{name} ({COLUMN_FORMATS[name]})" if name in COLUMN_FORMATS else name


def columns_described(kind: str) -> str:
    """``patients: patient_id, first_name, ..., date_of_birth (YYYY-MM-DD), ...``."""
    described = ", ".join(map(_described, COLUMNS[kind]))
    optional = ", ".join(map(_described, OPTIONAL.get(kind, ())))
    return f"{kind}: {described}" + (f"; may add {optional}" if optional else "")
