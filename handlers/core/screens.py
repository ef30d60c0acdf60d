"""What a staff member is shown at once (not delivered later): notes, forms, the home screen.

The channel adapter renders these (Slack: ephemeral messages, modals, the App Home tab); their
text is :mod:`handlers.core.content`, never markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from handlers.core.content import Content
from handlers.core.texts import Msg, _

#: A button's, a field's or a form's words: carebot's own (translated for the reader) or a
#: name from the record, as it is.
Label = str | Msg

FieldKind = Literal["select", "text", "multiline", "date", "choice", "checkbox"]


@dataclass(frozen=True)
class StaffButton:
    """A button on a staff message: its action and value are checked when pressed; ``style``
    says how it stands out (the main step, or one that ends something)."""

    label: Label
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
    label: Label
    kind: FieldKind
    options: tuple[tuple[str, Label], ...] = ()
    optional: bool = False
    initial: str | None = None
    hint: Label | None = None


@dataclass(frozen=True)
class Form:
    """A form to fill in (a Slack modal). ``context`` comes back with the submission."""

    id: str
    title: Label
    submit: Label
    fields: tuple[Field, ...]
    context: str = ""
    close: Label = _("Cancel")


def source_label(label: Label) -> str:
    """A label as written in the source (English), for a screen not localized."""
    return label.msgid if isinstance(label, Msg) else label


def localized_form(form: Form, label: Callable[[Label], str]) -> Form:
    """The form with every label written by ``label`` (in the reader's language)."""
    fields = tuple(
        replace(
            f,
            label=label(f.label),
            options=tuple((value, label(text)) for value, text in f.options),
            hint=label(f.hint) if f.hint is not None else None,
        )
        for f in form.fields
    )
    return replace(
        form,
        title=label(form.title),
        submit=label(form.submit),
        close=label(form.close),
        fields=fields,
    )
