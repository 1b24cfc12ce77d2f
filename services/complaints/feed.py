"""The event feed: the one contract between the complaints service and its consumers.

Each stored event is published in its documented public form (schema
version 1), never as the internal class state: fields are chosen per event
type, personal data is masked, and free text the customer wrote stays out.
`position` is the event store's notification id: increasing in commit order,
with possible gaps on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEvent

from services.complaints.application import ComplaintsApplication
from services.complaints.domain.deadline import Deadline
from services.complaints.representation import masked_customer
from services.complaints.vault import Vault

SCHEMA_VERSION = 1
PublicForm = Callable[[Any, Vault], dict[str, Any]]
EVENT_NAMESPACE = uuid.UUID("0b7e0f0e-5b7a-4c8e-9d56-7d1bb0c6a9f3")


def _deadlines(raw: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for name, value in raw.items():
        d = Deadline.from_dict(value)
        out[name] = {
            "due_at": _iso(d.due_at),
            "completed_at": _iso(d.completed_at),
            "warned_at": _iso(d.warned_at),
            "breached_at": _iso(d.breached_at),
            "paused": d.paused_at is not None,
        }
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _fields(*names: str, deadlines: bool = False) -> PublicForm:
    def form(event: Any, vault: Vault) -> dict[str, Any]:
        data = {name: _plain(getattr(event, name)) for name in names}
        if deadlines:
            data["deadlines"] = _deadlines(event.deadlines)
        return data

    return form


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _registered(event: Any, vault: Vault) -> dict[str, Any]:
    return {
        "case_number": event.case_number,
        "customer": masked_customer(vault, event.originator_id, event.customer),
        "channel": event.channel,
        "category": event.category,
        "received_at": event.received_at.isoformat(),
        "owner": event.actor["id"],
        "policy": dict(event.policy),
        "deadlines": _deadlines(event.deadlines),
    }


def _contact_updated(event: Any, vault: Vault) -> dict[str, Any]:
    return {
        "customer": masked_customer(vault, event.originator_id, event.customer),
        "reason": event.reason,
    }


def _confirmed(event: Any, vault: Vault) -> dict[str, Any]:
    # The comment is the customer's own words: it stays in the case file only.
    return {"satisfaction": event.satisfaction, "has_comment": bool(event.comment)}


PUBLIC_FORMS: dict[str, PublicForm] = {
    "Registered": _registered,
    "Accepted": _fields("category", "severity", "reason", "stopped", deadlines=True),
    "Transferred": _fields("assignee", "reason"),
    "Investigated": _fields("findings", deadlines=True),
    "Resolved": _fields("resolution", "remedy", deadlines=True),
    "Confirmed": _confirmed,
    # Reasons and notes may quote the customer: sealed in the case file, absent here.
    "Disputed": _fields(),
    "Reopened": _fields("reason", deadlines=True),
    "Escalated": _fields("body", "reference", "reason"),
    "Closed": _fields("outcome", "reason"),
    "Withdrawn": _fields(),
    "NoteAdded": _fields(),
    "Paused": _fields("reason", deadlines=True),
    "Resumed": _fields("reason", deadlines=True),
    "SlaWarning": _fields("milestone", "due_at"),
    "SlaBreached": _fields("milestone", "due_at"),
    "ContactRead": _fields("purpose"),
    "ContactUpdated": _contact_updated,
    "Erased": _fields("reason"),
}


def event_id(complaint_id: uuid.UUID | str, version: int) -> str:
    """A stable id for an event: the same on every read of the feed."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{complaint_id}/{version}"))


def feed_item(position: int, event: DomainEvent, vault: Vault) -> dict[str, Any]:
    """One feed item in its public form."""
    type_name = type(event).__name__
    form = PUBLIC_FORMS.get(type_name)
    return {
        "position": position,
        "event_id": event_id(event.originator_id, event.originator_version),
        "complaint_id": str(event.originator_id),
        "version": event.originator_version,
        "type": type_name,
        "occurred_at": event.timestamp.isoformat(),
        "actor": dict(getattr(event, "actor", {})),
        "schema_version": SCHEMA_VERSION,
        "data": form(event, vault) if form else {},
    }


class Feed:
    """Reads pages of the feed and long-polls for new events."""

    def __init__(self, app: ComplaintsApplication, poll_interval: float = 0.2) -> None:
        self.app = app
        self.poll_interval = poll_interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._arrived = asyncio.Event()
        app.recorded_listeners.append(lambda _recordings: self._wake())

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the serving loop so writes in worker threads can wake waiters."""
        self._loop = loop

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._signal)

    def _signal(self) -> None:
        # Waiters hold the old event; swapping in a new one wakes them all at once.
        arrived, self._arrived = self._arrived, asyncio.Event()
        arrived.set()

    def page(self, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Items after `after` (at most `limit`) and the position to resume from."""
        notifications = self.app.recorder.select_notifications(
            start=after, limit=limit, inclusive_of_start=False
        )
        items = []
        for notification in notifications:
            event = self.app.mapper.to_domain_event(notification)
            if isinstance(event, DomainEvent) and type(event).__name__ != "Snapshot":
                items.append(feed_item(notification.id, event, self.app.vault))
        last = notifications[-1].id if notifications else after
        return items, last

    def head(self) -> int:
        """The newest position."""
        return int(self.app.recorder.max_notification_id() or 0)

    async def wait_beyond(self, after: int, seconds: float) -> None:
        """Return once an event newer than `after` exists, or `seconds` have passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            arrived = self._arrived
            if await asyncio.to_thread(self.head) > after:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            # Writes by another process give no signal here: poll as a fallback.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), min(remaining, self.poll_interval))
