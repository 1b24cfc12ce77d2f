"""The complaints application: commands and queries over the event store.

One `ComplaintsApplication` per process (an eventsourcing `Application` with
its name pinned, so its tables never move when the class is renamed). It
loads a complaint, asks the aggregate to decide, and saves the new events;
a lost race surfaces as `Conflict`, never as a half-written change.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast, overload
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError, Recording
from sqlalchemy.engine import make_url

from services.complaints.domain.clock import Clock, SystemClock
from services.complaints.domain.complaint import Actor, Complaint
from services.complaints.domain.errors import PersonalDataErased
from services.complaints.domain.policy import PolicyBook, SlaPolicy
from services.complaints.domain.workflow import Action
from services.complaints.vault import Vault

PERSONAL_FIELDS = ("name", "phone", "email", "account")
CASE_NAMESPACE = uuid.UUID("6f1c3b4e-2a43-4d0e-9a8e-3f7f0b8f6d21")


class ComplaintNotFound(Exception):
    """No complaint has this id or case number (or none existed at that time)."""


class Conflict(Exception):
    """Another write to the same complaint won the race."""


class PreconditionFailed(Exception):
    """The caller's `If-Match` version is not the complaint's current version."""

    def __init__(self, expected: list[int], actual: int) -> None:
        wanted = " or ".join(str(v) for v in expected)
        super().__init__(f"The complaint is at version {actual}, not {wanted}.")
        self.expected = expected
        self.actual = actual


def event_store_env(database_url: str, lock_timeout_seconds: int = 5) -> dict[str, str]:
    """The eventsourcing environment for a database URL (SQLite file or PostgreSQL)."""
    url = make_url(database_url)
    if url.drivername.startswith("sqlite"):
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(url.database),
            "SQLITE_LOCK_TIMEOUT": "30",
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(url.database),
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        # Writers queue on the event table lock for at most this long, then fail
        # cleanly instead of piling up behind a stuck transaction.
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout_seconds),
        "POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT": "10",
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        "POSTGRES_PRE_PING": "y",
        "CREATE_TABLE": "y",
    }


def case_id(case_number: str) -> UUID:
    """The complaint id a case number stands for.

    Deriving the id from the number lets the event store's unique key on
    (id, version 1) guarantee that no two complaints share a case number.
    """
    return uuid.uuid5(CASE_NAMESPACE, case_number)


def new_case_number(at: datetime) -> str:
    """A number short enough to read over the phone: date and six random digits."""
    return f"{at:%y%m%d}-{secrets.randbelow(1_000_000):06d}"


class ComplaintsApplication(Application[UUID]):
    """Registers complaints and carries out actions on them."""

    name = "complaints"
    snapshotting_intervals = {Complaint: 50}  # noqa: RUF012 - eventsourcing reads the class attr

    def __init__(
        self,
        env: Mapping[str, str],
        policies: PolicyBook,
        vault: Vault,
        clock: Clock | None = None,
        default_policy: str | None = None,
        snapshot_interval: int = 50,
    ) -> None:
        super().__init__(env=dict(env))
        self.snapshotting_intervals = {Complaint: snapshot_interval}  # type: ignore[misc]
        self.recorded_listeners: list[Callable[[Sequence[Recording[UUID]]], None]] = []
        self.policies = policies
        self.vault = vault
        self.clock: Clock = clock or SystemClock()
        self.default_policy = default_policy

    # -- commands ---------------------------------------------------------------

    def register(
        self,
        actor: Actor,
        *,
        customer: Mapping[str, Any],
        channel: str,
        description: str,
        category: str | None,
        received_at: datetime | None,
    ) -> Complaint:
        """Register a new complaint; the acting agent becomes its owner (S-4)."""
        now = self.clock.now()
        received = received_at or now
        policy = self.policies.in_force(received, self.default_policy)
        calendar = self.policies.calendar(policy.calendar)
        for _ in range(5):
            number = new_case_number(now)
            complaint_id = case_id(number)
            complaint = Complaint.register(
                id=complaint_id,
                actor=actor,
                at=now,
                case_number=number,
                customer=self._sealed_customer(complaint_id, customer),
                channel=channel,
                description=self.vault.seal(str(complaint_id), description),  # never empty
                category=category,
                received_at=received,
                policy=policy,
                calendar=calendar,
            )
            try:
                self.save(complaint)
            except IntegrityError:
                continue  # Case number taken: draw another.
            return complaint
        raise Conflict("Could not draw a free case number.")

    def act(
        self,
        complaint_id: UUID,
        action: Action,
        actor: Actor,
        params: Mapping[str, Any],
        expected_versions: frozenset[int] | None = None,
    ) -> Complaint:
        """Carry out `action` on a complaint, optionally only at one of `expected_versions`."""
        complaint = self.get(complaint_id)
        if expected_versions is not None and complaint.version not in expected_versions:
            raise PreconditionFailed(sorted(expected_versions), complaint.version)
        now = self.clock.now()
        policy = self.pinned_policy(complaint)
        calendar = self.policies.calendar(policy.calendar)
        p = dict(params)
        match action:
            case Action.ACCEPT:
                complaint.accept(actor, now, policy=policy, calendar=calendar, **p)
            case Action.TRANSFER:
                complaint.transfer(actor, now, **p)
            case Action.INVESTIGATE:
                complaint.investigate(actor, now, policy=policy, calendar=calendar, **p)
            case Action.RESOLVE:
                complaint.resolve(actor, now, calendar=calendar, **p)
            case Action.CONFIRM:
                p["comment"] = self._seal(complaint_id, p.get("comment"))
                complaint.confirm(actor, now, **p)
            case Action.DISPUTE:
                complaint.dispute(actor, now, reason=self._seal(complaint_id, p["reason"]))
            case Action.REOPEN:
                complaint.reopen(actor, now, policy=policy, calendar=calendar, **p)
            case Action.ESCALATE:
                complaint.escalate(actor, now, **p)
            case Action.CLOSE:
                complaint.close(actor, now, **p)
            case Action.WITHDRAW:
                complaint.withdraw(actor, now, reason=self._seal(complaint_id, p["reason"]))
            case Action.NOTES:
                complaint.add_note(actor, now, text=self._seal(complaint_id, p["text"]))
            case Action.PAUSE:
                complaint.pause(actor, now, policy=policy, calendar=calendar, **p)
            case Action.RESUME:
                complaint.resume(actor, now, calendar=calendar, **p)
            case Action.UPDATE_CONTACT:
                current = self.contact_of(complaint)
                reason = p.pop("reason", None)
                changes = {k: v for k, v in p.items() if v is not None}
                merged = {**current, **changes}
                complaint.update_contact(
                    actor, now, customer=self._sealed_customer(complaint_id, merged), reason=reason
                )
            case Action.ERASE:
                if complaint.erased:
                    # Erasing again finishes an erasure whose key destruction a crash cut short.
                    self.vault.destroy(str(complaint_id))
                    return complaint
                complaint.erase(actor, now, **p)
        self._save_or_conflict(complaint)
        if action is Action.ERASE:
            # Recorded first, destroyed second: no erasure ever goes unrecorded.
            self.vault.destroy(str(complaint_id))
        return complaint

    def read_contact(
        self, complaint_id: UUID, actor: Actor, purpose: str
    ) -> tuple[Complaint, dict[str, Any]]:
        """The clear contact, after recording that `actor` read it and why (S-11)."""
        complaint = self.get(complaint_id)
        complaint.record_contact_read(actor, self.clock.now(), purpose=purpose)
        contact = self.contact_of(complaint)
        self._save_or_conflict(complaint)
        return complaint, contact

    def contact_of(self, complaint: Complaint) -> dict[str, Any]:
        """The complaint's clear contact details (not recorded: for internal use)."""
        opened = self.vault.open_fields(str(complaint.id), complaint.customer)
        if opened is None or complaint.erased:
            raise PersonalDataErased("The customer's personal data has been erased.")
        return opened

    @overload
    def _seal(self, complaint_id: UUID, text: str) -> str: ...
    @overload
    def _seal(self, complaint_id: UUID, text: None) -> None: ...
    def _seal(self, complaint_id: UUID, text: str | None) -> str | None:
        """Seal free text that may quote the customer, so that erasure reaches it."""
        return self.vault.seal(str(complaint_id), text) if text else text

    def _sealed_customer(self, complaint_id: UUID, customer: Mapping[str, Any]) -> dict[str, Any]:
        personal = {k: customer.get(k) for k in PERSONAL_FIELDS}
        record = {k: v for k, v in customer.items() if k not in PERSONAL_FIELDS}
        record["sealed"] = self.vault.seal(str(complaint_id), personal)
        return record

    def raise_sla_events(self, complaint_id: UUID) -> list[str]:
        """Record the warnings and breaches now due on one complaint."""
        complaint = self.get(complaint_id)
        raised = complaint.raise_sla_events(self.clock.now())
        if raised:
            self._save_or_conflict(complaint)
        return raised

    # -- queries ----------------------------------------------------------------

    def get(self, complaint_id: UUID, version: int | None = None) -> Complaint:
        """The complaint now, or as it was at `version`."""
        try:
            complaint: Any = self.repository.get(complaint_id, version=version)
        except AggregateNotFoundError:
            raise ComplaintNotFound(str(complaint_id)) from None
        if not isinstance(complaint, Complaint):
            raise ComplaintNotFound(str(complaint_id))
        return complaint

    def get_as_of(self, complaint_id: UUID, as_of: datetime) -> Complaint:
        """The complaint as it was at the instant `as_of` (S-6)."""
        version = None
        for event in self.history(complaint_id):
            if event.timestamp <= as_of:
                version = event.originator_version
            else:
                break
        if version is None:
            raise ComplaintNotFound(f"{complaint_id} did not exist at {as_of.isoformat()}")
        return self.get(complaint_id, version=version)

    def history(self, complaint_id: UUID) -> list[DomainEvent]:
        """Every event of the case file, in order."""
        events = cast(list[DomainEvent], list(self.events.get(complaint_id)))
        if not events:
            raise ComplaintNotFound(str(complaint_id))
        return events

    def pinned_policy(self, complaint: Complaint) -> SlaPolicy:
        """The policy version the complaint pinned at receipt."""
        return self.policies.get(complaint.policy["id"], int(complaint.policy["version"]))

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        for listener in self.recorded_listeners:
            listener(recordings)

    def _save_or_conflict(self, complaint: Complaint) -> None:
        try:
            self.save(complaint)
        except IntegrityError as exc:
            raise Conflict("Another change to this complaint was saved first.") from exc
