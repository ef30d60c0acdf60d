"""Counters for ``GET /metrics``, with prometheus_client (the reference client: correct text
format, escaping and ``_total``/``_created`` series without hand-written output).

Each carebot keeps its own registry (no process-wide singleton: the tests run several bots in
one process, each counting only its own work).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


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
