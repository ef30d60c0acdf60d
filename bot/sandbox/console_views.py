"""The sandbox console's HTML, rendered on the server: the page, the clock and the family's
phone (the staff's Slack pane is in :mod:`bot.sandbox.console_slack`).

Everything shown is escaped here; the little JavaScript in ``static/console.js`` only swaps the
panes and posts what a person does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from bot.channels.slack_render import plain_text
from bot.sandbox.actors import SmsLine
from storage.clock import from_db
from storage.messages import ActivityRow
from storage.models import Practice


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
    language: str = "en"

    @property
    def label(self) -> str:
        reads = ", reads Spanish" if self.language.startswith("es") else ""
        return f"{self.name} ({self.discipline or self.role}{reads})"

    @property
    def sees_coordination(self) -> bool:
        return self.role in ("coordinator", "admin")


def data_attrs(**values: Any) -> str:
    """data-* attributes (underscores become dashes), escaped."""
    return " ".join(
        f'data-{k.replace("_", "-")}="{escape(str(v))}"' for k, v in values.items() if v is not None
    )


def _e(text: str) -> str:
    return escape(text).replace("\n", "<br>")


# -- clock -------------------------------------------------------------------------------------


def sent_at(instant: datetime | None, timezone: str) -> str:
    """When a message was sent, by the sandbox's clock in the practice's time: ``Tue 14:05``
    (the clock jumps days, so the weekday is shown too)."""
    if instant is None:
        return ""
    local = instant.astimezone(ZoneInfo(timezone))
    return (
        f'<time class="sent" datetime="{local.isoformat(timespec="minutes")}">'
        f"{local:%a %H:%M}</time>"
    )


def clock_html(now: datetime, timezone: str, note: str) -> str:
    local = now.astimezone(ZoneInfo(timezone))
    stamp = local.strftime("%a %d %b %Y, %H:%M")
    buttons = "".join(
        f'<button type="button" {data_attrs(action="clock", step=step)}>{label}</button>'
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
    timezone: str = "UTC",
) -> str:
    facts = "; ".join(f"{name}, born {born}" for name, born in family.children)
    parts = [f'<div class="facts">Children: {escape(facts)}</div>']
    if channel == "telegram":
        if family.telegram_linked:
            parts.append('<div class="status ok">Linked on Telegram</div>')
        else:
            parts.append(
                '<div class="status">Not linked on Telegram yet. '
                f'<button type="button" {data_attrs(action="phone-link")}>Link with an invite'
                "</button></div>"
            )
        parts.append('<div class="messages" id="phone-messages" role="log" aria-live="polite">')
        parts.extend(_telegram_message(m, bot_id, timezone) for m in telegram)
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
        parts.append('<div class="messages sms" id="phone-messages" role="log" aria-live="polite">')
        for line in texts:
            side = "mine" if line.inbound else "theirs"
            tick = ' <span class="edited">Delivered</span>' if line.sid in delivered else ""
            at = sent_at(line.at, timezone)
            parts.append(f'<div class="bubble {side}">{_e(line.body)}{at}{tick}</div>')
        parts.append("</div>")
    return "".join(parts)


def _telegram_message(message: dict[str, Any], bot_id: int, timezone: str) -> str:
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
                    f'<button type="button" {data_attrs(action="phone-press", message=message["message_id"], data=b.get("callback_data", ""))}>'  # noqa: E501
                    f"{escape(b.get('text', ''))}</button>"
                    for b in row
                )
                + "</div>"
                for row in rows
            )
            + "</div>"
        )
    edited = ' <span class="edited">edited</span>' if message.get("edit_date") else ""
    date = message.get("date")
    at = sent_at(datetime.fromtimestamp(date, UTC), timezone) if isinstance(date, int) else ""
    side = "mine" if mine else "theirs"
    return f'<div class="bubble {side}">{text}{at}{edited}{keyboard}</div>'


# -- what is happening -------------------------------------------------------------------------


def situation(now: datetime, practice: Practice) -> str:
    """What the sandbox's clock means right now, for the first view (before any step)."""
    zone = ZoneInfo(practice.timezone)
    local = now.astimezone(zone)
    start, end = practice.quiet_hours_start, practice.quiet_hours_end
    clock = local.strftime("%H:%M")
    quiet = (
        (local.time() >= start or local.time() < end)
        if start > end
        else start <= local.time() < end
    )
    if quiet:
        return (
            f"It is {clock} at the practice: quiet hours ({start:%H:%M}-{end:%H:%M}), so"
            f" reminders wait until {end:%H:%M}. Press Send the next reminders to move the clock"
            " to them."
        )
    return (
        f"It is {clock} at the practice: reminders due by now have gone out. Press +1 hour,"
        " +1 day or Send the next reminders to move on."
    )


THINGS_TO_TRY = (
    "Pick Megan Thompson (SMS): she has Ethan's reminder. Reply 1, then pick Dana Rivera on the"
    " right: Dana heard it.",
    "Pick Priya on Telegram, press Link with an invite, answer with Arjun's date of birth"
    " (2016-08-21), then ask something only a person can answer.",
    "Pick Tamara Brooks (the coordinator): Claim the escalation, answer in its thread; the"
    " post changes as you do.",
    "Write EMERGENCY as any family, or run /carebot today and open Home as Tamara.",
    "Pick Linh Nguyen: she reads carebot in Spanish (the staff import's language column);"
    " run /carebot today or help as her.",
)


def intro_html(now: datetime, practice: Practice) -> str:
    tries = "".join(f"<li>{escape(step)}</li>" for step in THINGS_TO_TRY)
    return (
        f'<p class="situation">{escape(situation(now, practice))}</p>'
        f'<details class="try" open><summary>Things to try</summary><ol>{tries}</ol></details>'
    )


_MENTION = re.compile(r"<@([A-Z0-9]+)>")
#: Slack's emoji codes (``:rotating_light:``) and its *bold* and _italic_ marks, which the
#: activity pane leaves out: it says what was sent, in words.
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:\s?")
_EMPHASIS = re.compile(r"(?<![\w*_])([*_])(\S(?:.*?\S)?)\1(?![\w*_])")


def activity_html(rows: list[ActivityRow], timezone: str, names: dict[str, str]) -> str:
    """Every message in and out, newest first: when, which way, channel, who, and what came of
    it, so nothing shows only in the terminal (``names``: Slack user id -> staff name)."""
    if not rows:
        return '<p class="empty">Nothing yet.</p>'
    zone = ZoneInfo(timezone)
    items = []
    for row in rows:
        at = from_db(row.created_at).astimezone(zone).strftime("%H:%M")
        way = "from" if row.direction == "in" else "to"
        words = row.body
        if row.channel == "slack":  # mentions by name, Slack's markup as the words it stands for
            words = plain_text(
                _MENTION.sub(lambda m: "@" + names.get(m.group(1), m.group(1)), row.body)
            )
            words = _EMPHASIS.sub(r"\2", _EMOJI_CODE.sub("", words))
        what = "change of a message" if row.edits_message_id else words.split("\n", 1)[0][:60]
        who = row.who or (
            f"#{row.address.split(':', 1)[1]}" if row.channel == "slack" else "someone not linked"
        )
        outcome = row.status + (f" ({row.error})" if row.error else "")
        items.append(
            f'<li class="{escape(row.status)}"><time>{at}</time> {escape(row.channel)}'
            f" {way} {escape(who)}: {escape(what)}"
            f" <b>{escape(outcome)}</b></li>"
        )
    return f'<ol class="activity" reversed>{"".join(items)}</ol>'


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
<div id="intro"></div>
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
<section class="pane" id="activity-pane" aria-label="Activity">
  <h2>Activity</h2><div id="activity"></div>
</section>
<script src="/console/static/console.js"></script>
</body></html>
"""
