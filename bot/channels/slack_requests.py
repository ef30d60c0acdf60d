"""What arrives from Slack, before and around Bolt: the signature over the raw bytes, Bolt's log
lines without what they quote, and listeners that survive a request of an unexpected shape.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from slack_bolt.async_app import AsyncAck

from bot.edge import describe_failure

log = logging.getLogger("bot.channels.slack")

#: A request signed longer ago than this (seconds) is refused, as Slack's documentation asks.
MAX_SIGNATURE_AGE = 5 * 60


class NotAuthentic(Exception):
    """A request on ``/slack/events`` that Slack did not sign (or signed more than five
    minutes ago): refused with 401 before anything in its body is read."""


class QuietBolt(logging.Filter):
    """Bolt's log lines, without what they quote: Bolt logs a refused request with its whole
    body (at INFO) and an unhandled one with parts of it; carebot's logs carry ids, never text.
    What remains is the level, where it was logged, and an exception's type and place."""

    def filter(self, record: logging.LogRecord) -> bool:
        what = f"slack-bolt {record.levelname.lower()} in {record.module}.{record.funcName}"
        if record.exc_info and record.exc_info[1] is not None:
            what += f": {describe_failure(record.exc_info[1])}"
        record.msg, record.args = what, None
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def bolt_logger() -> logging.Logger:
    """The logger every Bolt component copies its level and filters from."""
    logger = logging.getLogger("carebot.slack.bolt")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, QuietBolt) for f in logger.filters):
        logger.addFilter(QuietBolt())
    return logger


def signed_by_slack(secret: bytes | None, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether Slack signed these raw bytes less than five minutes ago (checked before
    anything decodes or parses the body).

    The HMAC is taken over the bytes as received: slack_sdk's ``SignatureVerifier`` decodes
    them as UTF-8 first, so a body Slack signed that is not UTF-8 would read as forged
    (401, and Slack retries it) instead of authentic but unusable.
    """
    if secret is None:
        return False
    lowered = {key.lower(): value for key, value in headers.items()}
    timestamp = lowered.get("x-slack-request-timestamp", "")
    signature = lowered.get("x-slack-signature", "")
    if not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    if len(timestamp) > 12 or abs(time.time() - int(timestamp)) > MAX_SIGNATURE_AGE:
        return False
    signed = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


async def acknowledge(ack: AsyncAck) -> None:
    await ack()


async def no_options(ack: AsyncAck) -> None:
    await ack(options=[])


async def ignore() -> None:
    """An event carebot does not act on (Bolt acknowledges events itself)."""


Listener = Callable[[AsyncAck, dict[str, Any]], Awaitable[None]]


def shape_checked(listener: Listener) -> Listener:
    """A listener that survives a signed request of an unexpected shape (no user, no view):
    acknowledged at once and logged by the failure's type. (Bolt answers a listener that fails
    after its ack only when Slack's three seconds are up, so Slack would send it again.)"""

    async def checked(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            await listener(ack, body)
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            log.warning("slack request of an unexpected shape (%s)", describe_failure(error))
            if ack.response is None:
                await ack()

    return checked
