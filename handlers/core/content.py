"""Staff-facing content as structure, not markup: each channel renders it in its own form.

Handlers build a :class:`Rich` from plain text (always literal: a family's words can never
become a mention or a link), emphasis, code, a mention of a staff member by their workspace id,
a call to everyone present, an icon by meaning (``emergency``, ``confirmed``...) and quotes of
what someone wrote. Slack's renderer (``bot/channels/slack_render.py``) turns it into mrkdwn;
:meth:`Rich.plain` is the same content without any markup (logs, tests, a plain channel).

    rich(icon("emergency"), " ", strong("Possible emergency"), " ", everyone())
    lines(rich(strong("Family:"), " Ana Rivera (sms)"), quote("Can we move Thursday?"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

#: What an icon means; each channel picks its own picture (or none) for it.
IconName = Literal[
    "emergency", "person", "confirmed", "waiting", "reschedule", "cancelled", "warning",
    "handoff", "claimed", "reassigned", "overdue",
]  # fmt: skip


@dataclass(frozen=True)
class Text:
    """Literal text (escaped by a renderer that has markup)."""

    text: str


@dataclass(frozen=True)
class Strong:
    inner: Rich


@dataclass(frozen=True)
class Emphasis:
    inner: Rich


@dataclass(frozen=True)
class Code:
    """An identifier shown as typed (``p-maya``)."""

    text: str


@dataclass(frozen=True)
class Mention:
    """A staff member, by their workspace user id (``name`` where they have none, or where
    the channel cannot mention)."""

    user_id: str | None
    name: str


@dataclass(frozen=True)
class Everyone:
    """Everyone present in the conversation (Slack's ``@here``)."""


@dataclass(frozen=True)
class Icon:
    name: IconName


@dataclass(frozen=True)
class Quote:
    """Someone's words, quoted as a block (on lines of their own)."""

    inner: Rich


Piece = Text | Strong | Emphasis | Code | Mention | Everyone | Icon | Quote


@dataclass(frozen=True)
class Rich:
    """A run of pieces; ``+`` joins runs (and plain strings, taken as literal text)."""

    pieces: tuple[Piece, ...] = ()

    def __add__(self, other: Rich | str) -> Rich:
        return Rich(self.pieces + rich(other).pieces)

    def __radd__(self, other: str) -> Rich:
        return Rich(rich(other).pieces + self.pieces)

    def __bool__(self) -> bool:
        return bool(self.pieces)

    def plain(self) -> str:
        """The content without markup: mentions as ``@name``, icons left out."""
        return render(self, PLAIN)


Content = Rich | str | Piece


def rich(*parts: Content) -> Rich:
    """Pieces, strings (literal text) and runs, one after another."""
    pieces: list[Piece] = []
    for part in parts:
        if isinstance(part, Rich):
            pieces.extend(part.pieces)
        elif isinstance(part, str):
            if part:
                pieces.append(Text(part))
        else:
            pieces.append(part)
    return Rich(tuple(pieces))


def strong(*parts: Content) -> Strong:
    return Strong(rich(*parts))


def em(*parts: Content) -> Emphasis:
    return Emphasis(rich(*parts))


def code(text: str) -> Code:
    return Code(text)


def icon(name: IconName) -> Icon:
    return Icon(name)


def everyone() -> Everyone:
    return Everyone()


def quote(*parts: Content) -> Quote:
    return Quote(rich(*parts))


def joined(separator: Content, items: Iterable[Content]) -> Rich:
    """The items with ``separator`` between them (", ", " · ", a line break...)."""
    out: list[Content] = []
    for index, item in enumerate(items):
        if index:
            out.append(separator)
        out.append(item)
    return rich(*out)


def lines(*rows: Content) -> Rich:
    """Rows on lines of their own (empty rows left out)."""
    return joined("\n", [row for row in rows if row])


@dataclass(frozen=True)
class Markup:
    """How a channel writes each piece (a renderer is one of these and :func:`render`)."""

    text: Callable[[str], str]
    strong: Callable[[str], str]
    emphasis: Callable[[str], str]
    code: Callable[[str], str]
    mention: Callable[[Mention], str]
    everyone: str
    icon: Callable[[IconName], str]
    quote: Callable[[str], str]


PLAIN = Markup(
    text=lambda text: text,
    strong=lambda inner: inner,
    emphasis=lambda inner: inner,
    code=lambda text: text,
    mention=lambda m: f"@{m.name}",
    everyone="@here",
    icon=lambda _name: "",
    quote=lambda inner: "\n".join("> " + line for line in inner.splitlines() or [""]),
)


def render(content: Content, markup: Markup) -> str:
    """``content`` written with ``markup``."""
    out: list[str] = []
    for piece in rich(content).pieces:
        match piece:
            case Text(text=text):
                out.append(markup.text(text))
            case Strong(inner=inner):
                out.append(markup.strong(render(inner, markup)))
            case Emphasis(inner=inner):
                out.append(markup.emphasis(render(inner, markup)))
            case Code(text=text):
                out.append(markup.code(text))
            case Mention():
                out.append(markup.mention(piece))
            case Everyone():
                out.append(markup.everyone)
            case Icon(name=name):
                out.append(markup.icon(name))
            case Quote(inner=inner):
                out.append(markup.quote(render(inner, markup)))
    return "".join(out)


def plain(content: Content) -> str:
    return render(content, PLAIN)
