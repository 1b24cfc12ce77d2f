"""The deadline monitor: records SLA warnings and breaches as they fall due (S-2).

It also sweeps retention: personal data of complaints closed longer ago than
the pinned policy's `retention_after_close` is erased, each erasure on record.

One monitor acts per database: each pass starts by taking (or renewing) a
lease, and a process that does not hold it stands by. Even two monitors
racing could not record a warning twice, because the aggregate refuses a
second warning for a milestone and the event store refuses a second event at
the same version.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from prometheus_client import Counter
from starlette.concurrency import run_in_threadpool

from services.complaints.application import ComplaintNotFound, ComplaintsApplication, Conflict
from services.complaints.domain.complaint import Actor
from services.complaints.domain.workflow import Action
from services.complaints.queue import WorkQueue
from services.kernel.lease import Lease

RENEW_EVERY = 20
RETENTION_SWEEPER = Actor(id="retention-sweeper", role="system")
log = logging.getLogger("services.complaints.monitor")


class DeadlineMonitor:
    """Periodically raises due `SlaWarning` and `SlaBreached` events."""

    def __init__(
        self,
        app: ComplaintsApplication,
        queue: WorkQueue,
        lease: Lease,
        interval: float,
        alarms: Counter,
    ) -> None:
        self.app = app
        self.queue = queue
        self.lease = lease
        self.interval = interval
        self.alarms = alarms

    def run_once(self) -> int:
        """One pass: catch the queue up, then raise every alarm now due."""
        if not self.lease.acquire():
            return 0
        while self.queue.catch_up():
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

    async def run(self) -> None:
        """Run passes until cancelled."""
        try:
            while True:
                try:
                    await run_in_threadpool(self.run_once)
                except Exception as exc:
                    log.warning("monitor pass failed", extra={"error_type": type(exc).__name__})
                await asyncio.sleep(self.interval)
        finally:
            await run_in_threadpool(self.lease.release)
