"""Slack's side of the staff screens: mrkdwn for content, Block Kit for sections, buttons and
forms, and back.

Pure translation, no I/O: content -> mrkdwn (every literal escaped, so nothing a family or a
clinician wrote becomes a mention or a link), ``Section`` -> blocks, ``Form`` -> a modal view,
a submitted view's state -> field values, Slack's encoded text -> plain text.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any

from handlers.core.content import Content, IconName, Markup, Mention, render
from handlers.core.screens import Field, Form, Label, Section, StaffButton, source_label
from storage.models import Button

SECTION_LIMIT = 3000
TITLE_LIMIT = 24
OPTION_LIMIT = 75


#: Slack's emoji for what each icon means.
ICONS: dict[IconName, str] = {
    "emergency": ":rotating_light:",
    "person": ":speech_balloon:",
    "confirmed": ":white_check_mark:",
    "waiting": ":hourglass:",
    "reschedule": ":arrows_counterclockwise:",
    "cancelled": ":x:",
    "warning": ":warning:",
    "handoff": ":handshake:",
    "claimed": ":raising_hand:",
    "reassigned": ":arrow_right:",
    "overdue": ":alarm_clock:",
}


def escape(text: str) -> str:
    """Literal text made safe for mrkdwn: no mentions, links or markup injected.

    Slack's three control characters are escaped, so ``<!channel>`` or ``<https://x|y>`` show
    as typed; zero-width joiners stop ``@here``-style words.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for word in ("@channel", "@here", "@everyone"):
        text = text.replace(word, word[0] + "\u200b" + word[1:])
    return text


def _mention(person: Mention) -> str:
    return f"<@{person.user_id}>" if person.user_id else escape(person.name)


def _quote(inner: str) -> str:
    return "\n".join("> " + line for line in inner.splitlines() or [""])


MRKDWN = Markup(
    text=escape,
    strong=lambda inner: f"*{inner}*",
    emphasis=lambda inner: f"_{inner}_",
    code=lambda text: f"`{escape(text)}`",
    mention=_mention,
    everyone="<!here>",
    icon=ICONS.__getitem__,
    quote=_quote,
)


def mrkdwn(content: Content) -> str:
    """Content as Slack mrkdwn."""
    return render(content, MRKDWN)


def _plain(text: Label, limit: int) -> dict[str, Any]:
    """Slack's plain text (a label not localized yet shows its English source)."""
    return {"type": "plain_text", "text": source_label(text)[:limit] or " "}


def _button(button: StaffButton) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": _plain(button.label, 75),
        "action_id": button.action,
        "value": button.value,
    }
    if button.style:
        element["style"] = button.style
    return element


def _chunks(text: str) -> list[str]:
    """``text`` in pieces of at most SECTION_LIMIT characters, cut after a line where one ends
    in the piece (a cut inside a line would break its *bold* or <link|label> in two)."""
    chunks = []
    while len(text) > SECTION_LIMIT:
        cut = text.rfind("\n", 0, SECTION_LIMIT)
        cut = cut if cut > 0 else SECTION_LIMIT
        chunks.append(text[:cut])
        text = text[cut:].lstrip("\n")
    chunks.append(text or " ")
    return chunks


def section_blocks(sections: list[Section]) -> list[dict[str, Any]]:
    """Sections of content as Block Kit (their text rendered here)."""
    blocks: list[dict[str, Any]] = []
    for section in sections:
        blocks += written_blocks(mrkdwn(section.text), section.buttons)
    return blocks


def written_blocks(text: str, buttons: tuple[StaffButton, ...] = ()) -> list[dict[str, Any]]:
    """Blocks for text already written as mrkdwn (a queued staff message's stored body)."""
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}}
        for chunk in _chunks(text or " ")
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": [_button(b) for b in buttons]})
    return blocks


def stored_buttons(buttons: tuple[Button, ...]) -> tuple[StaffButton, ...]:
    """Buttons of a queued staff message (token ``action:value``, the style its handler gave)."""
    result = []
    for b in buttons:
        action, _, value = b.token.partition(":")
        style = b.style if b.style in ("primary", "danger") else None
        result.append(StaffButton(b.label, action, value, style))  # type: ignore[arg-type]
    return tuple(result)


def _option(value: str, label: Label) -> dict[str, Any]:
    return {"text": _plain(label, OPTION_LIMIT), "value": value}


def _element(field: Field) -> dict[str, Any]:
    if field.kind in ("text", "multiline"):
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": field.id,
            "multiline": field.kind == "multiline",
        }
        if field.initial:
            element["initial_value"] = field.initial
        return element
    if field.kind == "date":
        element = {"type": "datepicker", "action_id": field.id}
        if field.initial:
            element["initial_date"] = field.initial
        return element
    options = [_option(v, label) for v, label in field.options[:100]]
    kind = {"select": "static_select", "choice": "radio_buttons", "checkbox": "checkboxes"}
    element = {"type": kind[field.kind], "action_id": field.id, "options": options}
    initial = [o for o in options if o["value"] == field.initial]
    if initial and field.kind != "checkbox":
        element["initial_option"] = initial[0]
    return element


def modal(form: Form) -> dict[str, Any]:
    blocks = []
    for field in form.fields:
        block: dict[str, Any] = {
            "type": "input",
            "block_id": field.id,
            "label": _plain(field.label, 2000),
            "element": _element(field),
            "optional": field.optional,
        }
        if field.hint:
            block["hint"] = _plain(field.hint, 2000)
        blocks.append(block)
    return {
        "type": "modal",
        "callback_id": form.id,
        "private_metadata": form.context,
        "title": _plain(form.title, TITLE_LIMIT),
        "submit": _plain(form.submit, TITLE_LIMIT),
        "close": _plain(form.close, TITLE_LIMIT),
        "blocks": blocks,
    }


def submitted_fields(view: dict[str, Any]) -> dict[str, str]:
    """A submitted view's values by block id (one input per block, as :func:`modal` makes)."""
    fields: dict[str, str] = {}
    for block_id, actions in (view.get("state", {}).get("values") or {}).items():
        for state in actions.values():
            fields[block_id] = _state_value(state)
    return fields


def _state_value(state: dict[str, Any]) -> str:
    kind = state.get("type")
    if kind in ("static_select", "radio_buttons", "external_select"):
        option = state.get("selected_option") or {}
        return str(option.get("value", ""))
    if kind == "checkboxes":
        return ",".join(str(o.get("value", "")) for o in state.get("selected_options") or [])
    if kind == "datepicker":
        return str(state.get("selected_date") or "")
    if kind == "users_select":
        return str(state.get("selected_user") or "")
    return str(state.get("value") or "")


_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text(slack_text: str) -> str:
    """Slack's encoded text as the person meant it: links spelled out, mentions dropped.

    ``<https://x|label>`` -> ``label (https://x)``; ``<#C1|general>`` -> ``#general``;
    ``<@U1>`` and ``<!here>`` disappear; ``&lt;`` ``&gt;`` ``&amp;`` become ``<`` ``>`` ``&``.
    """

    def replace(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("#"):
            return f"#{label}" if label else ""
        if target.startswith(("@", "!")):
            return ""
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        return f"{label} ({target})" if label and label != target else target

    text = _LINK.sub(replace, slack_text)
    return unescape(re.sub(r"[ \t]{2,}", " ", text)).strip()
