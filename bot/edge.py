"""The edge of every webhook: a size limit before the body is read, and what a failure may say.

Every endpoint reads its body through :func:`read_body`, which refuses a declared
``Content-Length`` past the limit without reading anything, and stops reading a body without
one as soon as it passes the limit. A failure while handling an authentic request is described
by :func:`describe_failure`: the exception's type and where it happened in carebot's own code,
never its message (a pydantic or database error can quote the data it choked on).
"""

from __future__ import annotations

import sqlite3
import traceback
from pathlib import Path

from starlette.requests import ClientDisconnect, Request

#: The largest body any endpoint reads (a Slack form submission is the largest the platforms
#: send: a few kilobytes; Telegram updates and Twilio forms are smaller).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

_OWN = ("bot", "handlers", "storage")


class BodyTooLarge(Exception):
    """The request's body is past the limit (answer 413; nothing more is read)."""


class BodyUnreadable(Exception):
    """The client went away before its body was read, or declared a nonsense length."""


def declared_size(request: Request) -> int:
    """The body size the request declares (0 if it declares none).

    Raises:
        BodyUnreadable: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is None:
        return 0
    if not declared.strip().isdigit():
        raise BodyUnreadable("bad Content-Length")
    return int(declared)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, if it is at most ``limit`` bytes.

    Raises:
        BodyTooLarge: the declared or actual size is past ``limit`` (the rest is not read).
        BodyUnreadable: the client disconnected, or ``Content-Length`` is not a number.
    """
    declared = declared_size(request)
    if declared > limit:
        raise BodyTooLarge(declared)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(size)
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyUnreadable("client disconnected") from None
    return b"".join(chunks)


def is_transient(error: BaseException) -> bool:
    """Whether a failure may pass if the platform sends the request again (the database was
    busy or unreachable), rather than being a property of the request."""
    if isinstance(error, sqlite3.OperationalError):
        return True
    return isinstance(error, ConnectionError | TimeoutError)


def describe_failure(error: BaseException) -> str:
    """``TypeError in handlers/family/answers.py:88``: the type, and the innermost frame of
    carebot's own code; never the exception's message."""
    where = ""
    for frame in traceback.extract_tb(error.__traceback__):
        parts = Path(frame.filename).parts
        for index in range(len(parts) - 1, -1, -1):
            if parts[index] in _OWN:
                where = f" in {'/'.join(parts[index:])}:{frame.lineno}"
                break
    return f"{type(error).__name__}{where}"
