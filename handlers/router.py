"""Routing an event to the handler that owns it. Decorators only register."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from handlers.context import Context
from handlers.events import Inbound
from storage.models import ActionToken

Handler = Callable[[Inbound, Context], Awaitable[None]]
ActionHandler = Callable[[Inbound, Context, ActionToken], Awaitable[None]]
#: A text handler returns True if the text was its to handle.
TextHandler = Callable[[Inbound, Context], Awaitable[bool]]


class Router:
    """One per handler module: commands, button actions, and a fallback for plain text.

    ``linked_only`` handlers run only for a verified guardian; the pipeline answers everyone
    else before any of their data is read.
    """

    def __init__(self) -> None:
        self.commands: dict[str, tuple[Handler, bool]] = {}
        self.actions: dict[str, ActionHandler] = {}
        self.text_handlers: list[tuple[TextHandler, bool]] = []
        # The staff side: /carebot <subcommand>, staff buttons, submitted forms, thread replies.
        self.staff_commands: dict[str, Handler] = {}
        self.staff_actions: dict[str, Handler] = {}
        self.forms: dict[str, Handler] = {}
        self.thread_handlers: list[Handler] = []
        self.home_handlers: list[Handler] = []
        #: Staff commands that only read the record: they run on a read-only snapshot.
        self.read_only_commands: set[str] = set()
        self.read_only_actions: set[str] = set()

    def command(self, name: str, *, linked_only: bool = True) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.commands[name] = (handler, linked_only)
            return handler

        return register

    def action(self, name: str) -> Callable[[ActionHandler], ActionHandler]:
        """Button actions are always for a verified guardian who was issued the token."""

        def register(handler: ActionHandler) -> ActionHandler:
            self.actions[name] = handler
            return handler

        return register

    def text(self, *, linked_only: bool = True) -> Callable[[TextHandler], TextHandler]:
        def register(handler: TextHandler) -> TextHandler:
            self.text_handlers.append((handler, linked_only))
            return handler

        return register

    def staff_command(self, name: str, *, read_only: bool = False) -> Callable[[Handler], Handler]:
        """``/carebot <name> ...``, for mapped staff only. A ``read_only`` command changes
        nothing in the record; it reads a snapshot and never waits for the writer."""

        def register(handler: Handler) -> Handler:
            self.staff_commands[name] = handler
            if read_only:
                self.read_only_commands.add(name)
            return handler

        return register

    def staff_action(self, name: str, *, read_only: bool = False) -> Callable[[Handler], Handler]:
        """A staff button; a ``read_only`` one (another page of a view) only reads, like a
        read-only command."""

        def register(handler: Handler) -> Handler:
            self.staff_actions[name] = handler
            if read_only:
                self.read_only_actions.add(name)
            return handler

        return register

    def form(self, name: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.forms[name] = handler
            return handler

        return register

    def thread(self) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.thread_handlers.append(handler)
            return handler

        return register

    def home(self) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.home_handlers.append(handler)
            return handler

        return register

    def staff_command_name(self, text: str | None) -> str:
        """The subcommand a staff member's text asks for (``help`` when there is none)."""
        words = (text or "").split()
        if words and words[0].startswith("/"):
            words = words[1:]
        name = words[0].lower() if words else "help"
        return name if name in self.staff_commands else "help"

    def reads_only(self, event: Inbound) -> bool:
        """Whether a staff event only reads the record (a read-only command, the home screen)."""
        if not event.staff or event.form or event.thread:
            return False
        if event.action:
            return event.action in self.read_only_actions
        return event.home or self.staff_command_name(event.text) in self.read_only_commands

    def include(self, other: Router) -> None:
        """Merge another module's router into this one (composition in bot/app.py)."""
        for name, entry in other.commands.items():
            if name in self.commands:
                raise ValueError(f"command /{name} registered twice")
            self.commands[name] = entry
        for name, action in other.actions.items():
            if name in self.actions:
                raise ValueError(f"action {name} registered twice")
            self.actions[name] = action
        self.text_handlers.extend(other.text_handlers)
        for table, theirs in (
            (self.staff_commands, other.staff_commands),
            (self.staff_actions, other.staff_actions),
            (self.forms, other.forms),
        ):
            for name, handler in theirs.items():
                if name in table:
                    raise ValueError(f"staff handler {name} registered twice")
                table[name] = handler
        self.thread_handlers.extend(other.thread_handlers)
        self.home_handlers.extend(other.home_handlers)
        self.read_only_commands |= other.read_only_commands
        self.read_only_actions |= other.read_only_actions
