"""The outbox against the real adapters and fakes: sending before the call, recovery after a
crash, each channel on its own, an address's order, long texts in parts, failures told."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from typing import Any

from bot.channels.parts import utf16_units
from bot.channels.sms import segments
from storage.models import OutboundMessage
from storage.record import Record
from tests.channels.conftest import Stack
from tests.channels.test_slack_e2e import ANA_TG, COORDINATORS, ROSA, SlackStack, root_post
from tests.channels.test_slack_e2e import sstack as sstack  # noqa: F401 - the fixture
from tests.channels.test_sms_e2e import ANA, FROM, SmsStack
from tests.channels.test_sms_e2e import sms as sms  # noqa: F401 - the fixture
from tests.channels.test_telegram_e2e import ANA_ID, linked_family

EMOJI = "\U0001f60a"  # one character, two UTF-16 code units


async def queue(stack: Any, address: str, body: str, **kwargs: Any) -> int:
    """Queue a message as a handler would (a row in the outbox)."""
    async with stack.harness.db.transaction() as conn:
        return await Record(conn).messages.queue(
            channel=address.split(":", 1)[0],
            address=address,
            body=body,
            template="test",
            guardian_id=kwargs.pop("guardian_id", None),
            staff_id=None,
            buttons=(),
            now=stack.harness.clock.now(),
            reveals=kwargs.pop("reveals", frozenset()),
            **kwargs,
        )


def status_rows(db_path: str, message_ids: list[int]) -> list[str]:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as conn:
        marks = ",".join("?" * len(message_ids))
        rows = conn.execute(f"SELECT status FROM message WHERE id IN ({marks})", message_ids)
        return [row[0] for row in rows]


async def test_a_message_is_committed_as_sending_before_the_platform_is_called(
    stack: Stack,
) -> None:
    """What another process (a crash's aftermath) sees while the call is under way."""
    telegram = stack.carebot.telegram
    assert telegram is not None
    seen: list[list[str]] = []
    real_send = telegram.send

    async def watched(message: OutboundMessage) -> Any:
        seen.append(status_rows(stack.carebot.db.path, [message.id]))
        return await real_send(message)

    telegram.send = watched  # type: ignore[method-assign]
    message_id = await queue(stack, f"telegram:{ANA_ID}", "hello")
    await stack.deliver()
    assert seen == [["sending"]]
    assert status_rows(stack.carebot.db.path, [message_id]) == ["sent"]


async def test_after_a_crash_a_message_in_flight_is_sent_again_and_flagged(stack: Stack) -> None:
    first = await queue(stack, f"telegram:{ANA_ID}", "your reminder")
    later = await queue(stack, f"telegram:{ANA_ID}", "and this one after it")
    async with stack.harness.db.transaction() as conn:  # the crash: marked, never answered
        await Record(conn).outbox.start_sending([first], stack.clock.now())
    report = await stack.carebot.outbox.recover()
    assert (report.unknown, report.found, report.resent) == (1, 0, 1)
    assert await stack.harness.scalar(
        "SELECT status || ' ' || recovery FROM message WHERE id = ?", first
    ) == ("queued resent")
    await stack.deliver_all()
    assert stack.texts_to(ANA_ID) == ["your reminder", "and this one after it"]  # in order
    assert await stack.harness.scalar("SELECT recovery FROM message WHERE id = ?", later) is None


async def test_after_a_crash_a_text_twilio_already_has_is_not_sent_again(sms: SmsStack) -> None:
    sent_before = await queue(sms, f"sms:{ANA}", "Bright Steps Therapy: see you Thursday.")
    await sms.deliver()
    [at_twilio] = sms.twilio.sent
    never_sent = await queue(sms, f"sms:{ANA}", "Bright Steps Therapy: a second note.")
    async with sms.harness.db.transaction() as conn:
        # The crash: both were in flight; the first reached Twilio, the second did not.
        await conn.execute(
            "UPDATE message SET status = 'sending', provider_message_id = NULL,"
            " sending_at = ? WHERE id IN (?, ?)",
            (sms.harness.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"), sent_before, never_sent),
        )
    report = await sms.carebot.outbox.recover()
    assert (report.unknown, report.found, report.resent) == (2, 1, 1)
    assert await sms.harness.scalar(
        "SELECT status || ' ' || recovery || ' ' || provider_message_id FROM message WHERE id = ?",
        sent_before,
    ) == (f"sent found {at_twilio.sid}")
    await sms.deliver()
    assert sms.twilio.to(ANA) == [
        "Bright Steps Therapy: see you Thursday.",
        "Bright Steps Therapy: a second note.",
    ]


async def test_a_slack_backlog_does_not_delay_family_replies(sstack: SlackStack) -> None:
    """300 posts wait for the coordinators' channel (one a second); the families' Telegram
    replies queued after them go out in the same round."""
    for n in range(300):
        await queue(sstack, f"slack:{COORDINATORS}", f"post {n}")
    await queue(sstack, f"telegram:{ANA_TG}", "reply to Ana")
    sstack.harness.clock.advance(timedelta(seconds=1))  # past the pace of Ana's linking
    before = len(sstack.family_texts())
    await sstack.carebot.outbox.deliver_due()
    assert sstack.family_texts()[before:] == ["reply to Ana"]
    assert len(sstack.slack.messages(COORDINATORS)) == 1  # the Slack channel keeps its pace


async def test_a_message_never_overtakes_an_earlier_one_that_waits_for_a_retry(
    stack: Stack,
) -> None:
    stack.fake.fail_next("sendMessage", status=502, description="Bad Gateway")
    await queue(stack, f"telegram:{ANA_ID}", "first")
    await stack.deliver()  # the first failed: retried in 2 s
    await queue(stack, f"telegram:{ANA_ID}", "second")
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver()
    assert stack.texts_to(ANA_ID) == []  # the second waits behind the first
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver_all()
    assert stack.texts_to(ANA_ID) == ["first", "second"]


async def test_a_long_telegram_message_goes_in_parts_counted_in_utf16(stack: Stack) -> None:
    body = EMOJI * 4096  # 4,096 characters, 8,192 UTF-16 code units
    message_id = await queue(stack, f"telegram:{ANA_ID}", body)
    await stack.deliver_all()
    parts = stack.texts_to(ANA_ID)
    assert len(parts) == 2
    assert all(utf16_units(p) <= 4096 for p in parts)
    assert "".join(parts) == body  # nothing cut, in order
    assert await stack.harness.scalar(
        "SELECT status || ' ' || parts_sent FROM message WHERE id = ?", message_id
    ) == ("sent 2")


async def test_a_long_message_breaks_between_words_and_resumes_after_a_429(stack: Stack) -> None:
    words = " ".join(f"word{n}" for n in range(1500))  # about 10,000 characters
    await queue(stack, f"telegram:{ANA_ID}", words)
    await stack.deliver()  # part 1
    stack.fake.fail_next("sendMessage", status=429, retry_after=3)
    stack.clock.advance(timedelta(seconds=1))
    await stack.deliver()  # part 2 refused: the message waits, part 1 is not sent again
    stack.clock.advance(timedelta(seconds=3))
    await stack.deliver_all()
    parts = stack.texts_to(ANA_ID)
    assert len(parts) in (3, 4)
    assert " ".join(parts) == words  # part 1 once, nothing cut, in order
    assert all(p.split(" ")[0].startswith("word") and len(p) <= 4096 for p in parts)


async def test_a_long_text_message_goes_in_parts_of_at_most_ten_segments(sms: SmsStack) -> None:
    body = "Sofía " * 300  # UCS-2 (í), 1,800 characters
    await queue(sms, f"sms:{ANA}", body.strip())
    for _ in range(5):
        await sms.deliver()
        sms.harness.clock.advance(timedelta(seconds=1))
    texts = sms.twilio.to(ANA)
    assert len(texts) == 3
    assert all(segments(t)[0] <= 10 for t in texts)
    assert " ".join(texts) == body.strip()
    assert all(m.from_ == FROM for m in sms.twilio.sent)


async def test_a_staff_reply_that_cannot_reach_the_family_is_reported_to_its_author(
    sstack: SlackStack,
) -> None:
    await sstack.family_says("Can we move Thursday?")
    root = root_post(sstack)
    await sstack.act(sstack.press(ROSA, root, "Claim"))
    sstack.telegram.block_chat(ANA_TG)  # Ana blocked the bot
    await sstack.act(sstack.thread_reply(ROSA, root, "Yes, Friday at 4 works."))
    [note] = [m for m in sstack.slack.messages("U9") if "not delivered" in m.text]
    assert note.text.startswith(":warning: Your message to Ana Rivera by Telegram was not")
    assert "the family blocked carebot" in note.text


async def test_a_message_for_a_channel_carebot_does_not_run_fails_visibly(stack: Stack) -> None:
    message_id = await queue(stack, "sms:+15551230001", "a text, but SMS is not configured")
    await stack.deliver()
    assert await stack.harness.scalar(
        "SELECT status || ': ' || error FROM message WHERE id = ?", message_id
    ) == ("failed: channel not configured")


async def test_a_family_who_blocks_the_bot_stops_getting_messages(stack: Stack) -> None:
    """Telegram's my_chat_member (kicked): what is queued to them fails, nothing more goes;
    unblocking (member) lets messages through again."""
    await linked_family(stack)
    await stack.deliver_all()
    queued = await queue(stack, f"telegram:{ANA_ID}", "a reminder")
    kicked = _membership(stack, "kicked", "member")
    assert await stack.post_update(kicked) == 200
    assert await stack.harness.scalar(
        "SELECT blocked_at IS NOT NULL FROM channel_identity WHERE address = ?",
        f"telegram:{ANA_ID}",
    )
    assert await stack.harness.scalar("SELECT status FROM message WHERE id = ?", queued) == (
        "failed"
    )
    before = len(stack.texts_to(ANA_ID))
    await stack.deliver_all()
    assert len(stack.texts_to(ANA_ID)) == before
    assert await stack.post_update(_membership(stack, "member", "kicked")) == 200
    assert not await stack.harness.scalar(
        "SELECT blocked_at IS NOT NULL FROM channel_identity WHERE address = ?",
        f"telegram:{ANA_ID}",
    )


def _membership(stack: Stack, new: str, old: str) -> dict[str, Any]:
    user = {"id": ANA_ID, "is_bot": False, "first_name": "Ana", "language_code": "en"}
    bot = {"id": stack.fake.bot_id, "is_bot": True, "first_name": "CareBot", "username": "x_bot"}
    stamp = int(stack.clock.now().timestamp())
    update = stack.fake.message_update(ANA_ID, "ignored")
    return {
        "update_id": update["update_id"],
        "my_chat_member": {
            "chat": {"id": ANA_ID, "first_name": "Ana", "type": "private"},
            "from": user,
            "date": stamp,
            "old_chat_member": _member(bot, old),
            "new_chat_member": _member(bot, new),
        },
    }


def _member(user: dict[str, Any], status: str) -> dict[str, Any]:
    return {"user": user, "status": status} | ({"until_date": 0} if status == "kicked" else {})


async def test_the_outbox_refuses_on_telegram_what_a_family_channel_may_not_carry(
    stack: Stack,
) -> None:
    """Whoever queued it: a row that says it reveals a service never reaches Telegram; it ends
    failed with the reason."""
    telegram = await queue(
        stack, f"telegram:{ANA_ID}", "Maya has ABA on Thursday",
        reveals=frozenset({"child", "service", "date"}),
    )  # fmt: skip
    plain = await queue(
        stack, f"telegram:{ANA_ID}", "Maya on Thursday", reveals=frozenset({"child", "date"})
    )
    await stack.deliver_all()
    assert stack.texts_to(ANA_ID) == ["Maya on Thursday"]
    assert await stack.harness.scalar(
        "SELECT status || ': ' || error FROM message WHERE id = ?", telegram
    ) == ("failed: refused on telegram: reveals service")
    assert await stack.harness.scalar("SELECT status FROM message WHERE id = ?", plain) == "sent"


async def test_the_outbox_refuses_on_sms_what_a_family_channel_may_not_carry(
    sms: SmsStack, caplog: Any
) -> None:
    """Nothing reaches Twilio; the refusal is logged by name, never by the message's words."""
    text = await queue(
        sms, f"sms:{ANA}", "Maya's speech therapy", reveals=frozenset({"discipline"})
    )
    await sms.deliver()
    assert sms.twilio.sent == []
    assert await sms.harness.scalar(
        "SELECT status || ': ' || error FROM message WHERE id = ?", text
    ) == ("failed: refused on sms: reveals discipline")
    assert "refused on sms: reveals discipline" in caplog.text
    assert "speech therapy" not in caplog.text and "ABA" not in caplog.text


async def test_a_change_waits_for_its_message_and_fails_if_that_one_never_went(
    stack: Stack,
) -> None:
    """A change queued while its message is still queued goes after it, as an edit; a change of
    a message that failed for good has nothing to change and fails too (never a new message)."""
    await linked_family(stack)
    original = await queue(stack, f"telegram:{ANA_ID}", "Maya on Thursday at 3:30 PM")
    change = await queue(
        stack, f"telegram:{ANA_ID}", "Maya on Thursday at 3:30 PM\n\nConfirmed",
        edits_message_id=original,
    )  # fmt: skip
    await stack.deliver_all()
    [edit] = stack.fake.calls("editMessageText")
    assert edit.params["text"] == "Maya on Thursday at 3:30 PM\n\nConfirmed"
    assert stack.texts_to(ANA_ID)[-1] == "Maya on Thursday at 3:30 PM"  # sent once, then edited
    assert await stack.harness.scalar("SELECT status FROM message WHERE id = ?", change) == "sent"

    stack.fake.block_chat(ANA_ID)
    gone = await queue(stack, f"telegram:{ANA_ID}", "never arrives")
    await stack.deliver_all()
    stack.fake.unblock_chat(ANA_ID)
    async with stack.harness.db.transaction() as conn:  # unblocked: writing may go on
        await conn.execute("UPDATE channel_identity SET blocked_at = NULL")
    late = await queue(stack, f"telegram:{ANA_ID}", "never arrives, changed", edits_message_id=gone)
    await stack.deliver_all()
    assert await stack.harness.scalar(
        "SELECT status || ': ' || error FROM message WHERE id = ?", late
    ) == ("failed: the message it changes was not sent")
    assert len(stack.fake.calls("editMessageText")) == 1


async def test_a_change_that_would_not_fit_one_message_fails_and_nothing_is_edited(
    stack: Stack,
) -> None:
    """A message is changed in place as one: a change past the channel's length (Telegram's
    4,096 UTF-16 units) would edit one part and lose the rest, so it is refused."""
    await linked_family(stack)
    original = await queue(stack, f"telegram:{ANA_ID}", "Maya on Thursday at 3:30 PM")
    await stack.deliver_all()
    long = await queue(
        stack, f"telegram:{ANA_ID}", "Maya on Thursday " + EMOJI * 2100, edits_message_id=original
    )
    await stack.deliver_all()
    assert await stack.harness.scalar(
        "SELECT status || ': ' || error FROM message WHERE id = ?", long
    ) == ("failed: a change must fit one message")
    assert stack.fake.calls("editMessageText") == []
