"""How complaints and their events are shown outside the service.

Personal data is masked here, once, for every response; the clear contact is
served only by its own endpoint (S-11).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from eventsourcing.domain import DomainEvent

from services.complaints.domain.complaint import Complaint
from services.complaints.vault import Vault, is_sealed
from services.kernel.masking import ERASED, mask_customer

_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
CONTACT_FIELDS = ("name", "phone", "email", "account", "language", "preferred_channel")
WITHHELD = "[withheld]"


def masked_customer(vault: Vault, complaint_id: Any, record: dict[str, Any]) -> dict[str, Any]:
    """A sealed customer record as anyone may see it: masked, or erased."""
    opened = vault.open_fields(str(complaint_id), record)
    if opened is None:
        opened = {**record, **dict.fromkeys(("name", "phone", "email", "account"), ERASED)}
        opened.pop("sealed", None)
    masked = mask_customer(opened)
    return {key: masked.get(key) for key in CONTACT_FIELDS}


def free_text(vault: Vault, complaint_id: Any, value: Any, clear: bool) -> Any:
    """The customer's own words: shown only to staff working the case, never after erasure."""
    if not is_sealed(value):
        return value
    if not clear:
        return WITHHELD
    opened = vault.open(str(complaint_id), value)
    return ERASED if opened is None else opened


def complaint_view(
    complaint: Complaint, vault: Vault, clear_text: bool, milestones: Iterable[str] = ()
) -> dict[str, Any]:
    """The complaint's JSON form: personal data masked, free text only for staff.

    Every milestone of the pinned policy has a key; one not started yet is all nulls.
    """
    deadlines: dict[str, dict[str, Any]] = {
        name: {
            "due_at": None,
            "completed_at": None,
            "warned_at": None,
            "breached_at": None,
            "paused": False,
        }
        for name in milestones
    }
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
        "customer": masked_customer(vault, complaint.id, complaint.customer),
        "channel": complaint.channel,
        "category": complaint.category,
        "severity": complaint.severity,
        "description": free_text(vault, complaint.id, complaint.description, clear_text),
        "owner": complaint.owner,
        "assignee": complaint.assignee,
        "received_at": complaint.received_at,
        "policy": complaint.policy,
        "deadlines": deadlines,
        "confirmed": complaint.confirmed,
        "satisfaction": complaint.satisfaction,
        "erased": complaint.erased,
        "escalation": complaint.escalation,
        "allowed_actions": complaint.allowed_actions,
        "version": complaint.version,
    }


def event_type(event: DomainEvent) -> str:
    """The event's public type name, e.g. `Accepted`."""
    return type(event).__name__


def event_data(event: DomainEvent, vault: Vault, clear_text: bool) -> dict[str, Any]:
    """The event's own facts (not its envelope), personal data masked."""
    data: dict[str, Any] = {}
    for key, value in vars(event).items():
        if key in _BASE_FIELDS:
            continue
        if key == "customer" and isinstance(value, dict):
            value = masked_customer(vault, event.originator_id, value)
        value = free_text(vault, event.originator_id, value, clear_text)
        data[key] = value.isoformat() if isinstance(value, datetime) else value
    return data


def history_item(event: DomainEvent, vault: Vault, clear_text: bool) -> dict[str, Any]:
    """One entry of the case file."""
    return {
        "version": event.originator_version,
        "type": event_type(event),
        "occurred_at": event.timestamp,
        "actor": getattr(event, "actor", {}),
        "data": event_data(event, vault, clear_text),
    }
