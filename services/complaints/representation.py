"""How complaints and their events are shown outside the service.

Personal data is masked here, once, for every response; the clear contact is
served only by its own endpoint (S-11).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEvent

from services.complaints.domain.complaint import Complaint
from services.complaints.domain.privacy import mask_customer

_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
_PERSONAL_TEXT = {"customer"}


def complaint_view(complaint: Complaint) -> dict[str, Any]:
    """The complaint's JSON form, personal data masked."""
    deadlines = {}
    for name in complaint.deadlines:
        d = complaint.deadline(name)
        deadlines[name] = {
            "due_at": d.due_at,
            "completed_at": d.completed_at,
            "warned_at": d.warned_at,
            "breached_at": d.breached_at,
            "paused": d.paused_at is not None,
        }
    return {
        "id": str(complaint.id),
        "case_number": complaint.case_number,
        "status": complaint.status.value,
        "customer": mask_customer(complaint.customer),
        "channel": complaint.channel,
        "category": complaint.category,
        "severity": complaint.severity,
        "description": complaint.description,
        "owner": complaint.owner,
        "assignee": complaint.assignee,
        "received_at": complaint.received_at,
        "policy": complaint.policy,
        "deadlines": deadlines,
        "confirmed": complaint.confirmed,
        "satisfaction": complaint.satisfaction,
        "allowed_actions": complaint.allowed_actions,
        "version": complaint.version,
    }


def event_type(event: DomainEvent) -> str:
    """The event's public type name, e.g. `Accepted`."""
    return type(event).__name__


def event_data(event: DomainEvent) -> dict[str, Any]:
    """The event's own facts (not its envelope), personal data masked."""
    data: dict[str, Any] = {}
    for key, value in vars(event).items():
        if key in _BASE_FIELDS:
            continue
        if key == "customer" and isinstance(value, dict):
            value = mask_customer(value)
        data[key] = value.isoformat() if isinstance(value, datetime) else value
    return data


def history_item(event: DomainEvent) -> dict[str, Any]:
    """One entry of the case file."""
    return {
        "version": event.originator_version,
        "type": event_type(event),
        "occurred_at": event.timestamp,
        "actor": getattr(event, "actor", {}),
        "data": event_data(event),
    }
