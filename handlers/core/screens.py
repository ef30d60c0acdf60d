"""What a staff member is shown at once (not delivered later): notes, forms, the home screen.

The channel adapter renders these (Slack: ephemeral messages, modals, the App Home tab); their
text is :mod:`handlers.core.content`, never markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from handlers.core.content import Content

FieldKind = Literal["select", "text", "multiline", "date", "choice", "checkbox"]


@dataclass(frozen=True)
class StaffButton:
    """A button on a staff message: its action and value are checked when pressed; ``style``
    says how it stands out (the main step, or one that ends something)."""

    label: str
    action: str
    value: str = ""
    style: Literal["primary", "danger"] | None = None


@dataclass(frozen=True)
class Section:
    """A paragraph of content, with buttons under it."""

    text: Content
    buttons: tuple[StaffButton, ...] = ()


@dataclass(frozen=True)
class Field:
    """One input of a form. ``options`` are (value, label) for select, choice and checkbox."""

    id: str
    label: str
    kind: FieldKind
    options: tuple[tuple[str, str], ...] = ()
    optional: bool = False
    initial: str | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Form:
    """A form to fill in (a Slack modal). ``context`` comes back with the submission."""

    id: str
    title: str
    submit: str
    fields: tuple[Field, ...]
    context: str = ""
