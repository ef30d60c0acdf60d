"""Words that must never appear in carebot's logs: names, phone numbers and message texts used
by the tests (the demo practice's people, the harness's families, and texts written to be
found). tests/conftest.py checks every log line of every test against them; tests that run
``carebot`` as a process check its stderr with :func:`leaked`.

Logs carry ids (guardian, message, event), never a name, a number or what anyone wrote.
"""

from __future__ import annotations

#: Names of the people in the tests' records (family names: first names also appear in ids
#: such as ``g-megan``, so the checks use full names and surnames).
NAMES = (
    "Ana Rivera", "Rivera", "Megan Thompson", "Thompson", "Carmen García", "García",
    "Priya Patel", "Dana Brooks", "Lee Park", "Rosa Díaz", "Tamara Brooks",
    "Zephyrine Quillfeather", "Quillfeather",
)  # fmt: skip
#: Phone numbers of families in the tests (E.164 and as people write them).
PHONES = (
    "+15551230001", "+15550100101", "+15550100102", "+15557770199", "555-777-0199",
    "(555) 777-0199",
)  # fmt: skip
#: Texts families and staff write in tests (each distinctive enough to be found).
TEXTS = (
    "purple giraffe",
    "bring her own snack",
    "Who is Maya's teacher",
    "Free parking behind the building",
    "Can we move Thursday",
    "Yes, Friday at 4 works",
    "my son's rash is spreading",
)

CANARIES = NAMES + PHONES + TEXTS


def leaked(text: str) -> list[str]:
    """The canaries found in ``text`` (an empty list when it is clean)."""
    return [canary for canary in CANARIES if canary in text]
