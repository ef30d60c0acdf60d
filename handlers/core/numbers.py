"""What an answer by number or by word means on a channel without buttons (the chain's
:class:`~handlers.core.chain.NumberedReplies` reads it; ``handlers/family/numbered.py``
answers what it cannot place)."""

from __future__ import annotations

import re
import unicodedata

#: Words that stand for commands where typing "/next" is not natural (text messages).
WORD_COMMANDS = {
    "next": "/next", "appointments": "/next", "proximas": "/next", "citas": "/next",
    "language": "/language", "idioma": "/language", "english": "/language en",
    "espanol": "/language es",
}  # fmt: skip


def word_command(text: str | None) -> str | None:
    """The command a bare word on a text channel stands for ("NEXT" -> "/next"), if any."""
    decomposed = unicodedata.normalize("NFKD", (text or "").casefold())
    word = " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())
    return WORD_COMMANDS.get(word.strip(".!?"))


#: A numbered reply: "2", " 2 ", "2."; for one of several visits "1C", "2 x", "1R".
NUMBER = re.compile(r"\s*(\d{1,2})\s*([cxrCXR])?\s*\.?\s*")
