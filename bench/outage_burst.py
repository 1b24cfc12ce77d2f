"""A mass outage: N network-fault complaints as fast as the service takes them, end to end.

    python -m bench.outage_burst [--complaints 20000] [--connections 32]
                                 [--backend postgresql|sqlite ...] [--postgres URL]

The complaints, notifications and audit services run as real processes, the
consumers following the feed as in production (the notifications service
writes each customer's receipt to its outbox and delivers it on the `log`
channel). The load comes from `bench._load` in its own process. Reported:
the intake rate and latency, how long after the last registration the audit
ledger and the outbox had caught up (feed positions at the head, no message
left pending), the feed lag of each consumer during the burst (p99, in
events and in seconds), and the peak resident memory of each service. The
databases are read directly for the progress figures, so watching adds no
HTTP load to the services.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from bench._harness import (
    DEFAULT_POSTGRES,
    SECRET,
    Service,
    percentile,
    postgres_databases,
    postgres_reachable,
    sqlite_databases,
)
from bench._load import run_python_client
from services.kernel.auth import mint_token
from services.kernel.database import create_database_engine

SERVICES = ("complaints", "notifications", "audit")
PHONE_SLOT = "PHONE8"
# The ledger holds every event; the outbox holds every message owed; all are delivered.
CAUGHT_UP = ("audit ledger", "outbox written", "outbox delivered")
BODY = {
    "customer": {"name": "李四", "phone": f"139{PHONE_SLOT}", "language": "zh-CN"},
    "channel": "phone",
    "description": "基站故障，整个小区没有信号",
    "category": "network_fault",
}


@dataclass
class Sample:
    """One look at the system: when, the feed head, each consumer's position, the outbox."""

    at: float
    head: int
    audit: int
    notifications: int
    pending: int
    rss: dict[str, int] = field(default_factory=dict)


class Watcher:
    """Samples progress from the three databases, and memory from /proc, in a thread."""

    def __init__(
        self, engines: dict[str, Engine], services: dict[str, Service], every: float
    ) -> None:
        self.engines = engines
        self.services = services
        self.every = every
        # The feed head: the event store's notification id (SQLite's is the rowid).
        postgres = engines["complaints"].dialect.name == "postgresql"
        self.head_sql = (
            "SELECT max(notification_id) FROM complaints_events"
            if postgres
            else "SELECT max(rowid) FROM stored_events"
        )
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def look(self) -> Sample:
        """Read the head, the positions and the outbox once."""
        with self.engines["complaints"].connect() as conn:
            head = conn.execute(text(self.head_sql))
            head_id = int(head.scalar() or 0)
        positions = {}
        for name in ("audit", "notifications"):
            with self.engines[name].connect() as conn:
                found = conn.execute(
                    text("SELECT position FROM feed_positions WHERE name = :n"), {"n": name}
                ).scalar()
                positions[name] = int(found or 0)
        with self.engines["notifications"].connect() as conn:
            pending = conn.execute(
                text("SELECT count(*) FROM messages WHERE status IN ('pending', 'sending')")
            ).scalar_one()
        rss = {name: service.memory()[0] for name, service in self.services.items()}
        return Sample(
            time.time(), head_id, positions["audit"], positions["notifications"], pending, rss
        )

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(self.look())

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def _lag_seconds(samples: list[Sample], sample: Sample, position: int) -> float:
    """How long the oldest event the consumer had not applied had been waiting."""
    if position >= sample.head:
        return 0.0
    for earlier in samples:
        if earlier.head > position:
            return sample.at - earlier.at
    return 0.0


@contextmanager
def _system(urls: dict[str, str], logs: Path) -> Iterator[dict[str, Service]]:
    common = {"AUTH_JWT_SECRET": SECRET, "AUTH_RATE_LIMIT_PER_SECOND": "0"}
    complaints = Service(
        "services.complaints",
        {
            **common,
            "COMPLAINTS_DATABASE_URL": urls["complaints"],
            "COMPLAINTS_MASTER_KEY": Fernet.generate_key().decode(),
        },
        logs / "complaints.log",
    )
    with ExitStack() as stack:
        running = {"complaints": stack.enter_context(complaints)}
        running["notifications"] = stack.enter_context(
            Service(
                "services.notifications",
                {
                    **common,
                    "NOTIFICATIONS_DATABASE_URL": urls["notifications"],
                    "NOTIFICATIONS_FEED_URL": complaints.url,
                    "NOTIFICATIONS_DEFAULT_CHANNEL": "log",
                },
                logs / "notifications.log",
            )
        )
        running["audit"] = stack.enter_context(
            Service(
                "services.audit",
                {
                    **common,
                    "AUDIT_DATABASE_URL": urls["audit"],
                    "AUDIT_FEED_URL": complaints.url,
                    "AUDIT_SIGNING_KEY": str(logs / "audit-signing.pem"),
                },
                logs / "audit.log",
            )
        )
        yield running


def burst(urls: dict[str, str], complaints: int, connections: int, timeout: float) -> None:
    """Run one burst against a fresh system on `urls` and print what it measured."""
    token = mint_token(SECRET, "agent-burst", ["agent"], ttl_seconds=24 * 3600)
    body = json.dumps(BODY, ensure_ascii=False)
    engines = {name: create_database_engine(url) for name, url in urls.items()}
    with TemporaryDirectory(prefix="bench-burst-") as logs, _system(urls, Path(logs)) as running:
        with Watcher(engines, running, every=0.25) as watcher:
            load = run_python_client(
                f"{running['complaints'].url}/v1/complaints",
                token,
                body,
                connections,
                requests=complaints,
                vary=PHONE_SLOT,
            )
            deadline = time.monotonic() + timeout
            caught_up: dict[str, float | None] = dict.fromkeys(CAUGHT_UP)
            while time.monotonic() < deadline and None in caught_up.values():
                now = watcher.look()
                reached = {
                    "audit ledger": now.audit >= now.head,
                    "outbox written": now.notifications >= now.head,
                    "outbox delivered": now.notifications >= now.head and now.pending == 0,
                }
                for name, done in reached.items():
                    if done and caught_up[name] is None:
                        caught_up[name] = now.at - load.last_at
                time.sleep(0.1)
        peaks = {name: service.memory()[1] for name, service in running.items()}
    for engine in engines.values():
        engine.dispose()
    during = [s for s in watcher.samples if load.first_at <= s.at <= load.last_at]
    print(
        f"  intake: {load.requests} answered in {load.seconds:.1f} s = {load.rate:.1f} req/s, "
        f"p50 {load.p50_ms:.1f} ms, p99 {load.p99_ms:.1f} ms, statuses {load.statuses}"
    )
    for name in CAUGHT_UP:
        value = caught_up[name]
        shown = f"{max(0.0, value):.1f} s" if value is not None else f"not within {timeout:.0f} s"
        print(f"  {name} caught up after the last registration: {shown}")
    for name in ("audit", "notifications"):
        events = [float(s.head - getattr(s, name)) for s in during]
        seconds = [_lag_seconds(watcher.samples, s, getattr(s, name)) for s in during]
        print(
            f"  feed lag of {name} during the burst: p99 {percentile(events, 0.99):.0f} events, "
            f"{percentile(seconds, 0.99):.1f} s (p50 {percentile(seconds, 0.5):.1f} s)"
        )
    seen = {
        name: max((s.rss.get(name, 0) for s in watcher.samples), default=0) for name in SERVICES
    }
    for name in SERVICES:
        print(f"  peak RSS {name}: {max(peaks[name], seen[name]) / 2**20:.0f} MB")


def main(argv: list[str] | None = None) -> None:
    """One burst per backend: PostgreSQL (when a server answers) and SQLite by default."""
    parser = argparse.ArgumentParser(prog="python -m bench.outage_burst")
    parser.add_argument("--complaints", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--backend",
        dest="backends",
        action="append",
        choices=["postgresql", "sqlite"],
        help="repeat for both (default: both)",
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES)
    parser.add_argument("--timeout", type=float, default=600.0, help="longest wait to catch up")
    args = parser.parse_args(argv)
    for backend in args.backends or ["postgresql", "sqlite"]:
        if backend == "postgresql" and not postgres_reachable(args.postgres):
            print("\npostgresql: not reachable, skipped")
            continue
        print(f"\n{backend}: {args.complaints} registrations over {args.connections} connections")
        databases = (
            postgres_databases(args.postgres, *SERVICES)
            if backend == "postgresql"
            else sqlite_databases(*SERVICES)
        )
        with databases as urls:
            burst(urls, args.complaints, args.connections, args.timeout)


if __name__ == "__main__":
    main()
