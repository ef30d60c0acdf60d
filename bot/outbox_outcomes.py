"""What the outbox does with a send's answer: sent, a retry (a 429 waits exactly as long as the
platform said; a network or server error backs off), or the end of the message (the recipient
blocked the bot or opted out: everything queued to them too; a refusal; too many attempts).

The usual outcomes become a :class:`storage.outbox.Settlement`, written with the next messages'
``sending`` marks in one trip to the database; the rare final ones go through the repositories.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.channels.base import (
    DeliveryError,
    PartlySent,
    RecipientOptedOut,
    RecipientUnreachable,
    RetryLater,
    Sent,
    TemporaryFailure,
)
from bot.outbox_pace import Pace
from storage.models import OutboundMessage
from storage.outbox import Settlement
from storage.record import Record

log = logging.getLogger("bot.outbox")

MAX_ATTEMPTS = 8
MAX_BACKOFF_SECONDS = 600

#: A message that ends for good, and why.
Final = tuple[OutboundMessage, DeliveryError]


@dataclass
class DeliveryTally:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deferred: int = 0

    def add(self, other: DeliveryTally) -> None:
        for name in ("sent", "retried", "failed", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class SendResult:
    """A send's answer: what went out, or why not."""

    message: OutboundMessage
    sent: Sent | None = None
    error: DeliveryError | None = None
    #: When the answer came (the pace clock's seconds).
    answered_at: float = 0.0


def settlement(
    results: list[SendResult],
    turn: Settlement,
    pace: Pace,
    now: datetime,
    report: DeliveryTally,
    count_rate_limited: Callable[[str], None],
) -> list[Final]:
    """Add what the answers write to ``turn``, and apply what they do to the channel's pace (a
    429 pauses it for exactly its ``retry_after``, counted from when it came). Returns the
    messages that end for good (for :func:`record_final`)."""
    final: list[Final] = []
    for result in results:
        message, error = result.message, result.error
        if result.sent is not None:
            turn.sent.append((message.id, result.sent.provider_id, result.sent.parts))
            report.sent += 1
            pace.went_out()
            continue
        assert error is not None
        if isinstance(error, PartlySent):
            turn.parts.append((message.id, error.parts_sent, error.first_provider_id))
            error = error.cause
        if isinstance(error, RetryLater):
            wait = pace.rate_limited(error.retry_after, result.answered_at)
            turn.retries.append((message.id, now + timedelta(seconds=wait), "rate limited"))
            count_rate_limited(message.channel)
            log.warning("message %d rate limited, retry in %.2fs", message.id, wait)
            report.retried += 1
        elif isinstance(error, TemporaryFailure) and message.attempts + 1 < MAX_ATTEMPTS:
            delay = min(2 ** (message.attempts + 1), MAX_BACKOFF_SECONDS)
            turn.retries.append((message.id, now + timedelta(seconds=delay), str(error)[:200]))
            log.warning("message %d failed (%s), retry in %ds", message.id, error, delay)
            report.retried += 1
        else:
            final.append((message, error))
            report.failed += 1
    return final


async def record_final(record: Record, final: list[Final], now: datetime) -> list[int]:
    """Fail these messages (and, for a recipient unreachable, what is queued to them), inside
    the caller's transaction; returns every message id failed."""
    failed: list[int] = []
    for message, error in final:
        if isinstance(error, RecipientUnreachable):
            failed += await _unreachable(record, message, error, now)
            continue
        why = str(error)[:200] or type(error).__name__
        if isinstance(error, TemporaryFailure):
            why = f"gave up after {MAX_ATTEMPTS} attempts: {why}"
        await record.messages.mark_failed(message.id, why)
        log.error("message %d failed for good: %s", message.id, why)
        failed.append(message.id)
    return failed


async def _unreachable(
    record: Record, message: OutboundMessage, error: DeliveryError, now: datetime
) -> list[int]:
    """The recipient blocked the bot or opted out: this message and everything still queued
    to them fail; the identity is marked. Returns the failed message ids."""
    opted_out = isinstance(error, RecipientOptedOut)
    why = "recipient opted out" if opted_out else "recipient blocked the bot"
    if opted_out:
        await record.identities.opt_out_address(message.channel, message.address, now)
    else:
        await record.identities.mark_blocked(message.channel, message.address, now)
    await record.messages.mark_failed(message.id, why)
    others = await record.messages.fail_queued_to(message.channel, message.address, why)
    await record.audit.record(
        actor_type="system",
        actor_id="outbox",
        action="identity.opted_out" if opted_out else "identity.blocked",
        entity_type="message",
        entity_id=str(message.id),
        now=now,
    )
    log.warning("message %d: %s (%d more failed)", message.id, why, len(others))
    return [message.id, *others]
