"""Each link of the chain on its own: what it lets through, what it stops, what it sets.

A link is run with a real record (the ``linked`` practice of conftest) and a ``call_next`` that
remembers what reached it, so a test sees exactly what the link did and nothing after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest

from handlers.core.chain import (
    Chain,
    CheckButton,
    Dedupe,
    Dispatch,
    Identify,
    Link,
    Locale,
    NumberedReplies,
    Turn,
    standard_chain,
)
from handlers.core.content import plain
from handlers.core.context import Context, Outgoing, current_language
from handlers.core.events import (
    ButtonPressed,
    FamilyText,
    FormSubmitted,
    HomeOpened,
    Inbound,
    StaffAction,
    StaffCommand,
    ThreadReply,
)
from handlers.core.router import Router
from handlers.core.view_log import ViewLog
from storage.record import Record
from tests.handlers.conftest import ANA, CARMEN, DANA, NOBODY, STRANGER
from tests.harness import PRACTICE, TEAM, Harness

NEXT = "next"


class Reached:
    """A ``call_next`` that records the turns that reached it (and what the locale was)."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.languages: list[str] = []

    async def __call__(self, turn: Turn) -> None:
        self.turns.append(turn)
        self.languages.append(current_language.get())


def unit_for(h: Harness) -> object:
    @asynccontextmanager
    async def unit(turn: Turn) -> AsyncIterator[Context]:
        async with h.db.snapshot() if turn.reads_only else h.db.transaction() as conn:
            record = Record(conn)
            out = Outgoing(record, turn.now, PRACTICE, h.translator, frozenset({"sms"}))
            turn.context = Context(
                turn.event, record, turn.now, PRACTICE, out, None, None, desk=h.desk
            )
            yield turn.context

    return unit


async def run(
    h: Harness, link: Link, event: Inbound, *, reads_only: bool = False
) -> tuple[Turn, Reached]:
    """Run one link on a turn whose unit of work is opened around it (as Dedupe would)."""
    turn = Turn(event, h.clock.now(), h.desk, unit_for(h), reads_only=reads_only)  # type: ignore[arg-type]
    reached = Reached()
    if isinstance(link, Dedupe):
        await link(turn, reached)
    else:
        async with turn.unit(turn):
            await link(turn, reached)
    return turn, reached


def text(address: str, words: str, event_id: str = "e1", **extra: object) -> FamilyText:
    return FamilyText(
        channel=address.split(":")[0], address=address, event_id=event_id, text=words, **extra
    )  # type: ignore[arg-type]


def slack(user: str) -> str:
    return f"slack:{TEAM}/{user}"


def test_the_chain_runs_in_the_order_the_architecture_gives(h: Harness) -> None:
    chain = standard_chain(Router(), ViewLog(h.db))
    assert chain.names == ("dedupe", "identify", "numbered", "locale", "button", "dispatch")


async def test_dedupe_stops_a_redelivery_and_lets_a_new_event_through(linked: Harness) -> None:
    first, reached = await run(linked, Dedupe(ViewLog(linked.db)), text(ANA, "hi", "ev-7"))
    assert not first.duplicate and len(reached.turns) == 1
    again, reached = await run(linked, Dedupe(ViewLog(linked.db)), text(ANA, "hi", "ev-7"))
    assert again.duplicate and reached.turns == []
    other, reached = await run(linked, Dedupe(ViewLog(linked.db)), text(ANA, "hi", "ev-8"))
    assert not other.duplicate and len(reached.turns) == 1


async def test_a_failed_event_is_not_claimed_so_its_redelivery_is_handled(linked: Harness) -> None:
    class Fails(Link):
        name = "fails"

        async def __call__(self, turn: Turn, call_next: object) -> None:
            raise RuntimeError("the handler broke")

    chain = Chain([Dedupe(ViewLog(linked.db)), Fails()])
    turn = Turn(text(ANA, "hi", "ev-9"), linked.clock.now(), linked.desk, unit_for(linked))  # type: ignore[arg-type]
    with pytest.raises(RuntimeError):
        await chain.run(turn)
    retried, reached = await run(linked, Dedupe(ViewLog(linked.db)), text(ANA, "hi", "ev-9"))
    assert not retried.duplicate and len(reached.turns) == 1


async def test_dedupe_records_a_view_once_and_answers_it_from_a_snapshot(
    staffed: Harness,
) -> None:
    view = HomeOpened(channel="slack", address=slack(DANA), event_id="home:1")
    turn, reached = await run(staffed, Dedupe(ViewLog(staffed.db)), view, reads_only=True)
    assert len(reached.turns) == 1 and not turn.duplicate
    again, reached = await run(staffed, Dedupe(ViewLog(staffed.db)), view, reads_only=True)
    assert again.duplicate and reached.turns == []
    recorded = "SELECT COUNT(*) FROM message WHERE address = ? AND body = '[home]'"
    assert await staffed.scalar(recorded, slack(DANA)) == 1


async def test_identify_finds_the_guardian_and_keeps_the_message_in_the_history(
    linked: Harness,
) -> None:
    turn, reached = await run(linked, Identify(), text(CARMEN, "hola"))
    assert turn.ctx.guardian is not None and turn.ctx.guardian.id == "g-carmen"
    assert len(reached.turns) == 1
    assert (
        await linked.scalar(
            "SELECT guardian_id FROM message WHERE direction = 'in' AND body = 'hola'"
        )
        == "g-carmen"
    )


async def test_identify_lets_a_stranger_through_unknown(linked: Harness) -> None:
    turn, reached = await run(linked, Identify(), text(STRANGER, "hello?"))
    assert turn.ctx.guardian is None and turn.ctx.identity is None
    assert len(reached.turns) == 1  # the handlers answer: how to link


async def test_identify_stops_someone_not_on_the_staff_list(staffed: Harness) -> None:
    command = StaffCommand(channel="slack", address=slack(NOBODY), event_id="c1", text="/carebot")
    turn, reached = await run(staffed, Identify(), command)
    assert reached.turns == []
    [refusal] = turn.ctx.shown
    assert "only for Bright Steps Therapy's staff" in plain(refusal.text)
    # In a thread a stranger is not answered at all: it is none of carebot's business.
    reply = ThreadReply(
        channel="slack", address=slack(NOBODY), event_id="t1", text="hi", thread="1.1"
    )
    turn, reached = await run(staffed, Identify(), reply)
    assert reached.turns == [] and turn.ctx.shown == []


async def test_identify_finds_a_staff_member(staffed: Harness) -> None:
    action = StaffAction(channel="slack", address=slack(DANA), event_id="a1", action="x")
    turn, reached = await run(staffed, Identify(), action)
    assert turn.ctx.staff is not None and turn.ctx.staff.id == "s-1"
    assert len(reached.turns) == 1


async def offered(h: Harness) -> list[str]:
    """Ana's Maya has a visit and Ana got its reminder with three buttons; their tokens."""
    await h.appointment("a-1", "p-maya", h.clock.now() + timedelta(hours=30))
    [reminder] = await h.run_reminders()
    return [b.token for b in reminder.buttons]


async def test_numbered_replies_turn_a_number_into_that_button(linked: Harness) -> None:
    tokens = await offered(linked)
    sms = text(ANA, "2", numbered_replies=True)  # as on SMS, where there are no buttons
    identify, _ = await run(linked, Identify(), sms)
    turn = Turn(sms, linked.clock.now(), linked.desk, unit_for(linked))  # type: ignore[arg-type]
    reached = Reached()
    async with turn.unit(turn):
        turn.ctx.guardian = identify.ctx.guardian
        await NumberedReplies()(turn, reached)
    [through] = reached.turns
    assert isinstance(through.event, ButtonPressed) and through.event.choice == tokens[1]
    assert through.ctx.event is through.event


async def test_numbered_replies_leave_other_text_and_other_channels_alone(
    linked: Harness,
) -> None:
    await offered(linked)
    for event in (text(ANA, "2"), text(STRANGER, "2", numbered_replies=True)):
        turn, reached = await run(linked, NumberedReplies(), event)
        assert reached.turns[0].event == event  # Telegram has buttons; a stranger has none


async def test_locale_is_the_guardians_for_the_rest_of_the_chain_only(linked: Harness) -> None:
    identify, _ = await run(linked, Identify(), text(CARMEN, "hola"))
    turn = Turn(text(CARMEN, "hola"), linked.clock.now(), linked.desk, unit_for(linked))  # type: ignore[arg-type]
    reached = Reached()
    async with turn.unit(turn):
        turn.ctx.guardian = identify.ctx.guardian
        await Locale()(turn, reached)
    assert reached.languages == ["es"]
    assert current_language.get() == "en"  # reset once the chain is through


async def test_locale_uses_the_apps_language_for_a_stranger_and_english_for_staff(
    staffed: Harness,
) -> None:
    _, reached = await run(staffed, Locale(), text(STRANGER, "hola", language_hint="es-MX"))
    assert reached.languages == ["es"]
    home = HomeOpened(channel="slack", address=slack(DANA), event_id="h1")
    _, reached = await run(staffed, Locale(), home)
    assert reached.languages == ["en"]


async def test_check_button_lets_through_only_the_guardians_own_token(linked: Harness) -> None:
    router = Router()

    @router.action("confirm")
    async def confirm(event: ButtonPressed, ctx: Context, token: object) -> None:
        raise AssertionError("not reached: the link is run alone")

    tokens = await offered(linked)
    carmen, _ = await run(linked, Identify(), text(CARMEN, "x"))
    ana, _ = await run(linked, Identify(), text(ANA, "x"))

    async def press(address: str, token: str, guardian: object) -> tuple[Turn, Reached]:
        event = ButtonPressed(channel="telegram", address=address, event_id="b1", choice=token)
        turn = Turn(event, linked.clock.now(), linked.desk, unit_for(linked))  # type: ignore[arg-type]
        reached = Reached()
        async with turn.unit(turn):
            turn.ctx.guardian = guardian  # type: ignore[assignment]
            await CheckButton(router)(turn, reached)
        return turn, reached

    own, reached = await press(ANA, tokens[0], ana.ctx.guardian)
    assert len(reached.turns) == 1 and own.token is not None and own.token.action == "confirm"
    for address, token, guardian in (
        (CARMEN, tokens[0], carmen.ctx.guardian),  # Ana's button, pressed by Carmen
        (ANA, "forged-token", ana.ctx.guardian),  # a token carebot never issued
        (ANA, tokens[1], ana.ctx.guardian),  # "cancel": an action this router does not know
    ):
        refused, reached = await press(address, token, guardian)
        assert reached.turns == [] and refused.token is None
        assert refused.ctx.notice is not None
        assert refused.ctx.notice.msgid == "Sorry, this button can't be used."


async def test_dispatch_hands_each_event_type_to_its_own_observer(staffed: Harness) -> None:
    router = Router()
    seen: list[str] = []

    @router.form("handoff")
    async def form(event: FormSubmitted, ctx: Context) -> None:
        seen.append(f"form {event.fields['note']}")

    @router.staff_command("today")
    async def today(event: StaffCommand, ctx: Context) -> None:
        seen.append("today")

    @router.staff_command("help")
    async def help_(event: StaffCommand, ctx: Context) -> None:
        seen.append("help")

    @router.thread()
    async def thread(event: ThreadReply, ctx: Context) -> None:
        seen.append(f"thread {event.thread}")

    @router.home()
    async def home(event: HomeOpened, ctx: Context) -> None:
        seen.append("home")

    user = slack(DANA)
    for event in (
        FormSubmitted(channel="slack", address=user, event_id="1", form="handoff",
                      fields={"note": "ok"}),
        FormSubmitted(channel="slack", address=user, event_id="2", form="unknown"),
        StaffCommand(channel="slack", address=user, event_id="3", text="/carebot today"),
        StaffCommand(channel="slack", address=user, event_id="4", text="/carebot dance"),
        ThreadReply(channel="slack", address=user, event_id="5", text="hi", thread="9.9"),
        HomeOpened(channel="slack", address=user, event_id="6"),
    ):  # fmt: skip
        await run(staffed, Dispatch(router), event)
    assert seen == ["form ok", "today", "help", "thread 9.9", "home"]
    action = StaffAction(channel="slack", address=user, event_id="7", action="nope")
    turn, _ = await run(staffed, Dispatch(router), action)
    # Dispatch alone: the language link, which writes it in the reader's language, is not run.
    assert [plain(s.text) for s in turn.ctx.shown] == ["Sorry, that button can't be used."]


def test_a_name_registered_twice_is_refused_when_routers_are_merged() -> None:
    first, second = Router(), Router()

    @first.staff_command("today")
    @second.staff_command("today")
    async def today(event: StaffCommand, ctx: Context) -> None:
        return None

    with pytest.raises(ValueError, match="today registered twice"):
        first.include(second)


def test_only_reading_events_run_on_a_snapshot() -> None:
    router = Router()

    @router.staff_command("today", read_only=True)
    @router.staff_command("invite")
    async def command(event: StaffCommand, ctx: Context) -> None:
        return None

    user = slack(DANA)
    assert router.reads_only(StaffCommand(channel="slack", address=user, event_id="1",
                                          text="/carebot today"))  # fmt: skip
    assert not router.reads_only(
        StaffCommand(channel="slack", address=user, event_id="2", text="/carebot invite g-1")
    )
    assert router.reads_only(HomeOpened(channel="slack", address=user, event_id="3"))
    assert not router.reads_only(text(ANA, "today"))
