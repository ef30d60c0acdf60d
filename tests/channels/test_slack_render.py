"""Translations between carebot's staff screens and Slack's Block Kit, on realistic payloads."""

from __future__ import annotations

from bot.channels.slack_render import (
    modal,
    mrkdwn,
    plain_text,
    section_blocks,
    stored_buttons,
    submitted_fields,
)
from handlers.core.content import (
    Mention,
    code,
    em,
    everyone,
    icon,
    lines,
    plain,
    quote,
    rich,
    strong,
)
from handlers.core.screens import Field, Form, Section, StaffButton
from storage.models import Button


def test_slack_encoded_text_becomes_what_the_clinician_meant() -> None:
    assert plain_text("Tom &amp; Jerry &lt;3 &gt; all") == "Tom & Jerry <3 > all"
    assert plain_text("see <https://example.org/sheet|the sheet>") == (
        "see the sheet (https://example.org/sheet)"
    )
    assert plain_text("<https://example.org>") == "https://example.org"
    assert plain_text("hi <@U123> and <!here>, in <#C1|general>") == "hi and , in #general"
    assert plain_text("write <mailto:a@b.org|a@b.org>") == "write a@b.org"
    assert plain_text("&lt;b&gt;bold&lt;/b&gt;") == "<b>bold</b>"


def test_sections_become_mrkdwn_blocks_with_buttons_and_long_text_is_split() -> None:
    blocks = section_blocks(
        [Section("x" * 3500, (StaffButton("Claim", "escalation.claim", "7", "primary"),))]
    )
    assert [b["type"] for b in blocks] == ["section", "section", "actions"]
    assert len(blocks[0]["text"]["text"]) == 3000
    assert blocks[2]["elements"][0] == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Claim"},
        "action_id": "escalation.claim",
        "value": "7",
        "style": "primary",
    }


def test_long_text_is_split_between_lines_so_no_bold_or_mention_is_cut_in_two() -> None:
    rows = [
        rich("• ", strong(f"Visit {n:03d}"), " · ", Mention(f"U{n:04d}", "Dana"), " — ",
             icon("confirmed"), " confirmed")
        for n in range(200)
    ]  # fmt: skip
    chunks = [b["text"]["text"] for b in section_blocks([Section(lines(*rows))])]
    assert len(chunks) > 1
    assert all(len(c) <= 3000 for c in chunks)
    assert [line for c in chunks for line in c.split("\n")] == [
        f"• *Visit {n:03d}* · <@U{n:04d}> — :white_check_mark: confirmed" for n in range(200)
    ]
    # One line longer than a block is still cut (at the limit), not dropped.
    [one, two] = [b["text"]["text"] for b in section_blocks([Section("y" * 3001)])]
    assert (len(one), two) == (3000, "y")


def test_stored_buttons_come_back_with_their_action_and_value() -> None:
    buttons = stored_buttons(
        (
            Button(label="Resolve", token="escalation.resolve:12", style="danger"),
            Button(label="Later →", token="today.page:2026-11-23:2"),
            Button(label="Odd", token="x:1", style="flashy"),  # not a style Slack has
        )
    )
    assert buttons == (
        StaffButton("Resolve", "escalation.resolve", "12", "danger"),
        StaffButton("Later →", "today.page", "2026-11-23:2"),
        StaffButton("Odd", "x", "1"),
    )


def test_content_becomes_mrkdwn_and_what_people_wrote_stays_literal() -> None:
    family = "<!channel> @here *urgent* <https://evil.example|click> & more"
    post = lines(
        rich(icon("emergency"), " ", strong("Possible emergency"), " ", everyone()),
        rich(strong("Family:"), " Ana <Rivera>"),
        quote(family + "\nsecond line"),
        em("Reply in this thread."),
        rich("Use ", code("/carebot patient <name>"), " — ", Mention(None, "Sam <Lee>")),
    )
    assert mrkdwn(post).split("\n") == [
        ":rotating_light: *Possible emergency* <!here>",
        "*Family:* Ana &lt;Rivera&gt;",
        "> &lt;!channel&gt; @\u200bhere *urgent* &lt;https://evil.example|click&gt; &amp; more",
        "> second line",
        "_Reply in this thread._",
        "Use `/carebot patient &lt;name&gt;` — Sam &lt;Lee&gt;",
    ]
    # Without markup (logs, a plain channel): the same words, mentions by name, no pictures.
    assert plain(post).split("\n")[0] == " Possible emergency @here"
    assert plain(rich("by ", Mention("U1", "Dana Brooks"))) == "by @Dana Brooks"


FORM = Form(
    id="update",
    title="Update about a patient — long title",
    submit="Send",
    fields=(
        Field("patient", "Patient", "select", (("p-1", "Maya Lopez"),)),
        Field("text", "Update", "multiline", hint="No clinical details."),
        Field(
            "audience", "Who", "choice", (("family", "Family"), ("team", "Team")), initial="family"
        ),
        Field("when", "Date", "date", initial="2026-11-30"),
        Field("tell", "Family", "checkbox", (("yes", "Tell them"),), optional=True),
    ),
    context="42",
)


def test_a_form_becomes_a_modal() -> None:
    view = modal(FORM)
    assert view["callback_id"] == "update" and view["private_metadata"] == "42"
    assert view["title"]["text"] == "Update about a patient —"[:24]
    kinds = [(b["block_id"], b["element"]["type"], b["optional"]) for b in view["blocks"]]
    assert kinds == [
        ("patient", "static_select", False),
        ("text", "plain_text_input", False),
        ("audience", "radio_buttons", False),
        ("when", "datepicker", False),
        ("tell", "checkboxes", True),
    ]
    assert view["blocks"][1]["element"]["multiline"] is True
    assert view["blocks"][2]["element"]["initial_option"]["value"] == "family"
    assert view["blocks"][3]["element"]["initial_date"] == "2026-11-30"


def test_a_submitted_view_gives_its_values_by_field() -> None:
    view = {
        "state": {
            "values": {
                "patient": {
                    "patient": {
                        "type": "static_select",
                        "selected_option": {"value": "p-1", "text": {"text": "Maya Lopez"}},
                    }
                },
                "text": {"text": {"type": "plain_text_input", "value": "Great day"}},
                "audience": {
                    "audience": {"type": "radio_buttons", "selected_option": {"value": "family"}}
                },
                "when": {"when": {"type": "datepicker", "selected_date": "2026-11-30"}},
                "tell": {"tell": {"type": "checkboxes", "selected_options": [{"value": "yes"}]}},
                "empty": {"empty": {"type": "plain_text_input", "value": None}},
            }
        }
    }
    assert submitted_fields(view) == {
        "patient": "p-1",
        "text": "Great day",
        "audience": "family",
        "when": "2026-11-30",
        "tell": "yes",
        "empty": "",
    }
