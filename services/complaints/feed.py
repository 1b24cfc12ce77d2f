"""The event feed: the one contract between the complaints service and its consumers.

Each stored event is published in its documented public form (schema
version 2), never as the internal class state: fields are chosen per event
type, personal data is masked, and no free text (the customer's words or
staff text) ever appears: each free-text field is published in `sealed` as
the commitment its sealed value carries (docs/feed.md).
`position` is the event store's notification id: increasing in commit order,
with possible gaps on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEvent

from services.complaints.application import ComplaintsApplication
from services.complaints.arrivals import Arrivals
from services.complaints.domain.deadline import Deadline
from services.complaints.representation import masked_customer
from services.complaints.vault import Vault, commitment_of

SCHEMA_VERSION = 2  # 2: free text only as commitments (data.sealed)
UNCOMMITTED = "uncommitted"  # text recorded before commitments existed: never published
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
        "referral": _referral(getattr(event, "referral", None)),
        "repeat": bool(getattr(event, "repeat_of", None)),
        "repeat_of": [
            {"complaint_id": r["complaint_id"], "case_number": r["case_number"]}
            for r in getattr(event, "repeat_of", None) or []
        ],
        "tier": event.tier,
    }


def _referral(referral: dict[str, Any] | None) -> dict[str, Any] | None:
    """An appeal centre's referral: who, their reference and their dates (no personal data)."""
    if not referral:
        return None
    return {k: referral.get(k) for k in ("body", "reference", "received_at", "due_at")}


def _contact_updated(event: Any, vault: Vault) -> dict[str, Any]:
    return {"customer": masked_customer(vault, event.originator_id, event.customer)}


def _confirmed(event: Any, vault: Vault) -> dict[str, Any]:
    # The comment is the customer's own words: it stays in the case file only.
    return {"satisfaction": event.satisfaction, "has_comment": bool(event.comment)}


def _restored(event: Any, vault: Vault) -> dict[str, Any]:
    return {"restored_at": event.restored_at.isoformat(), "deadlines": _deadlines(event.deadlines)}


PUBLIC_FORMS: dict[str, PublicForm] = {
    "Registered": _registered,
    "Accepted": _fields("category", "severity", "stopped", deadlines=True),
    "Transferred": _fields("assignee"),
    "Investigated": _fields(deadlines=True),
    "Resolved": _fields("confirmation_due_at", deadlines=True),
    "Restored": _restored,
    "Confirmed": _confirmed,
    "Disputed": _fields("after_close", deadlines=True),
    "Reopened": _fields(deadlines=True),
    "Escalated": _fields("body", "reference", deadlines=True),
    "Returned": _fields("reference"),
    "Closed": _fields("early", "rated", "dispute_until", deadlines=True),
    "DeemedAccepted": _fields("window_ended_at", "dispute_until"),
    "FollowUpDemanded": _fields(deadlines=True),
    "LadderStepReached": _fields("milestone", "level", "notify", "reached_at"),
    "FollowUpAnswered": _fields(deadlines=True),
    "Withdrawn": _fields(),
    "NoteAdded": _fields(),
    # The pause reason is a code of the pinned policy; its note is free text.
    "Paused": _fields("reason", "resume_at", "limit_at", deadlines=True),
    "Resumed": _fields(deadlines=True),
    "AutoResumed": _fields("trigger", "resumed_at", deadlines=True),
    "SlaWarning": _fields("milestone", "due_at"),
    "SlaBreached": _fields("milestone", "due_at"),
    "ContactRead": _fields(),
    # Need-to-know (domain/access.py): who took an unassigned case; who opened the words, why.
    "Claimed": _fields("assignee"),
    "TextRead": _fields("scope"),
    "ContactUpdated": _contact_updated,
    "Erased": _fields(),
}

# The free-text fields of each event type: published only as commitments, in `data.sealed`.
SEALED_FIELDS: dict[str, tuple[str, ...]] = {
    "Registered": ("description",),
    "Accepted": ("reason",),
    "Transferred": ("reason",),
    "Investigated": ("findings",),
    "Resolved": ("resolution", "remedy"),
    "Restored": ("how",),
    "Confirmed": ("comment",),
    "Disputed": ("reason",),
    "Reopened": ("reason",),
    "Escalated": ("reason",),
    "Returned": ("decision",),
    "Closed": ("outcome", "reason"),
    "FollowUpDemanded": ("text",),
    "FollowUpAnswered": ("text",),
    "Withdrawn": ("reason",),
    "NoteAdded": ("text",),
    "Paused": ("note",),
    "Resumed": ("reason",),
    "ContactRead": ("purpose",),
    "Claimed": ("reason",),
    "TextRead": ("purpose",),
    "ContactUpdated": ("reason",),
    "Erased": ("reason",),
    "SurveyAnswered": ("comment",),
    "CustomerMessaged": ("text",),
}


def sealed_commitments(event: Any) -> dict[str, str | None]:
    """Each free-text field's public form: its commitment, null when empty.

    Read from the sealed value itself, so the same after erasure as before.
    """
    out: dict[str, str | None] = {}
    for name in SEALED_FIELDS.get(type(event).__name__, ()):
        value = getattr(event, name, None)
        out[name] = None if not value else (commitment_of(value) or UNCOMMITTED)
    return out


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
        "data": _data(event, form, vault),
    }


def _data(event: DomainEvent, form: PublicForm | None, vault: Vault) -> dict[str, Any]:
    data = form(event, vault) if form else {}
    if type(event).__name__ in SEALED_FIELDS:
        data["sealed"] = sealed_commitments(event)
    return data


class Feed:
    """Reads pages of the feed and long-polls for new events."""

    def __init__(
        self,
        app: ComplaintsApplication,
        arrivals: Arrivals | None = None,
        fallback_seconds: float = 2.0,
    ) -> None:
        self.app = app
        self.fallback_seconds = fallback_seconds
        if arrivals is None:
            arrivals = Arrivals()
            app.recorded_listeners.append(lambda _recordings: arrivals.ring())
        self.arrivals = arrivals

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the serving loop so writes in worker threads can wake waiters."""
        self.arrivals.bind(loop)

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
            seen = self.arrivals.generation
            if await asyncio.to_thread(self.head) > after:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            # Woken by a write (here, or on PostgreSQL by any replica); the fallback
            # covers other processes on SQLite and a notification lost on the way.
            await self.arrivals.wait(seen, min(remaining, self.fallback_seconds))
