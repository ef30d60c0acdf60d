"""After a crash: messages a previous process left ``sending`` are resolved before anything else
is sent (the policy is in bot/outbox.py's docstring and the README's "Delivery after a crash").

Where the channel's provider can say whether it has a message (Twilio's message list), it is
asked: found, the row is marked sent (``recovery = 'found'``) and not sent again; not found, or
the provider cannot be asked, the row is queued again and flagged (``recovery = 'resent'``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.channels.base import DeliveryError, LooksUpSent
from storage.clock import Clock
from storage.db import Database
from storage.record import Record

log = logging.getLogger("bot.outbox")

#: Counts an outcome for the metrics: (channel, outcome, how many).
CountOutcome = Callable[[str, str, int], None]


@dataclass
class RecoveryReport:
    """What start-up found of the messages a crash left in flight."""

    unknown: int = 0
    found: int = 0
    resent: int = 0


async def recover(
    db: Database,
    clock: Clock,
    finders: Mapping[str, LooksUpSent],
    count: CountOutcome,
    batch: int,
) -> RecoveryReport:
    """Turn ``sending`` rows into ``unknown`` ones, then resolve them ``batch`` at a time;
    ``finders`` are the started channels whose provider can be asked."""
    report = RecoveryReport()
    now = clock.now()
    async with db.transaction() as conn:
        report.unknown = await Record(conn).outbox.in_flight_to_unknown()
    while True:
        async with db.query() as conn:
            unknown = await Record(conn).outbox.unknown(batch)
        if not unknown:
            break
        found: dict[int, str] = {}
        for message in unknown:
            finder = finders.get(message.channel)
            if finder is None:
                continue
            try:
                provider_id = await finder.find_sent(message)
            except DeliveryError as error:
                log.warning("message %d: could not look it up (%s)", message.id, error)
                provider_id = None
            if provider_id is not None:
                found[message.id] = provider_id
        async with db.transaction() as conn:
            outbox = Record(conn).outbox
            for message in unknown:
                if message.id in found:
                    await outbox.found_at_provider(message.id, found[message.id], now)
                    count(message.channel, "found", 1)
                else:
                    await outbox.send_again(message.id, now)
                    count(message.channel, "resent", 1)
        report.found += len(found)
        report.resent += len(unknown) - len(found)
    if report.unknown:
        log.warning(
            "outbox: %d message(s) were in flight when carebot stopped: %d found at the"
            " provider, %d sent again (flagged resent: possible duplicates)",
            report.unknown,
            report.found,
            report.resent,
        )
    return report
