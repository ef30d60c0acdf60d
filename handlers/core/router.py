"""Routing an event to the handler that owns it: one observer per event type.

A handler module makes a :class:`Router` and registers on it with decorators that say which
event type the handler takes (``@router.text()`` takes a :class:`~handlers.core.events.FamilyText`,
``@router.form("handoff")`` a :class:`~handlers.core.events.FormSubmitted`...). The composition root
merges the modules' routers; :meth:`Router.dispatch` picks the observer by the event's type,
and the observer picks the handler (by command name, action, form id, or the first text handler
that takes the text). Decorators only register.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

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
from handlers.core.texts import _, not_linked
from storage.models import ActionToken

if TYPE_CHECKING:
    from handlers.core.context import Context

log = logging.getLogger(__name__)

CommandHandler = Callable[[FamilyText, "Context"], Awaitable[None]]
#: A text handler returns True if the text was its to handle.
TextHandler = Callable[[FamilyText, "Context"], Awaitable[bool]]
ActionHandler = Callable[[ButtonPressed, "Context", ActionToken], Awaitable[None]]
StaffCommandHandler = Callable[[StaffCommand, "Context"], Awaitable[None]]
StaffActionHandler = Callable[[StaffAction, "Context"], Awaitable[None]]
FormHandler = Callable[[FormSubmitted, "Context"], Awaitable[None]]
ThreadHandler = Callable[[ThreadReply, "Context"], Awaitable[None]]
HomeHandler = Callable[[HomeOpened, "Context"], Awaitable[None]]


T = TypeVar("T")
E = TypeVar("E")


def _merge(mine: dict[str, T], theirs: dict[str, T], what: str) -> None:
    for name, handler in theirs.items():
        if name in mine:
            raise ValueError(f"{what} {name} registered twice")
        mine[name] = handler


class FamilyTextObserver:
    """A family's text: a ``/command`` goes to its command (``linked_only`` ones only for a
    verified guardian; the not-linked answer for anyone else), any other text to the first
    text handler that takes it (in registration order: carrier keywords and emergencies
    first), else the not-linked answer."""

    def __init__(self) -> None:
        self.commands: dict[str, tuple[CommandHandler, bool]] = {}
        self.handlers: list[tuple[TextHandler, bool]] = []

    async def notify(self, event: FamilyText, ctx: Context) -> None:
        command = event.command()
        if command is not None:
            entry = self.commands.get(command[0])
            if entry is not None and (ctx.guardian or not entry[1]):
                await entry[0](event, ctx)
            elif ctx.guardian is None:
                await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))
            else:
                await ctx.reply(
                    _("Sorry, I don't know that command. Send /help to see what I can do.")
                )
            return
        for handler, linked_only in self.handlers:
            if linked_only and ctx.guardian is None:
                continue
            if await handler(event, ctx):
                return
        await ctx.reply(not_linked(ctx.practice.name, ctx.practice.phone))

    def include(self, other: FamilyTextObserver) -> None:
        for name, entry in other.commands.items():
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice")
            self.commands[name] = entry
        self.handlers.extend(other.handlers)


class ButtonObserver:
    """A family's button press, by the action its token was issued for. The chain has already
    checked that the token exists and was issued to this guardian."""

    def __init__(self) -> None:
        self.actions: dict[str, ActionHandler] = {}

    async def notify(self, event: ButtonPressed, ctx: Context, token: ActionToken) -> None:
        await self.actions[token.action](event, ctx, token)

    def include(self, other: ButtonObserver) -> None:
        _merge(self.actions, other.actions, "action")


class StaffCommandObserver:
    """``/carebot <name>``; anything it does not know gets ``help``."""

    def __init__(self) -> None:
        self.commands: dict[str, StaffCommandHandler] = {}
        #: Commands that only read the record: they run on a read-only snapshot.
        self.read_only: set[str] = set()

    def name(self, text: str | None) -> str:
        """The subcommand a staff member's text asks for (``help`` when there is none)."""
        words = (text or "").split()
        if words and words[0].startswith("/"):
            words = words[1:]
        name = words[0].lower() if words else "help"
        return name if name in self.commands else "help"

    async def notify(self, event: StaffCommand, ctx: Context) -> None:
        found = self.commands.get(self.name(event.text))
        if found is not None:
            await found(event, ctx)

    def include(self, other: StaffCommandObserver) -> None:
        _merge(self.commands, other.commands, "staff command")
        self.read_only |= other.read_only


class StaffActionObserver:
    """A staff button, by its action id; an unknown one is answered, not ignored."""

    def __init__(self) -> None:
        self.actions: dict[str, StaffActionHandler] = {}
        self.read_only: set[str] = set()

    async def notify(self, event: StaffAction, ctx: Context) -> None:
        found = self.actions.get(event.action)
        if found is None:
            ctx.show(_("Sorry, that button can't be used."))
        else:
            await found(event, ctx)

    def include(self, other: StaffActionObserver) -> None:
        _merge(self.actions, other.actions, "staff action")
        self.read_only |= other.read_only


class FormObserver:
    """A submitted form, by its id (an unknown form is dropped: carebot opened every form)."""

    def __init__(self) -> None:
        self.forms: dict[str, FormHandler] = {}

    async def notify(self, event: FormSubmitted, ctx: Context) -> None:
        found = self.forms.get(event.form)
        if found is not None:
            await found(event, ctx)

    def include(self, other: FormObserver) -> None:
        _merge(self.forms, other.forms, "form")


class Every(Generic[E]):
    """Events every registered handler sees (thread replies, the home screen)."""

    def __init__(self) -> None:
        self.handlers: list[Callable[[E, Context], Awaitable[None]]] = []

    async def notify(self, event: E, ctx: Context) -> None:
        for handler in self.handlers:
            await handler(event, ctx)

    def include(self, other: Every[E]) -> None:
        self.handlers.extend(other.handlers)


class Router:
    """One per handler module; the composition root merges them with :meth:`include`."""

    def __init__(self) -> None:
        self.family_text = FamilyTextObserver()
        self.buttons = ButtonObserver()
        self.staff_commands = StaffCommandObserver()
        self.staff_actions = StaffActionObserver()
        self.forms = FormObserver()
        self.threads: Every[ThreadReply] = Every()
        self.homes: Every[HomeOpened] = Every()

    # -- registering -------------------------------------------------------------------------

    def command(
        self, name: str, *, linked_only: bool = True
    ) -> Callable[[CommandHandler], CommandHandler]:
        """A family's ``/name``; ``linked_only``: for a verified guardian only."""

        def register(handler: CommandHandler) -> CommandHandler:
            self.family_text.commands[name] = (handler, linked_only)
            return handler

        return register

    def text(self, *, linked_only: bool = True) -> Callable[[TextHandler], TextHandler]:
        """A family's text; ``linked_only`` handlers run only for a verified guardian, so
        no one else's data is read before the not-linked answer."""

        def register(handler: TextHandler) -> TextHandler:
            self.family_text.handlers.append((handler, linked_only))
            return handler

        return register

    def action(self, name: str) -> Callable[[ActionHandler], ActionHandler]:
        """A family's button: always for a verified guardian who was issued the token."""

        def register(handler: ActionHandler) -> ActionHandler:
            self.buttons.actions[name] = handler
            return handler

        return register

    def staff_command(
        self, name: str, *, read_only: bool = False
    ) -> Callable[[StaffCommandHandler], StaffCommandHandler]:
        """``/carebot <name> ...``, for mapped staff only. A ``read_only`` command changes
        nothing in the record; it reads a snapshot and never waits for the writer."""

        def register(handler: StaffCommandHandler) -> StaffCommandHandler:
            self.staff_commands.commands[name] = handler
            if read_only:
                self.staff_commands.read_only.add(name)
            return handler

        return register

    def staff_action(
        self, name: str, *, read_only: bool = False
    ) -> Callable[[StaffActionHandler], StaffActionHandler]:
        """A staff button; a ``read_only`` one (another page of a view) only reads, like a
        read-only command."""

        def register(handler: StaffActionHandler) -> StaffActionHandler:
            self.staff_actions.actions[name] = handler
            if read_only:
                self.staff_actions.read_only.add(name)
            return handler

        return register

    def form(self, name: str) -> Callable[[FormHandler], FormHandler]:
        def register(handler: FormHandler) -> FormHandler:
            self.forms.forms[name] = handler
            return handler

        return register

    def thread(self) -> Callable[[ThreadHandler], ThreadHandler]:
        def register(handler: ThreadHandler) -> ThreadHandler:
            self.threads.handlers.append(handler)
            return handler

        return register

    def home(self) -> Callable[[HomeHandler], HomeHandler]:
        def register(handler: HomeHandler) -> HomeHandler:
            self.homes.handlers.append(handler)
            return handler

        return register

    def include(self, other: Router) -> None:
        """Merge another module's router into this one (composition in bot/app.py)."""
        self.family_text.include(other.family_text)
        self.buttons.include(other.buttons)
        self.staff_commands.include(other.staff_commands)
        self.staff_actions.include(other.staff_actions)
        self.forms.include(other.forms)
        self.threads.include(other.threads)
        self.homes.include(other.homes)

    # -- dispatching -------------------------------------------------------------------------

    def reads_only(self, event: Inbound) -> bool:
        """Whether an event only reads the record (a read-only command or page, the home
        screen): it is answered from a snapshot, never queued behind the writer."""
        match event:
            case StaffCommand():
                return self.staff_commands.name(event.text) in self.staff_commands.read_only
            case StaffAction():
                return event.action in self.staff_actions.read_only
            case HomeOpened():
                return True
            case _:
                return False

    def knows_action(self, action: str) -> bool:
        return action in self.buttons.actions

    async def dispatch(self, event: Inbound, ctx: Context, token: ActionToken | None) -> None:
        """Hand the event to its type's observer (``token``: a pressed button's, checked)."""
        match event:
            case FamilyText():
                await self.family_text.notify(event, ctx)
            case ButtonPressed():
                assert token is not None, "the chain checks a button's token before dispatch"
                await self.buttons.notify(event, ctx, token)
            case StaffCommand():
                await self.staff_commands.notify(event, ctx)
            case StaffAction():
                await self.staff_actions.notify(event, ctx)
            case FormSubmitted():
                await self.forms.notify(event, ctx)
            case ThreadReply():
                await self.threads.notify(event, ctx)
            case HomeOpened():
                await self.homes.notify(event, ctx)
