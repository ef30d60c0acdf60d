"""Counters for ``GET /metrics``, with prometheus_client (the reference client: correct text
format, escaping and ``_total``/``_created`` series without hand-written output).

Each carebot keeps its own registry (no process-wide singleton: the tests run several bots in
one process, each counting only its own work).
"""

from __future__ import annotations

from typing import Any

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
        # The outbox, updated by each round of a channel.
        self.queue_depth = Gauge(
            "carebot_outbox_queued",
            "Messages queued on a channel (due or held for later), at its last round.",
            ["channel"],
            registry=self.registry,
        )
        self.oldest_due = Gauge(
            "carebot_outbox_oldest_due_seconds",
            "How long the oldest queued message that is due has waited past its time, at the"
            " channel's last round (0 when none is due).",
            ["channel"],
            registry=self.registry,
        )
        self.sends = Counter(
            "carebot_outbox_sends",
            "Calls to send a message on the platform (one per attempt; its parts included).",
            ["channel"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "carebot_outbox_rate_limited",
            "Sends the platform answered 429 (too many requests), by channel.",
            ["channel"],
            registry=self.registry,
        )
        self.send_seconds = Histogram(
            "carebot_outbox_send_seconds",
            "How long a send took at the platform (every part of the message), by channel.",
            ["channel"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
            registry=self.registry,
        )

        self._send_series: dict[str, tuple[Any, Any]] = {}

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

    def observe_send(self, channel: str, seconds: float) -> None:
        """One send finished (whatever its outcome) after ``seconds``."""
        series = self._send_series.get(channel)
        if series is None:  # labels() takes a lock and builds a key: once per channel
            series = self._send_series[channel] = (
                self.sends.labels(channel),
                self.send_seconds.labels(channel),
            )
        series[0].inc()
        series[1].observe(seconds)

    def count_rate_limited(self, channel: str) -> None:
        self.rate_limited.labels(channel).inc()

    def set_queue(self, channel: str, depth: int, oldest_due_seconds: float) -> None:
        self.queue_depth.labels(channel).set(depth)
        self.oldest_due.labels(channel).set(oldest_due_seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
