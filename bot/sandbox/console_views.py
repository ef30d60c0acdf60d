"""The sandbox console's HTML, rendered on the server: the page, and the panes it refreshes.

Everything shown is escaped here; the little JavaScript in ``static/console.js`` only swaps the
panes and posts what a person does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from html import escape, unescape
from typing import Any
from zoneinfo import ZoneInfo

from bot.sandbox.actors import SmsLine
from bot.sandbox.slack_fake import Posted


@dataclass(frozen=True)
class FamilyView:
    """A demo guardian as the phone pane shows them."""

    id: str
    first_name: str
    last_name: str
    language: str
    phone: str | None
    sms_consent: bool
    children: tuple[tuple[str, str], ...]  # (first name, date of birth)
    telegram_linked: bool
    sms_opted_out: bool

    @property
    def label(self) -> str:
        kids = ", ".join(name for name, _ in self.children)
        return f"{self.first_name} {self.last_name} ({kids})"


@dataclass(frozen=True)
class StaffView:
    slack_id: str
    name: str
    role: str
    discipline: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.discipline or self.role})"

    @property
    def sees_coordination(self) -> bool:
        return self.role in ("coordinator", "admin")


def _attrs(**values: Any) -> str:
    """data-* attributes (underscores become dashes), escaped."""
    return " ".join(
        f'data-{k.replace("_", "-")}="{escape(str(v))}"' for k, v in values.items() if v is not None
    )


def _e(text: str) -> str:
    return escape(text).replace("\n", "<br>")


# -- clock -------------------------------------------------------------------------------------


def clock_html(now: datetime, timezone: str, note: str) -> str:
    local = now.astimezone(ZoneInfo(timezone))
    stamp = local.strftime("%a %d %b %Y, %H:%M")
    buttons = "".join(
        f'<button type="button" {_attrs(action="clock", step=step)}>{label}</button>'
        for step, label in (
            ("hour", "+1 hour"),
            ("day", "+1 day"),
            ("next", "Send the next reminders"),
        )
    )
    return (
        f'<span class="now">Practice time: <b id="clock-now">{escape(stamp)}</b>'
        f" ({escape(timezone)})</span> {buttons}"
        f' <span class="clock-note" id="clock-note">{escape(note)}</span>'
    )


# -- the family's phone ------------------------------------------------------------------------


def phone_html(
    family: FamilyView,
    channel: str,
    telegram: list[dict[str, Any]],
    texts: list[SmsLine],
    bot_id: int,
    delivered: set[str],
) -> str:
    facts = "; ".join(f"{name}, born {born}" for name, born in family.children)
    parts = [f'<div class="facts">Children: {escape(facts)}</div>']
    if channel == "telegram":
        if family.telegram_linked:
            parts.append('<div class="status ok">Linked on Telegram</div>')
        else:
            parts.append(
                '<div class="status">Not linked on Telegram yet. '
                f'<button type="button" {_attrs(action="phone-link")}>Link with an invite'
                "</button></div>"
            )
        parts.append('<div class="messages" id="phone-messages">')
        parts.extend(_telegram_message(m, bot_id) for m in telegram)
        parts.append("</div>")
    else:
        if not family.phone:
            parts.append('<div class="status warn">No phone number in the record.</div>')
        elif family.sms_opted_out:
            parts.append(
                f'<div class="status warn">{escape(family.phone)} opted out (texts START to '
                "opt back in).</div>"
            )
        elif not family.sms_consent:
            parts.append(
                f'<div class="status warn">{escape(family.phone)}: no consent to text in the '
                "record, so the bot does not text this number.</div>"
            )
        else:
            parts.append(f'<div class="status ok">Texts to {escape(family.phone)}</div>')
        parts.append('<div class="messages sms" id="phone-messages">')
        for line in texts:
            side = "mine" if line.inbound else "theirs"
            tick = ' <span class="edited">Delivered</span>' if line.sid in delivered else ""
            parts.append(f'<div class="bubble {side}">{_e(line.body)}{tick}</div>')
        parts.append("</div>")
    return "".join(parts)


def _telegram_message(message: dict[str, Any], bot_id: int) -> str:
    mine = message["from"]["id"] != bot_id
    text = _e(message.get("text", ""))
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    keyboard = ""
    if rows:
        keyboard = (
            '<div class="keyboard">'
            + "".join(
                '<div class="row">'
                + "".join(
                    f'<button type="button" {_attrs(action="phone-press", message=message["message_id"], data=b.get("callback_data", ""))}>'  # noqa: E501
                    f"{escape(b.get('text', ''))}</button>"
                    for b in row
                )
                + "</div>"
                for row in rows
            )
            + "</div>"
        )
    edited = ' <span class="edited">edited</span>' if message.get("edit_date") else ""
    return f'<div class="bubble {"mine" if mine else "theirs"}">{text}{edited}{keyboard}</div>'


# -- the staff's Slack -------------------------------------------------------------------------

_LINK = re.compile(r"<([^<>]+)>")


def mrkdwn(text: str, names: dict[str, str]) -> str:
    """Slack's markup as HTML: mentions by name, links, *bold*, _italic_, `code`, lines."""
    out: list[str] = []
    last = 0
    for match in _LINK.finditer(text):
        out.append(_inline(text[last : match.start()]))
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            out.append(f'<span class="mention">@{escape(names.get(target[1:], target[1:]))}</span>')
        elif target.startswith("!"):
            out.append(f'<span class="mention">@{escape(label or target[1:])}</span>')
        elif target.startswith("#"):
            out.append(f"#{escape(label or target[1:])}")
        else:
            out.append(f'<a href="{escape(target)}">{escape(unescape(label or target))}</a>')
        last = match.end()
    out.append(_inline(text[last:]))
    return "".join(out)


#: The emoji carebot's staff messages use, as Slack shows them.
EMOJI = {
    "speech_balloon": "\U0001f4ac",
    "raising_hand": "\U0001f64b",
    "white_check_mark": "\u2705",
    "x": "\u274c",
    "warning": "\u26a0\ufe0f",
    "rotating_light": "\U0001f6a8",
    "calendar": "\U0001f4c5",
    "handshake": "\U0001f91d",
    "memo": "\U0001f4dd",
    "hourglass_flowing_sand": "\u23f3",
    "hourglass": "\u231b",
    "alarm_clock": "\u23f0",
    "arrow_right": "\u27a1\ufe0f",
    "arrows_counterclockwise": "\U0001f504",
    "bell": "\U0001f514",
    "heavy_check_mark": "\u2714\ufe0f",
    "no_entry": "\u26d4",
    "telephone_receiver": "\U0001f4de",
    "wave": "\U0001f44b",
}


def _inline(text: str) -> str:
    text = re.sub(r":([a-z0-9_+-]+):", lambda m: EMOJI.get(m.group(1), m.group(0)), text)
    html = escape(unescape(text))
    html = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"<b>\1</b>", html)
    html = re.sub(r"(?<![\w_])_([^_\n]+)_(?![\w_])", r"<i>\1</i>", html)
    html = re.sub(r"`([^`\n]+)`", r"<code>\1</code>", html)
    return html.replace("\n", "<br>")


def blocks_html(
    blocks: list[dict[str, Any]],
    names: dict[str, str],
    channel: str | None = None,
    ts: str | None = None,
) -> str:
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            text = (block.get("text") or {}).get("text", "")
            parts.append(f'<div class="section">{mrkdwn(text, names)}</div>')
            for field in block.get("fields") or []:
                parts.append(f'<div class="section">{mrkdwn(field.get("text", ""), names)}</div>')
        elif kind == "header":
            parts.append(f"<h4>{escape((block.get('text') or {}).get('text', ''))}</h4>")
        elif kind == "context":
            texts = [e.get("text", "") for e in block.get("elements") or []]
            parts.append(f'<div class="context">{mrkdwn(" ".join(texts), names)}</div>')
        elif kind == "divider":
            parts.append("<hr>")
        elif kind == "actions":
            buttons = [
                f'<button type="button" class="{escape(e.get("style", ""))}" '
                f"{_attrs(action='slack-press', action_id=e.get('action_id', ''), value=e.get('value', ''), conversation=channel, ts=ts)}>"  # noqa: E501
                f"{escape((e.get('text') or {}).get('text', ''))}</button>"
                for e in block.get("elements") or []
                if e.get("type") == "button"
            ]
            parts.append(f'<div class="actions">{"".join(buttons)}</div>')
    return "".join(parts)


def _posted(message: Posted, names: dict[str, str], with_buttons: bool = True) -> str:
    author = names.get(message.user or "", "carebot")
    body = (
        blocks_html(message.blocks, names, message.channel, message.ts)
        if message.blocks and with_buttons
        else mrkdwn(message.text, names)
    )
    return (
        f'<div class="slack-message" {_attrs(ts=message.ts)}>'
        f'<div class="author">{escape(author)}</div>{body}</div>'
    )


def slack_html(
    person: StaffView,
    names: dict[str, str],
    coordination: list[tuple[Posted, list[Posted]]],
    direct: list[Posted],
    notes: list[dict[str, Any]],
    home: dict[str, Any] | None,
    coordination_channel: str,
) -> str:
    parts: list[str] = []
    parts.append('<div class="composer-hints">Try <code>/carebot today</code>, '
                 "<code>update</code>, <code>handoff</code>, <code>patient Ethan</code>, "
                 "<code>help</code>.</div>")  # fmt: skip
    if notes:
        parts.append('<section class="notes"><h3>Only visible to you</h3>')
        for note in notes:
            body = (
                blocks_html(note.get("blocks") or [], names)
                if note.get("blocks")
                else mrkdwn(str(note.get("text", "")), names)
            )
            parts.append(f'<div class="slack-message note">{body}</div>')
        parts.append("</section>")
    sections = [("dm", _direct_html(direct, names))]
    if person.sees_coordination:
        sections.insert(
            0, ("coordination", _channel_html(coordination, names, coordination_channel))
        )
    else:
        sections.append(("coordination-hidden", ""))
    parts.extend(html for _, html in sections)
    parts.append(
        '<section class="home"><h3>Home tab '
        f'<button type="button" {_attrs(action="slack-home")}>Open Home</button></h3>'
    )
    if home:
        parts.append(blocks_html(home.get("blocks") or [], names))
    parts.append("</section>")
    return "".join(parts)


def _channel_html(
    coordination: list[tuple[Posted, list[Posted]]], names: dict[str, str], channel: str
) -> str:
    parts = [
        f'<section class="channel" id="coordination"><h3>#coordination ({escape(channel)})</h3>'
    ]
    if not coordination:
        parts.append('<div class="empty">Nothing here yet.</div>')
    for message, replies in coordination:
        parts.append('<div class="thread">')
        parts.append(_posted(message, names))
        for reply in replies:
            parts.append(f'<div class="reply">{_posted(reply, names)}</div>')
        parts.append(
            f'<form class="reply-form" {_attrs(action="slack-reply", conversation=message.channel, ts=message.ts)}>'  # noqa: E501
            f'<input name="text" data-key="reply-{escape(message.ts)}"'
            ' placeholder="Reply in thread"'
            ' autocomplete="off"><button type="submit">Reply</button></form>'
        )
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _direct_html(direct: list[Posted], names: dict[str, str]) -> str:
    parts = ['<section class="dm" id="direct"><h3>Direct messages from carebot</h3>']
    if not direct:
        parts.append('<div class="empty">No direct messages yet.</div>')
    parts.extend(_posted(m, names) for m in direct)
    parts.append("</section>")
    return "".join(parts)


def modal_html(view: dict[str, Any] | None, names: dict[str, str]) -> str:
    if view is None:
        return ""
    title = escape((view.get("title") or {}).get("text", ""))
    submit = escape((view.get("submit") or {}).get("text", "Submit"))
    fields: list[str] = []
    for block in view.get("blocks") or []:
        if block.get("type") != "input":
            fields.append(blocks_html([block], names))
            continue
        fields.append(_input_html(block))
    return (
        f'<div class="modal" {_attrs(view=view["id"])}><form {_attrs(action="slack-submit", view=view["id"])}>'  # noqa: E501
        f"<h3>{title}</h3>{''.join(fields)}"
        f'<div class="modal-buttons"><button type="button" {_attrs(action="slack-close", view=view["id"])}>Cancel</button>'  # noqa: E501
        f'<button type="submit" class="primary">{submit}</button></div></form></div>'
    )


def _input_html(block: dict[str, Any]) -> str:
    block_id = escape(block["block_id"])
    label = escape((block.get("label") or {}).get("text", ""))
    if block.get("optional"):
        label += ' <span class="optional">(optional)</span>'
    element = block.get("element") or {}
    kind = element.get("type")
    key = f'data-key="modal-{block_id}"'
    if kind == "plain_text_input":
        initial = escape(element.get("initial_value", ""))
        if element.get("multiline"):
            control = f'<textarea name="{block_id}" {key} rows="3">{initial}</textarea>'
        else:
            control = f'<input name="{block_id}" {key} value="{initial}" autocomplete="off">'
    elif kind == "datepicker":
        initial = escape(element.get("initial_date", ""))
        control = f'<input type="date" name="{block_id}" {key} value="{initial}">'
    elif kind == "static_select":
        chosen = (element.get("initial_option") or {}).get("value")
        options = "".join(
            f'<option value="{escape(o["value"])}"{" selected" if o["value"] == chosen else ""}>'
            f"{escape(o['text']['text'])}</option>"
            for o in element.get("options") or []
        )
        control = (
            f'<select name="{block_id}" {key}><option value="">Choose…</option>{options}</select>'
        )
    elif kind in ("radio_buttons", "checkboxes"):
        chosen = (element.get("initial_option") or {}).get("value")
        box = "radio" if kind == "radio_buttons" else "checkbox"
        control = "".join(
            f'<label class="choice"><input type="{box}" name="{block_id}"'
            f' value="{escape(o["value"])}"'
            f"{' checked' if o['value'] == chosen else ''}> {escape(o['text']['text'])}</label>"
            for o in element.get("options") or []
        )
    else:
        control = f"<em>({escape(str(kind))} is not shown in the sandbox)</em>"
    hint = (block.get("hint") or {}).get("text")
    hint_html = f'<div class="hint">{escape(hint)}</div>' if hint else ""
    return (
        f'<div class="field" {_attrs(kind=kind)}><label>{label}</label>{control}{hint_html}'
        f'<div class="error" data-error-for="{block_id}"></div></div>'
    )


# -- the page ----------------------------------------------------------------------------------


def page_html(
    practice: str,
    families: list[FamilyView],
    staff: list[StaffView],
    family: FamilyView,
    channel: str,
    person: StaffView,
) -> str:
    family_options = "".join(
        f'<option value="{escape(f.id)}"{" selected" if f.id == family.id else ""}>'
        f"{escape(f.label)}</option>"
        for f in families
    )
    staff_options = "".join(
        f'<option value="{escape(s.slack_id)}"'
        f"{' selected' if s.slack_id == person.slack_id else ''}>"
        f"{escape(s.label)}</option>"
        for s in staff
    )
    channels = "".join(
        f'<label><input type="radio" name="channel" value="{value}"'
        f"{' checked' if value == channel else ''}> {label}</label>"
        for value, label in (("telegram", "Telegram"), ("sms", "SMS"))
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>carebot sandbox: {escape(practice)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/console/static/console.css">
</head><body>
<header><h1>carebot sandbox
<small>{escape(practice)}, demo data; no real platform is called</small></h1>
<div id="clock"></div></header>
<div id="problem" role="alert" hidden></div>
<div id="note" aria-live="polite"></div>
<main>
<section class="pane" id="phone-pane" aria-label="Family phone">
  <h2>Family phone</h2>
  <div class="pickers"><select id="family" aria-label="Guardian">{family_options}</select>
  <span class="channels">{channels}</span></div>
  <div class="screen"><div id="phone"></div>
  <form id="phone-composer" data-action="phone-send" class="composer">
    <input name="text" data-key="phone-text" placeholder="Message" aria-label="Message"
      autocomplete="off">
    <button type="submit">Send</button></form></div>
</section>
<section class="pane" id="slack-pane" aria-label="Staff Slack">
  <h2>Staff Slack</h2>
  <div class="pickers"><select id="staff" aria-label="Staff member">{staff_options}</select></div>
  <div id="modal"></div>
  <div class="workspace"><div id="slack"></div>
  <form id="slack-composer" data-action="slack-command" class="composer">
    <span class="slash">/carebot</span>
    <input name="text" data-key="slack-text" placeholder="today" aria-label="Slash command"
      autocomplete="off">
    <button type="submit">Run</button></form></div>
</section>
</main>
<script src="/console/static/console.js"></script>
</body></html>
"""
