"""A lease in the service's own database: one active worker per deployment.

Background workers (the deadline monitor, a feed consumer, a sweeper) must
act in one process only, even when several replicas share a database. A
worker holds a named lease for a few seconds and renews it while it works;
a standby takes it over once it has expired. The same table works on SQLite
and PostgreSQL, so both backends get the same behaviour.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import Column, Engine, Float, MetaData, String, Table, or_, update
from sqlalchemy.exc import IntegrityError

metadata = MetaData()

leases = Table(
    "leases",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(100), nullable=False),
    Column("expires_at", Float, nullable=False),
)


class Lease:
    """A named, renewable, expiring claim to be the one active worker."""

    def __init__(self, engine: Engine, name: str, ttl_seconds: float = 10.0) -> None:
        self.engine = engine
        self.name = name
        self.ttl = ttl_seconds
        self.holder = uuid.uuid4().hex
        metadata.create_all(engine, checkfirst=True)

    def acquire(self) -> bool:
        """Take or renew the lease; False while another live holder has it."""
        now = time.time()
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(leases)
                .where(leases.c.name == self.name)
                .where(or_(leases.c.holder == self.holder, leases.c.expires_at < now))
                .values(holder=self.holder, expires_at=now + self.ttl)
            )
            if renewed.rowcount == 1:
                return True
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    leases.insert().values(
                        name=self.name, holder=self.holder, expires_at=now + self.ttl
                    )
                )
            return True
        except IntegrityError:
            return False

    def release(self) -> None:
        """Give the lease up at once so a standby need not wait for expiry."""
        with self.engine.begin() as conn:
            conn.execute(
                update(leases)
                .where(leases.c.name == self.name, leases.c.holder == self.holder)
                .values(expires_at=0.0)
            )
