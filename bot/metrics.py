"""Counters for ``GET /metrics`` in the Prometheus text format."""

from __future__ import annotations

from collections import Counter

from bot.outbox import DeliveryReport


class Metrics:
    """In-process counters; each process reports its own."""

    def __init__(self) -> None:
        self.inbound: Counter[tuple[str, bool]] = Counter()

    def count_inbound(self, channel: str, *, duplicate: bool) -> None:
        self.inbound[(channel, duplicate)] += 1

    def render(self, delivery: DeliveryReport) -> str:
        lines = [
            "# HELP carebot_inbound_events_total Inbound events received, by channel.",
            "# TYPE carebot_inbound_events_total counter",
        ]
        for (channel, duplicate), count in sorted(self.inbound.items()):
            lines.append(
                f'carebot_inbound_events_total{{channel="{channel}",'
                f'duplicate="{str(duplicate).lower()}"}} {count}'
            )
        lines += [
            "# HELP carebot_outbound_messages_total Outbound delivery outcomes.",
            "# TYPE carebot_outbound_messages_total counter",
        ]
        for outcome in ("sent", "retried", "failed"):
            lines.append(
                f'carebot_outbound_messages_total{{outcome="{outcome}"}}'
                f" {getattr(delivery, outcome)}"
            )
        return "\n".join(lines) + "\n"
