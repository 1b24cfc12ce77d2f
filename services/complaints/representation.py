"""How complaints and their events are shown outside the service.

Personal data is masked here, once, for every response; the clear contact is
served only by its own endpoint (S-11). Sealed words show as `Words` says:
clear only after a recorded read (domain/access.py), else withheld, and
erased once the case was erased.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any

from eventsourcing.domain import DomainEvent

from services.complaints.domain.complaint import Complaint
from services.complaints.vault import Vault, commitment_of, is_sealed
from services.kernel.masking import ERASED, mask_customer

_BASE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic", "actor"}
CONTACT_FIELDS = ("name", "phone", "email", "account", "language", "preferred_channel")
WITHHELD = "[withheld]"


class Words(StrEnum):
    """How sealed words are shown in one response."""

    CLEAR = "clear"  # a read with a need to know, recorded
    WITHHELD = "withheld"
    ERASED = "erased"  # the case was erased: nothing is opened, even from a cached key


def masked_customer(vault: Vault, complaint_id: Any, record: dict[str, Any]) -> dict[str, Any]:
    """A sealed customer record as anyone may see it: masked, or erased."""
    opened = vault.open_fields(str(complaint_id), record)
    if opened is None:
        opened = {**record, **dict.fromkeys(("name", "phone", "email", "account"), ERASED)}
        opened.pop("sealed", None)
    masked = mask_customer(opened)
    return {key: masked.get(key) for key in CONTACT_FIELDS}


def free_text(vault: Vault, complaint_id: Any, value: Any, words: Words) -> Any:
    """Sealed words: opened only for a recorded read, never after erasure."""
    if not is_sealed(value):
        return value
    if words is Words.ERASED:
        return ERASED
    if words is not Words.CLEAR:
        return WITHHELD
    opened = vault.open(str(complaint_id), value)
    return ERASED if opened is None else opened


def complaint_view(
    complaint: Complaint,
    vault: Vault,
    words: Words,
    milestones: Iterable[str] = (),
    *,
    offered: Iterable[str],
) -> dict[str, Any]:
    """The complaint's JSON form: personal data masked, sealed words as `words` says.

    Every milestone of the pinned policy has a key; one not started yet is all
    nulls. `offered` is what may be done next here (the case's allowed actions,
    less what this service does not offer, such as `claim` with claims off).
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
    restore = complaint.time_to_restore
    return {
        "id": str(complaint.id),
        "case_number": complaint.case_number,
        "status": complaint.status.value,
        "customer": masked_customer(vault, complaint.id, complaint.customer),
        "channel": complaint.channel,
        "category": complaint.category,
        "severity": complaint.severity,
        "description": free_text(vault, complaint.id, complaint.description, words),
        "tier": complaint.tier,
        "owner": complaint.owner,
        "assignee": complaint.assignee,
        "received_at": complaint.received_at,
        "policy": complaint.policy,
        "deadlines": deadlines,
        "confirmed": complaint.confirmed,
        "satisfaction": complaint.satisfaction,
        "erased": complaint.erased,
        "escalation": complaint.escalation,
        "referral": getattr(complaint, "referral", None),
        "repeat": bool(getattr(complaint, "repeat_of", None)),
        "repeat_of": list(getattr(complaint, "repeat_of", None) or []),
        "appeal_return": complaint.appeal_return,
        "outcome": free_text(vault, complaint.id, complaint.outcome, words),
        "confirmation_due_at": complaint.confirmation_due_at,
        "dispute_until": complaint.dispute_until,
        "restored_at": complaint.restored_at,
        "time_to_restore_seconds": None if restore is None else restore.total_seconds(),
        "paused": complaint.paused,
        "pause_ends_at": complaint.pause_ends_at if complaint.paused else None,
        "allowed_actions": list(offered),
        "version": complaint.version,
    }


def event_type(event: DomainEvent) -> str:
    """The event's public type name, e.g. `Accepted`."""
    return type(event).__name__


def event_data(event: DomainEvent, vault: Vault, words: Words) -> dict[str, Any]:
    """The event's own facts (not its envelope), personal data masked."""
    data: dict[str, Any] = {}
    for key, value in vars(event).items():
        if key in _BASE_FIELDS:
            continue
        if key == "customer" and isinstance(value, dict):
            value = masked_customer(vault, event.originator_id, value)
        value = free_text(vault, event.originator_id, value, words)
        data[key] = value.isoformat() if isinstance(value, datetime) else value
    return data


def sealed_openings(event: DomainEvent, vault: Vault, words: Words) -> dict[str, Any]:
    """Each committed free-text field: its commitment, and its salt to those shown the text.

    With the clear text and the salt, anyone can recompute the commitment the
    feed and the audit ledger carry (docs/feed.md); after erasure the salt is gone.
    """
    out: dict[str, Any] = {}
    for key, value in vars(event).items():
        commitment = commitment_of(value)
        if commitment is None:
            continue
        entry: dict[str, Any] = {"commitment": commitment}
        if words is Words.CLEAR:
            opened = vault.open_text(str(event.originator_id), value)
            entry["salt"] = opened.salt if opened is not None else None
        elif words is Words.ERASED:
            entry["salt"] = None  # gone with the key
        out[key] = entry
    return out


def history_item(event: DomainEvent, vault: Vault, words: Words) -> dict[str, Any]:
    """One entry of the case file."""
    return {
        "version": event.originator_version,
        "type": event_type(event),
        "occurred_at": event.timestamp,
        "actor": getattr(event, "actor", {}),
        "data": event_data(event, vault, words),
        "sealed": sealed_openings(event, vault, words),
    }
