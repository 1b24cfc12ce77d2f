"""Fixtures for the notifications service against a real database (SQLite and PostgreSQL).

`feed` builds feed items in the complaints service's public form; `stack`
wires an outbox, subscriptions and the intake handler on a fresh database;
fake channels and contacts stand in for the outside world.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import Engine

from services.kernel.database import create_database_engine
from services.kernel.staff_directory import StaffDirectory
from services.notifications.cases import metadata as cases_metadata
from services.notifications.channels import Delivery, PermanentFailure, TransientFailure
from services.notifications.contacts import Contact
from services.notifications.intake import Intake
from services.notifications.outbox import Outbox
from services.notifications.rules import RuleBook
from services.notifications.settings import PACKAGE_DIR
from services.notifications.webhooks import Subscriptions

DIRECTORY = StaffDirectory.from_dict(
    {
        "staff": {
            "agent-1": {"email": "agent-1@operator.example", "language": "zh-CN"},
            "agent-2": {"email": "agent-2@operator.example", "language": "en"},
            "sup-1": {"email": "sup-1@operator.example", "language": "zh-CN", "role": "supervisor"},
            "sup-2": {"phone": "+8613900000002", "channel": "sms", "role": "supervisor"},
            "head-1": {"email": "head-1@operator.example", "role": "department_head"},
        },
        "teams": {"billing": {"members": ["agent-1", "agent-2"]}},
    }
)


class Feed:
    """Feed items as the complaints service publishes them, with increasing positions."""

    def __init__(self) -> None:
        self.positions = itertools.count(1)
        self.versions: dict[str, itertools.count[int]] = {}

    def item(self, complaint_id: str, type_: str, **data: Any) -> dict[str, Any]:
        """One item of `type_` for a complaint, with the given public data."""
        version = next(self.versions.setdefault(complaint_id, itertools.count(1)))
        return {
            "position": next(self.positions),
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{complaint_id}/{version}")),
            "complaint_id": complaint_id,
            "version": version,
            "type": type_,
            "occurred_at": "2026-03-01T02:00:00+00:00",
            "actor": {"id": "agent-1", "role": "agent"},
            "schema_version": 1,
            "data": data,
        }

    def registered(
        self,
        language: str = "zh-CN",
        channel: str = "sms",
        email: str | None = "z***@example.com",
        owner: str = "agent-1",
    ) -> dict[str, Any]:
        """A new complaint's Registered item."""
        complaint_id = str(uuid.uuid4())
        return self.item(
            complaint_id,
            "Registered",
            case_number=f"260301-{next(self.positions):06d}",
            customer={
                "name": "张*",
                "phone": "138****5678",
                "email": email,
                "account": "****1234",
                "language": language,
                "preferred_channel": channel,
            },
            channel="phone",
            category="billing",
            received_at="2026-03-01T02:00:00+00:00",
            owner=owner,
            policy={"id": "cn-service-spec", "version": 1},
            deadlines={
                "acceptance": {
                    "due_at": "2026-03-02T02:00:00+00:00",
                    "completed_at": None,
                    "warned_at": None,
                    "breached_at": None,
                    "paused": False,
                }
            },
        )


@dataclass
class Stack:
    """The service's storage and intake on one database."""

    engine: Engine
    outbox: Outbox
    subscriptions: Subscriptions
    intake: Intake

    def apply(self, items: list[dict[str, Any]]) -> None:
        """Apply a page as the feed consumer would: in one transaction."""
        with self.engine.begin() as conn:
            self.intake(conn, items)


@pytest.fixture
def feed() -> Feed:
    """A feed item builder."""
    return Feed()


@pytest.fixture
def stack(database_url: Callable[[str], str]) -> Iterator[Stack]:
    """Outbox, subscriptions and intake on a fresh database (SQLite and PostgreSQL)."""
    engine = create_database_engine(database_url("notifications"))
    cases_metadata.create_all(engine)
    outbox = Outbox(engine)
    subscriptions = Subscriptions(engine)
    intake = Intake(
        outbox,
        RuleBook.load(PACKAGE_DIR / "rules.toml"),
        DIRECTORY,
        subscriptions,
        available_channels={"email", "sms", "webhook", "log"},
    )
    yield Stack(engine, outbox, subscriptions, intake)
    engine.dispose()


@dataclass
class FakeChannel:
    """Records deliveries; fails as told (a list of exceptions, consumed in order)."""

    name: str
    failures: list[Exception] = field(default_factory=list)
    sent: list[Delivery] = field(default_factory=list)

    def send(self, delivery: Delivery) -> str:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(delivery)
        return "ok"


@dataclass
class FakeContacts:
    """Contacts by complaint id; `erased` ids answer as the complaints service would (410)."""

    erased: set[str] = field(default_factory=set)
    down: bool = False
    reads: list[tuple[str, str]] = field(default_factory=list)

    def read(self, complaint_id: str, purpose: str) -> Contact:
        self.reads.append((complaint_id, purpose))
        if self.down:
            raise TransientFailure("complaints unreachable")
        if complaint_id in self.erased:
            raise PermanentFailure("erased")
        return Contact(phone="+8613800005678", email="zhang@example.com")
