"""The sandbox console's staff pane: Slack's markup, Block Kit messages and modals as HTML.

Everything shown is escaped here, as in :mod:`bot.sandbox.console_views`.
"""

from __future__ import annotations

import re
from html import escape, unescape
from typing import Any

from bot.sandbox.console_views import StaffView, data_attrs, sent_at
from bot.sandbox.slack_fake import Posted

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
    html = re.sub(r"(?m)^&gt; ?(.*)$", r'<span class="quote">\1</span>', html)  # "> words"
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
                f"{data_attrs(action='slack-press', action_id=e.get('action_id', ''), value=e.get('value', ''), conversation=channel, ts=ts)}>"  # noqa: E501
                f"{escape((e.get('text') or {}).get('text', ''))}</button>"
                for e in block.get("elements") or []
                if e.get("type") == "button"
            ]
            parts.append(f'<div class="actions">{"".join(buttons)}</div>')
    return "".join(parts)


def _posted(
    message: Posted, names: dict[str, str], timezone: str, with_buttons: bool = True
) -> str:
    author = names.get(message.user or "", "carebot")
    body = (
        blocks_html(message.blocks, names, message.channel, message.ts)
        if message.blocks and with_buttons
        else mrkdwn(message.text, names)
    )
    return (
        f'<div class="slack-message" {data_attrs(ts=message.ts)}>'
        f'<div class="author">{escape(author)} {sent_at(message.at, timezone)}</div>'
        f"{body}</div>"
    )


def slack_html(
    person: StaffView,
    names: dict[str, str],
    coordination: list[tuple[Posted, list[Posted]]],
    direct: list[Posted],
    notes: list[dict[str, Any]],
    home: dict[str, Any] | None,
    coordination_channel: str,
    timezone: str = "UTC",
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
    sections = [("dm", _direct_html(direct, names, timezone))]
    if person.sees_coordination:
        sections.insert(
            0, ("coordination", _channel_html(coordination, names, coordination_channel, timezone))
        )
    else:
        sections.append(("coordination-hidden", ""))
    parts.extend(html for _, html in sections)
    parts.append(
        '<section class="home"><h3>Home tab '
        f'<button type="button" {data_attrs(action="slack-home")}>Open Home</button></h3>'
    )
    if home:
        parts.append(blocks_html(home.get("blocks") or [], names))
    parts.append("</section>")
    return "".join(parts)


def _channel_html(
    coordination: list[tuple[Posted, list[Posted]]],
    names: dict[str, str],
    channel: str,
    timezone: str,
) -> str:
    parts = [
        f'<section class="channel" id="coordination"><h3>#coordination ({escape(channel)})</h3>'
    ]
    if not coordination:
        parts.append('<div class="empty">Nothing here yet.</div>')
    for message, replies in coordination:
        parts.append('<div class="thread">')
        parts.append(_posted(message, names, timezone))
        for reply in replies:
            parts.append(f'<div class="reply">{_posted(reply, names, timezone)}</div>')
        parts.append(
            f'<form class="reply-form" {data_attrs(action="slack-reply", conversation=message.channel, ts=message.ts)}>'  # noqa: E501
            f'<input name="text" data-key="reply-{escape(message.ts)}"'
            ' placeholder="Reply in thread"'
            ' autocomplete="off"><button type="submit">Reply</button></form>'
        )
        parts.append("</div>")
    parts.append("</section>")
    return "".join(parts)


def _direct_html(direct: list[Posted], names: dict[str, str], timezone: str) -> str:
    parts = ['<section class="dm" id="direct"><h3>Direct messages from carebot</h3>']
    if not direct:
        parts.append('<div class="empty">No direct messages yet.</div>')
    parts.extend(_posted(m, names, timezone) for m in direct)
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
        f'<div class="modal" {data_attrs(view=view["id"])}><form {data_attrs(action="slack-submit", view=view["id"])}>'  # noqa: E501
        f"<h3>{title}</h3>{''.join(fields)}"
        f'<div class="modal-buttons"><button type="button" {data_attrs(action="slack-close", view=view["id"])}>Cancel</button>'  # noqa: E501
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
        f'<div class="field" {data_attrs(kind=kind)}><label>{label}</label>{control}{hint_html}'
        f'<div class="error" data-error-for="{block_id}"></div></div>'
    )
