"""Counters for ``GET /metrics``, with prometheus_client (the reference client: correct text
format, escaping and ``_total``/``_created`` series without hand-written output).

Each carebot keeps its own registry (no process-wide singleton: the tests run several bots in
one process, each counting only its own work).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    """One carebot's counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.inbound = Counter(
            "carebot_inbound_events",
            "Inbound events received, by channel.",
            ["channel", "duplicate"],
            registry=self.registry,
        )
        self.refused = Counter(
            "carebot_refused_requests",
            "Requests refused at the edge (too large, not authentic), by channel.",
            ["channel", "why"],
            registry=self.registry,
        )
        self.unusable = Counter(
            "carebot_unusable_requests",
            "Authentic requests carebot could not use (kept in unusable_request), by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.outbound = Counter(
            "carebot_outbound_messages",
            "Outbound delivery outcomes, by channel.",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.channel_up = Gauge(
            "carebot_channel_up",
            "1 while a channel is started, 0 while it is down (retrying) or stopped.",
            ["channel"],
            registry=self.registry,
        )

        self.writer_transaction = Histogram(
            "carebot_writer_transaction_seconds",
            "How long each write transaction held the record's only writer.",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=self.registry,
        )
        self.reminders_due = Gauge(
            "carebot_reminders_due",
            "Pending reminders whose time has come, at the last dispatch.",
            registry=self.registry,
        )
        self.reminders_late = Gauge(
            "carebot_reminders_late",
            "Of those, how many are more than five minutes past their time.",
            registry=self.registry,
        )

    def reminder_backlog(self, due: int, late: int) -> None:
        self.reminders_due.set(due)
        self.reminders_late.set(late)

    def count_inbound(self, channel: str, *, duplicate: bool) -> None:
        self.inbound.labels(channel, str(duplicate).lower()).inc()

    def count_refused(self, channel: str, why: str) -> None:
        self.refused.labels(channel, why).inc()

    def count_unusable(self, channel: str) -> None:
        self.unusable.labels(channel).inc()

    def count_outbound(self, channel: str, outcome: str, count: int = 1) -> None:
        """``outcome``: sent, retried, failed, deferred, resent (after a crash), found."""
        if count:
            self.outbound.labels(channel, outcome).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
