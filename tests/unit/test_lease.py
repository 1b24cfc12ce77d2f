"""Leases: one active worker per database, and a standby takes over when it dies."""

from __future__ import annotations

import time
from pathlib import Path

from services.kernel.database import create_database_engine
from services.kernel.lease import Lease


def test_a_standby_takes_over_only_once_the_holder_stops_renewing(tmp_path: Path) -> None:
    engine = create_database_engine(f"sqlite:///{tmp_path}/lease.db")
    active = Lease(engine, "monitor", ttl_seconds=0.5)
    standby = Lease(engine, "monitor", ttl_seconds=0.5)
    other_job = Lease(engine, "sweeper", ttl_seconds=0.5)
    assert active.acquire()
    assert not standby.acquire()
    assert other_job.acquire(), "leases are per name"
    time.sleep(0.3)
    assert active.acquire(), "renewal keeps it"
    time.sleep(0.3)
    assert not standby.acquire(), "still within the renewed term"
    time.sleep(0.4)  # the holder died without releasing
    assert standby.acquire()
    assert not active.acquire(), "the old holder has lost it"
    standby.release()
    assert active.acquire(), "a release frees it at once"
    engine.dispose()
