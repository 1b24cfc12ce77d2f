"""Webhook subscriptions: who outside wants which feed events, and the secret to sign them.

An `admin` manages subscriptions through the API. Each subscription receives
every event of the types it names (all types when it names none), as an
outbox message like any other, so it gets the same retries and dead letters.
The secret is shown once, when the subscription is created.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Engine, Float, MetaData, String, Table, Text, select

from services.kernel.database import reading
from services.notifications.signing import new_secret

metadata = MetaData()

subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(200), nullable=False),
    Column("event_types", Text, nullable=False),
    Column("description", String(200)),
    Column("created_at", Float, nullable=False),
)


@dataclass(frozen=True)
class Subscription:
    """One receiver of signed webhooks."""

    id: str
    url: str
    secret: str
    event_types: tuple[str, ...]
    description: str | None
    created_at: float

    def wants(self, event_type: str) -> bool:
        """Whether this subscription receives events of `event_type`."""
        return not self.event_types or event_type in self.event_types


def _subscription(row: object) -> Subscription:
    values = row._asdict()  # type: ignore[attr-defined]
    values["event_types"] = tuple(json.loads(values["event_types"]))
    return Subscription(**values)


class Subscriptions:
    """The subscriptions in the service's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, checkfirst=True)

    def create(
        self,
        url: str,
        event_types: Sequence[str] = (),
        secret: str | None = None,
        description: str | None = None,
    ) -> Subscription:
        """Add a subscription; a secret is generated when none is given."""
        subscription = Subscription(
            id=str(uuid.uuid4()),
            url=url,
            secret=secret or new_secret(),
            event_types=tuple(sorted(set(event_types))),
            description=description,
            created_at=time.time(),
        )
        with self.engine.begin() as conn:
            conn.execute(
                subscriptions.insert().values(
                    id=subscription.id,
                    url=subscription.url,
                    secret=subscription.secret,
                    event_types=json.dumps(list(subscription.event_types)),
                    description=description,
                    created_at=subscription.created_at,
                )
            )
        return subscription

    def get(self, subscription_id: str) -> Subscription | None:
        """A subscription by id."""
        with reading(self.engine) as conn:
            row = conn.execute(
                select(subscriptions).where(subscriptions.c.id == subscription_id)
            ).first()
        return _subscription(row) if row is not None else None

    def all(self, conn: Connection | None = None) -> list[Subscription]:
        """Every subscription, oldest first (on `conn` when given, e.g. the feed's)."""
        statement = select(subscriptions).order_by(subscriptions.c.created_at)
        if conn is not None:
            return [_subscription(row) for row in conn.execute(statement).all()]
        with reading(self.engine) as own:
            return [_subscription(row) for row in own.execute(statement).all()]

    def delete(self, subscription_id: str) -> bool:
        """Remove a subscription; its undelivered messages will go dead."""
        with self.engine.begin() as conn:
            result = conn.execute(
                subscriptions.delete().where(subscriptions.c.id == subscription_id)
            )
        return bool(result.rowcount)
