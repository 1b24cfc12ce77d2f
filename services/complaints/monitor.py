"""The deadline monitor: records SLA warnings and breaches as they fall due (S-2).

It also sweeps retention: personal data of complaints closed longer ago than
the pinned policy's `retention_after_close` is erased, each erasure on record.

A pass runs when something may have changed, never on an idle tick: when
a write was recorded (in this process at once, on PostgreSQL from any
replica through the event store's notifications), when the earliest alarm
or erasure in the work queue falls due, or after a long fallback interval
(which also heals a notification lost on the way). Passes are at least
`interval` apart, so a burst of writes costs one pass per interval, not one
per write.

One monitor acts per database: each pass starts by taking (or renewing) a
lease, and a process that does not hold it stands by. Even two monitors
racing could not record a warning twice, because the aggregate refuses a
second warning for a milestone and the event store refuses a second event at
the same version.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool

from services.complaints.application import ComplaintNotFound, ComplaintsApplication, Conflict
from services.complaints.arrivals import Arrivals
from services.complaints.domain.complaint import Actor
from services.complaints.domain.workflow import Action
from services.complaints.queue import WorkQueue
from services.kernel.lease import Lease

RENEW_EVERY = 20
# Events a catch-up reads at a time. A pass reads on only while batches come back
# full: under a steady stream of writes, "until none is left" never ends, and the
# events that arrive during a pass ring the bell for the next one.
CATCH_UP_BATCH = 500
RETENTION_SWEEPER = Actor(id="retention-sweeper", role="system")
log = logging.getLogger("services.complaints.monitor")


class DeadlineMonitor:
    """Raises due `SlaWarning` and `SlaBreached` events, woken by writes and due times."""

    def __init__(
        self,
        app: ComplaintsApplication,
        queue: WorkQueue,
        lease: Lease,
        interval: float,
        alarms: Counter,
        arrivals: Arrivals | None = None,
        fallback_seconds: float = 60.0,
    ) -> None:
        self.app = app
        self.queue = queue
        self.lease = lease
        self.interval = interval
        self.alarms = alarms
        self.arrivals = arrivals or Arrivals()
        self.fallback_seconds = max(fallback_seconds, interval)
        self.passes = 0
        # Other projections caught up on each pass (each takes a batch size and
        # returns how many events it read).
        self.projections: list[Callable[[int], int]] = []

    def run_once(self) -> int:
        """One pass: catch the queue up, then raise every alarm now due."""
        if not self.lease.acquire():
            return 0
        while self.queue.catch_up(CATCH_UP_BATCH) >= CATCH_UP_BATCH:
            if not self.lease.acquire():
                return 0
        for projection in self.projections:
            while projection(CATCH_UP_BATCH) >= CATCH_UP_BATCH:
                if not self.lease.acquire():
                    return 0
        raised = 0
        for n, complaint_id in enumerate(self.queue.due_alarms(self.app.clock.now())):
            # Renew the lease as the pass goes, so a long pass never overlaps a standby's.
            if n % RENEW_EVERY == RENEW_EVERY - 1 and not self.lease.acquire():
                return raised
            try:
                events = self.app.raise_sla_events(UUID(complaint_id))
                self.queue.record(self.app.get(UUID(complaint_id)))
            except (Conflict, ComplaintNotFound):
                continue  # A concurrent write moved it; the next pass looks again.
            for event_type in events:
                self.alarms.labels(event_type).inc()
                log.info("sla alarm", extra={"complaint_id": complaint_id, "type": event_type})
            raised += len(events)
        raised += self._erase_expired()
        return raised

    def _erase_expired(self) -> int:
        """Erase personal data whose retention period after closure has run out."""
        erased = 0
        for complaint_id in self.queue.due_for_erasure(self.app.clock.now()):
            try:
                complaint = self.app.act(
                    UUID(complaint_id),
                    Action.ERASE,
                    RETENTION_SWEEPER,
                    {"reason": "retention period after closure elapsed"},
                )
                self.queue.record(complaint)
            except (Conflict, ComplaintNotFound):
                continue
            self.alarms.labels("Erased").inc()
            log.info("retention erasure", extra={"complaint_id": complaint_id})
            erased += 1
        return erased

    def seconds_until_due(self) -> float:
        """Seconds until the earliest alarm or erasure in the queue, capped by the fallback."""
        now = self.app.clock.now()
        due: datetime | None = self.queue.next_due()
        if due is None:
            return self.fallback_seconds
        return min(self.fallback_seconds, max(0.0, (due - now).total_seconds()))

    async def run(self) -> None:
        """Run passes until cancelled: on writes and due times, at most one per `interval`."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                seen = self.arrivals.generation
                started = loop.time()
                wait = self.fallback_seconds
                try:
                    await run_in_threadpool(self.run_once)
                    wait = await run_in_threadpool(self.seconds_until_due)
                except Exception as exc:
                    log.warning("monitor pass failed", extra={"error_type": type(exc).__name__})
                    wait = self.interval  # Try again soon, as the old fixed tick did.
                self.passes += 1
                # Spacing first (a burst of writes costs one pass per interval), then
                # sleep until a write, the next due time or the fallback, whichever is first.
                await asyncio.sleep(max(0.0, started + self.interval - loop.time()))
                remaining = started + wait - loop.time()
                if remaining > 0:
                    await self.arrivals.wait(seen, remaining)
        finally:
            await run_in_threadpool(self.lease.release)
