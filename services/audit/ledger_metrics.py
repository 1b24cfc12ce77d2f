"""The ledger's own figures on `/metrics`, read from the database on each scrape.

- `audit_ledger_entries`: entries in the ledger (the tree size);
- `audit_checkpoint_tree_size`: entries the latest signed checkpoint covers;
- `audit_entries_unsigned`: entries no checkpoint covers yet;
- `audit_checkpoint_age_seconds`: time since the latest checkpoint was signed.

Read at scrape time rather than kept in gauges, so every replica, the one
consuming and the standbys, reports the same database truth. A checkpoint is
signed only when the ledger has grown, so an old checkpoint alone is no
fault: the alert rules pair the age with unsigned entries.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from services.audit.checkpoints import CheckpointLog
from services.audit.ledger import Ledger


class LedgerCollector(Collector):
    """Ledger size, checkpoint coverage and checkpoint age, per scrape."""

    def __init__(
        self, ledger: Ledger, checkpoints: CheckpointLog, clock: Callable[[], float] = time.time
    ) -> None:
        self.ledger = ledger
        self.checkpoints = checkpoints
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the four gauges."""
        size = self.ledger.size()
        latest = self.checkpoints.latest()
        signed = latest.tree_size if latest is not None else 0
        yield GaugeMetricFamily(
            "audit_ledger_entries", "Entries in the audit ledger (the tree size).", value=size
        )
        yield GaugeMetricFamily(
            "audit_checkpoint_tree_size",
            "Entries covered by the latest signed checkpoint.",
            value=signed,
        )
        yield GaugeMetricFamily(
            "audit_entries_unsigned",
            "Ledger entries no signed checkpoint covers yet.",
            value=max(0, size - signed),
        )
        if latest is not None:
            # Absent until the first checkpoint: an age of nothing would be a made-up number.
            yield GaugeMetricFamily(
                "audit_checkpoint_age_seconds",
                "Seconds since the latest checkpoint was signed.",
                value=max(0.0, self.clock() - latest.signed_at.timestamp()),
            )
