"""Webhook subscriptions: who outside wants which feed events, and the secret to sign them.

An `admin` manages subscriptions through the API. Each subscription receives
every event of the types it names (all types when it names none), as an
outbox message like any other, so it gets the same retries and dead letters.
The secret is shown once, when the subscription is created.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import Column, Connection, Engine, Float, MetaData, String, Table, Text, select

from services.kernel.database import reading

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
            secret=secret or secrets.token_urlsafe(32),
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


def internal_address(url: str) -> str | None:
    """The loopback, link-local, private or reserved address `url` points at, if any.

    Names that do not resolve here are let through: the send will fail on its
    own, and refusing them would refuse every receiver this host cannot see yet.
    """
    host = urlsplit(url).hostname or ""
    try:
        addresses = {ipaddress.ip_address(host)}
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None)
        except OSError:
            return None
        addresses = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    for address in addresses:
        if (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        ):
            return str(address)
    return None
