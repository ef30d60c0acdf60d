"""Staff-facing content as structure, not markup: each channel renders it in its own form.

Handlers build a :class:`Rich` from plain text (always literal: a family's words can never
become a mention or a link), emphasis, code, a mention of a staff member by their workspace id,
a call to everyone present, an icon by meaning (``emergency``, ``confirmed``...), quotes of
what someone wrote, and carebot's own words as translatable messages (``_("Family:")``, whose
placeholders may be content too) and instants (:class:`~handlers.core.texts.When`).
:func:`localize` writes those in the reader's language (the staff member's, or the staff
channel's); a renderer then sees only literal pieces. Slack's renderer
(``bot/channels/slack_render.py``) turns it into mrkdwn;
:meth:`Rich.plain` is the same content without any markup (logs, tests, a plain channel).

    rich(icon("emergency"), " ", strong(_("Possible emergency")), " ", everyone())
    lines(rich(strong(_("Family:")), " Ana Rivera (sms)"), quote("Can we move Thursday?"))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from string import Formatter
from typing import Literal

from handlers.core.texts import Msg, Plural, When, Words

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


@dataclass(frozen=True)
class Said:
    """carebot's own words: a translatable message, its placeholders text, numbers, instants,
    messages or content (a family's words in one stay literal)."""

    msg: Msg


@dataclass(frozen=True)
class Moment:
    """An instant, written in the reader's language and the practice's timezone."""

    when: When


Piece = Text | Strong | Emphasis | Code | Mention | Everyone | Icon | Quote | Said | Moment


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


Content = Rich | str | Piece | Msg | When


def rich(*parts: Content) -> Rich:
    """Pieces, strings (literal text), messages, instants and runs, one after another."""
    pieces: list[Piece] = []
    for part in parts:
        if isinstance(part, Rich):
            pieces.extend(part.pieces)
        elif isinstance(part, str):
            if part:
                pieces.append(Text(part))
        elif isinstance(part, Msg):
            pieces.append(Said(part))
        elif isinstance(part, When):
            pieces.append(Moment(part))
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


class SourceWords:
    """The messages as written in the source (English), instants as ISO 8601: what
    unlocalized content shows (a log line, a test's plain text)."""

    def text(self, msg: Msg) -> str:
        if isinstance(msg, Plural) and msg.count != 1:
            return msg.plural
        return msg.msgid

    def moment(self, when: When) -> str:
        return when.instant.isoformat(timespec="minutes")


SOURCE_WORDS = SourceWords()
_FIELDS = Formatter()


def localize(content: Content, words: Words) -> Rich:
    """``content`` with carebot's words and instants written in ``words``'s language: only
    literal pieces are left for a renderer."""
    out: list[Piece] = []
    for piece in rich(content).pieces:
        match piece:
            case Said(msg=msg):
                out.extend(_said(msg, words))
            case Moment(when=when):
                out.append(Text(words.moment(when)))
            case Strong(inner=inner):
                out.append(Strong(localize(inner, words)))
            case Emphasis(inner=inner):
                out.append(Emphasis(localize(inner, words)))
            case Quote(inner=inner):
                out.append(Quote(localize(inner, words)))
            case _:
                out.append(piece)
    return Rich(tuple(out))


def _said(msg: Msg, words: Words) -> list[Piece]:
    """A message's text, its placeholders filled with their (localized) values."""
    out: list[Piece] = []
    for literal, name, spec, _conversion in _FIELDS.parse(words.text(msg)):
        if literal:
            out.append(Text(literal))
        if name is None:
            continue
        value = msg.params[name]
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append(Text(format(value, spec or "")))
        elif isinstance(value, Rich | str | Msg | When | Piece):
            out.extend(localize(value, words).pieces)
        else:
            out.append(Text(str(value)))
    return out


def render(content: Content, markup: Markup) -> str:
    """``content`` written with ``markup`` (carebot's words in English unless localized)."""
    out: list[str] = []
    for piece in localize(content, SOURCE_WORDS).pieces:
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
            case Said() | Moment():  # localized above
                pass
    return "".join(out)


def plain(content: Content) -> str:
    return render(content, PLAIN)
