"""Prometheus metrics of the notifications service.

Messages by status and channel are counted in the database when scraped, so
every replica reports the same truth; attempts and delivery latency are
observed by the dispatcher that made them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class NotificationMetrics:
    """Counters and histograms the dispatcher updates."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.attempts = Counter(
            "notification_attempts_total",
            "Delivery attempts by channel and outcome (sent, failed, dead).",
            ["channel", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "notification_delivery_seconds",
            "Time from a message's creation to its delivery, by channel.",
            ["channel"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600),
            registry=registry,
        )


class OutboxCollector(Collector):
    """`notification_messages{status,channel}`, counted in the outbox on each scrape."""

    def __init__(self, counts: Callable[[], dict[tuple[str, str], int]]) -> None:
        self.counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the gauge family."""
        family = GaugeMetricFamily(
            "notification_messages",
            "Messages in the outbox by status and channel.",
            labels=["status", "channel"],
        )
        for (status, channel), count in sorted(self.counts().items()):
            family.add_metric([status, channel], count)
        yield family
