"""The Complaint aggregate: its event history is the mandated case file (S-6).

Every change is a domain event named in the past tense and nested in the
aggregate. Each event carries who acted (`actor`: id and role), when (its
`timestamp`, taken from the injectable clock) and why (`reason`, where the
action has one). Deadlines are computed when an event is decided and carried
by the event itself, so replaying the history never depends on today's
policy files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from services.complaints.domain import deadline as clocks
from services.complaints.domain.calendar import Calendar
from services.complaints.domain.errors import (
    ActionNotAllowed,
    CommandRejected,
    InvalidValue,
    NotPermitted,
    PersonalDataErased,
)
from services.complaints.domain.policy import SlaPolicy
from services.complaints.domain.workflow import ALLOWED, TERMINAL, Action, Status, allowed_actions

SYSTEM_ACTOR = {"id": "deadline-monitor", "role": "system"}

CATEGORIES = (
    "billing",
    "network_quality",
    "network_fault",
    "service_conduct",
    "contract",
    "privacy",
    "other",
)
SEVERITIES = ("low", "medium", "high", "critical")
CHANNELS = ("phone", "web", "app", "store", "letter", "regulator")

# Which milestone each workflow step completes, and which it starts.
_FROM_RECEIPT = ("acceptance", "repair")


@dataclass(frozen=True)
class Actor:
    """Who acts: an id and the role they act in."""

    id: str
    role: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form carried by events."""
        return {"id": self.id, "role": self.role}


Deadlines = dict[str, dict[str, Any]]


class Complaint(Aggregate):
    """A customer's complaint, from receipt to closure."""

    class Event(Aggregate.Event):
        """Base of the complaint's events: every one names its actor."""

        actor: dict[str, str]

    class Registered(Aggregate.Created):
        """The complaint was received and registered; the receiving agent owns it."""

        actor: dict[str, str]
        case_number: str
        customer: dict[str, Any]
        channel: str
        description: str
        category: str | None
        received_at: datetime
        policy: dict[str, Any]
        deadlines: Deadlines

    class Accepted(Event):
        """The complaint was accepted and classified (S-5)."""

        category: str
        severity: str
        reason: str | None
        deadlines: Deadlines
        stopped: list[str]

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.ACCEPTED
            aggregate.category = self.category
            aggregate.severity = self.severity
            for name in self.stopped:
                aggregate.deadlines.pop(name, None)
            aggregate._set_deadlines(self.deadlines, paused=False)

    class Transferred(Event):
        """The case was handed to another agent or team; the owner stays accountable."""

        assignee: dict[str, str]
        reason: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.assignee = dict(self.assignee)

    class Investigated(Event):
        """The preliminary investigation was completed with findings."""

        findings: str
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.INVESTIGATED
            aggregate.findings = self.findings
            aggregate._set_deadlines(self.deadlines, paused=False)

    class Resolved(Event):
        """The result was given to the customer."""

        resolution: str
        remedy: str | None
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.RESOLVED
            aggregate.resolution = self.resolution
            aggregate.remedy = self.remedy
            aggregate._set_deadlines(self.deadlines, paused=False)

    class Confirmed(Event):
        """The customer confirmed the result and rated the handling."""

        satisfaction: int
        comment: str | None

        def apply(self, aggregate: Complaint) -> None:
            aggregate.confirmed = True
            aggregate.satisfaction = self.satisfaction

    class Disputed(Event):
        """The customer disputed the result."""

        reason: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.DISPUTED

    class Reopened(Event):
        """The disputed case was reopened for a fresh investigation."""

        reason: str | None
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.ACCEPTED
            aggregate.reopened += 1
            aggregate.deadlines.pop("result", None)
            aggregate._set_deadlines(self.deadlines, paused=False)

    class Escalated(Event):
        """The case went to an external appeal body (S-8)."""

        body: str
        reference: str
        reason: str | None

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.ESCALATED
            aggregate.escalation = {"body": self.body, "reference": self.reference}

    class Closed(Event):
        """A supervisor closed the case with its outcome."""

        outcome: str
        reason: str | None

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.CLOSED
            aggregate.outcome = self.outcome
            aggregate.closed_at = self.timestamp

    class Withdrawn(Event):
        """The customer withdrew the complaint."""

        reason: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.WITHDRAWN
            aggregate.closed_at = self.timestamp

    class NoteAdded(Event):
        """A note was added to the case file."""

        text: str

    class ContactRead(Event):
        """Someone read the customer's clear contact details, for a stated purpose (S-11)."""

        purpose: str

    class ContactUpdated(Event):
        """The customer's contact details were corrected (sealed personal fields)."""

        customer: dict[str, Any]
        reason: str | None

        def apply(self, aggregate: Complaint) -> None:
            aggregate.customer = dict(self.customer)

    class Erased(Event):
        """The customer's personal data was erased; every other fact of the case stays."""

        reason: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.erased = True

    class Paused(Event):
        """The clocks were paused while awaiting the customer."""

        reason: str
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate._set_deadlines(self.deadlines, paused=True)

    class Resumed(Event):
        """The clocks were resumed; due times moved by the paused working time."""

        reason: str | None
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate._set_deadlines(self.deadlines, paused=False)

    class SlaWarning(Event):
        """A milestone reached its warning threshold before completion."""

        milestone: str
        due_at: datetime

        def apply(self, aggregate: Complaint) -> None:
            warned = clocks.mark_warned(aggregate.deadline(self.milestone), self.timestamp)
            aggregate.deadlines[self.milestone] = warned.to_dict()

    class SlaBreached(Event):
        """A milestone passed its due time before completion."""

        milestone: str
        due_at: datetime

        def apply(self, aggregate: Complaint) -> None:
            breached = clocks.mark_breached(aggregate.deadline(self.milestone), self.timestamp)
            aggregate.deadlines[self.milestone] = breached.to_dict()
            aggregate.ever_breached = True

    def __init__(
        self,
        actor: dict[str, str],
        case_number: str,
        customer: dict[str, Any],
        channel: str,
        description: str,
        category: str | None,
        received_at: datetime,
        policy: dict[str, Any],
        deadlines: Deadlines,
    ) -> None:
        self.case_number = case_number
        self.status = Status.RECEIVED
        self.customer = dict(customer)
        self.channel = channel
        self.description = description
        self.category = category
        self.severity: str | None = None
        self.received_at = received_at
        self.owner = actor["id"]
        self.assignee: dict[str, str] | None = None
        self.policy = dict(policy)
        self.deadlines: Deadlines = {k: dict(v) for k, v in deadlines.items()}
        self.paused = False
        self.findings: str | None = None
        self.resolution: str | None = None
        self.remedy: str | None = None
        self.confirmed = False
        self.satisfaction: int | None = None
        self.escalation: dict[str, str] | None = None
        self.outcome: str | None = None
        self.closed_at: datetime | None = None
        self.reopened = 0
        self.erased = False
        # Survives a reopen, which replaces the clocks: a breach is never forgotten.
        self.ever_breached = False

    @property
    def status(self) -> Status:
        """Where the complaint stands (held as text, so snapshots restore it as is)."""
        return Status(self._status)

    @status.setter
    def status(self, value: Status) -> None:
        self._status = value.value

    # -- creation -------------------------------------------------------------

    @classmethod
    def register(
        cls,
        *,
        id: Any,
        actor: Actor,
        at: datetime,
        case_number: str,
        customer: Mapping[str, Any],
        channel: str,
        description: str,
        category: str | None,
        received_at: datetime,
        policy: SlaPolicy,
        calendar: Calendar,
    ) -> Complaint:
        """Register a complaint received at `received_at`, pinning `policy`."""
        if channel not in CHANNELS:
            raise InvalidValue(f"Unknown channel '{channel}'.")
        if category is not None and category not in CATEGORIES:
            raise InvalidValue(f"Unknown category '{category}'.")
        if received_at > at:
            raise InvalidValue("'received_at' may not be in the future.")
        deadlines = _start_from_receipt(policy, calendar, received_at, category)
        return cls._create(
            cls.Registered,
            id=id,
            timestamp=at,
            actor=actor.as_dict(),
            case_number=case_number,
            customer=dict(customer),
            channel=channel,
            description=description,
            category=category,
            received_at=received_at,
            policy={"id": policy.id, "version": policy.version},
            deadlines={k: v.to_dict() for k, v in deadlines.items()},
        )

    # -- workflow ---------------------------------------------------------------

    def accept(
        self,
        actor: Actor,
        at: datetime,
        *,
        category: str,
        severity: str,
        reason: str | None,
        policy: SlaPolicy,
        calendar: Calendar,
    ) -> None:
        """Accept and classify the complaint: acceptance ends, investigation starts."""
        self._check(Action.ACCEPT)
        if category not in CATEGORIES:
            raise InvalidValue(f"Unknown category '{category}'.")
        if severity not in SEVERITIES:
            raise InvalidValue(f"Unknown severity '{severity}'.")
        self._record_late_breaches(("acceptance",), at)
        running = self._resumed(at, calendar)
        running["acceptance"] = clocks.complete(running["acceptance"], at)
        milestones = policy.milestones_for(category)
        # Reclassified away from a category: its own clocks (e.g. repair) stop.
        stopped = [name for name in running if name not in milestones]
        for name in stopped:
            del running[name]
        if "repair" in milestones and "repair" not in running:
            # A fault found at acceptance is still measured from receipt.
            running["repair"] = clocks.start(
                "repair", self.received_at, milestones["repair"], policy.warning_at, calendar
            )
        if "investigation" in milestones:
            running["investigation"] = clocks.start(
                "investigation", at, milestones["investigation"], policy.warning_at, calendar
            )
        self.trigger_event(
            self.Accepted,
            timestamp=at,
            actor=actor.as_dict(),
            category=category,
            severity=severity,
            reason=reason,
            deadlines=_dump(running),
            stopped=stopped,
        )

    def transfer(
        self, actor: Actor, at: datetime, *, to_agent: str | None, to_team: str | None, reason: str
    ) -> None:
        """Hand the case to another agent or team (S-4); the owner does not change."""
        self._check(Action.TRANSFER)
        if (to_agent is None) == (to_team is None):
            raise InvalidValue("Give exactly one of 'to_agent' and 'to_team'.")
        if to_team is not None and actor.role not in ("supervisor", "admin"):
            raise NotPermitted("Only a supervisor may transfer a case to another team.")
        assignee = (
            {"type": "agent", "id": to_agent} if to_agent else {"type": "team", "id": to_team}
        )
        self.trigger_event(
            self.Transferred,
            timestamp=at,
            actor=actor.as_dict(),
            assignee=assignee,
            reason=reason,
        )

    def investigate(
        self, actor: Actor, at: datetime, *, findings: str, policy: SlaPolicy, calendar: Calendar
    ) -> None:
        """Complete the preliminary investigation; the result clock starts."""
        self._check(Action.INVESTIGATE)
        self._record_late_breaches(("investigation",), at)
        running = self._resumed(at, calendar)
        if "investigation" in running:
            running["investigation"] = clocks.complete(running["investigation"], at)
        milestones = policy.milestones_for(self.category)
        if "result" in milestones:
            running["result"] = clocks.start(
                "result", at, milestones["result"], policy.warning_at, calendar
            )
        self.trigger_event(
            self.Investigated,
            timestamp=at,
            actor=actor.as_dict(),
            findings=findings,
            deadlines=_dump(running),
        )

    def resolve(
        self,
        actor: Actor,
        at: datetime,
        *,
        resolution: str,
        remedy: str | None,
        calendar: Calendar,
    ) -> None:
        """Give the customer the result; the result (and any repair) clock ends."""
        self._check(Action.RESOLVE)
        self._record_late_breaches(("result", "repair"), at)
        running = self._resumed(at, calendar)
        for name in ("result", "repair"):
            if name in running:
                running[name] = clocks.complete(running[name], at)
        self.trigger_event(
            self.Resolved,
            timestamp=at,
            actor=actor.as_dict(),
            resolution=resolution,
            remedy=remedy,
            deadlines=_dump(running),
        )

    def confirm(
        self, actor: Actor, at: datetime, *, satisfaction: int, comment: str | None
    ) -> None:
        """Record the customer's confirmation of the result and their rating."""
        self._check(Action.CONFIRM)
        if self.confirmed:
            raise CommandRejected("The customer has already confirmed the result.")
        if not 1 <= satisfaction <= 5:
            raise InvalidValue("'satisfaction' must be between 1 and 5.")
        self.trigger_event(
            self.Confirmed,
            timestamp=at,
            actor=actor.as_dict(),
            satisfaction=satisfaction,
            comment=comment,
        )

    def dispute(self, actor: Actor, at: datetime, *, reason: str) -> None:
        """Record that the customer disputes the result (S-8)."""
        self._check(Action.DISPUTE)
        if self.confirmed:
            raise CommandRejected("The customer has already confirmed the result.")
        self.trigger_event(self.Disputed, timestamp=at, actor=actor.as_dict(), reason=reason)

    def reopen(
        self,
        actor: Actor,
        at: datetime,
        *,
        reason: str | None,
        policy: SlaPolicy,
        calendar: Calendar,
    ) -> None:
        """Reopen a disputed case with a fresh investigation clock."""
        self._check(Action.REOPEN)
        running: dict[str, clocks.Deadline] = {}
        milestones = policy.milestones_for(self.category)
        if "investigation" in milestones:
            running["investigation"] = clocks.start(
                "investigation", at, milestones["investigation"], policy.warning_at, calendar
            )
        self.trigger_event(
            self.Reopened,
            timestamp=at,
            actor=actor.as_dict(),
            reason=reason,
            deadlines=_dump(running),
        )

    def escalate(
        self, actor: Actor, at: datetime, *, body: str, reference: str, reason: str | None
    ) -> None:
        """Send the case to an external appeal body (supervisors only)."""
        self._check(Action.ESCALATE)
        if actor.role not in ("supervisor", "admin"):
            raise NotPermitted("Only a supervisor may escalate a case.")
        self.trigger_event(
            self.Escalated,
            timestamp=at,
            actor=actor.as_dict(),
            body=body,
            reference=reference,
            reason=reason,
        )

    def close(self, actor: Actor, at: datetime, *, outcome: str, reason: str | None) -> None:
        """Close the case with its outcome (supervisors only)."""
        self._check(Action.CLOSE)
        if actor.role not in ("supervisor", "admin"):
            raise NotPermitted("Only a supervisor may close a case.")
        self.trigger_event(
            self.Closed, timestamp=at, actor=actor.as_dict(), outcome=outcome, reason=reason
        )

    def withdraw(self, actor: Actor, at: datetime, *, reason: str) -> None:
        """Record that the customer withdrew the complaint."""
        self._check(Action.WITHDRAW)
        self.trigger_event(self.Withdrawn, timestamp=at, actor=actor.as_dict(), reason=reason)

    def add_note(self, actor: Actor, at: datetime, *, text: str) -> None:
        """Add a note to the case file."""
        self._check(Action.NOTES)
        self.trigger_event(self.NoteAdded, timestamp=at, actor=actor.as_dict(), text=text)

    def record_contact_read(self, actor: Actor, at: datetime, *, purpose: str) -> None:
        """Put a read of the clear contact details on record."""
        self._check_not_erased()
        self.check_need_to_know(actor)
        self.trigger_event(self.ContactRead, timestamp=at, actor=actor.as_dict(), purpose=purpose)

    def update_contact(
        self, actor: Actor, at: datetime, *, customer: Mapping[str, Any], reason: str | None
    ) -> None:
        """Record corrected contact details (already sealed by the application)."""
        self._check_not_erased()
        self._check(Action.UPDATE_CONTACT)
        self.check_need_to_know(actor)
        self.trigger_event(
            self.ContactUpdated,
            timestamp=at,
            actor=actor.as_dict(),
            customer=dict(customer),
            reason=reason,
        )

    def erase(self, actor: Actor, at: datetime, *, reason: str) -> None:
        """Erase the customer's personal data after closure or withdrawal."""
        self._check(Action.ERASE)
        self._check_not_erased()
        if actor.role not in ("supervisor", "admin", "system"):
            raise NotPermitted("Only a supervisor or an administrator may erase personal data.")
        self.trigger_event(self.Erased, timestamp=at, actor=actor.as_dict(), reason=reason)

    def check_need_to_know(self, actor: Actor) -> None:
        """Only the owner, the assignee, supervisors and services handle clear contact details."""
        if actor.role in ("supervisor", "service", "admin"):
            return
        if actor.id == self.owner or (self.assignee and self.assignee.get("id") == actor.id):
            return
        raise NotPermitted("Only the owner, the assignee or a supervisor may handle the contact.")

    def _check_not_erased(self) -> None:
        if self.erased:
            raise PersonalDataErased("The customer's personal data has been erased.")

    def pause(
        self, actor: Actor, at: datetime, *, reason: str, policy: SlaPolicy, calendar: Calendar
    ) -> None:
        """Pause the running clocks that the policy lets pause (awaiting the customer)."""
        self._check(Action.PAUSE)
        if self.paused:
            raise CommandRejected("The clocks are already paused.")
        running = self._running()
        pausable = {k: v for k, v in running.items() if k in policy.pausable}
        if not pausable:
            raise CommandRejected("No running clock may be paused under the pinned policy.")
        changed = {k: clocks.pause(v, at, calendar) for k, v in pausable.items()}
        self.trigger_event(
            self.Paused,
            timestamp=at,
            actor=actor.as_dict(),
            reason=reason,
            deadlines=_dump(changed),
        )

    def resume(self, actor: Actor, at: datetime, *, reason: str | None, calendar: Calendar) -> None:
        """Resume paused clocks; their due times move by the paused working time."""
        self._check(Action.RESUME)
        if not self.paused:
            raise CommandRejected("The clocks are not paused.")
        changed = {
            k: clocks.resume(v, at, calendar) for k, v in self._running().items() if v.paused_at
        }
        self.trigger_event(
            self.Resumed,
            timestamp=at,
            actor=actor.as_dict(),
            reason=reason,
            deadlines=_dump(changed),
        )

    # -- deadlines ------------------------------------------------------------

    def raise_sla_events(self, now: datetime) -> list[str]:
        """Record each warning and breach now due, once per milestone.

        Returns the types of the events raised. A completed or paused milestone,
        or a complaint that is closed or withdrawn, raises nothing.
        """
        raised: list[str] = []
        if self.status in TERMINAL:
            return raised
        for name, deadline in self._running().items():
            if clocks.is_due_for_warning(deadline, now):
                self.trigger_event(
                    self.SlaWarning,
                    timestamp=now,
                    actor=dict(SYSTEM_ACTOR),
                    milestone=name,
                    due_at=deadline.due_at,
                )
                raised.append("SlaWarning")
            if clocks.is_due_for_breach(deadline, now):
                self.trigger_event(
                    self.SlaBreached,
                    timestamp=now,
                    actor=dict(SYSTEM_ACTOR),
                    milestone=name,
                    due_at=deadline.due_at,
                )
                raised.append("SlaBreached")
        return raised

    def _record_late_breaches(self, names: tuple[str, ...], at: datetime) -> None:
        """Record the breach of a milestone completed after its due time.

        The monitor may not have passed since the due time (its interval, a
        lease handover, downtime); the case file must still show the breach.
        """
        running = self._running()
        for name in names:
            deadline = running.get(name)
            if deadline is not None and clocks.is_due_for_breach(deadline, at):
                self.trigger_event(
                    self.SlaBreached,
                    timestamp=at,
                    actor=dict(SYSTEM_ACTOR),
                    milestone=name,
                    due_at=deadline.due_at,
                )

    def next_alarm(self) -> datetime | None:
        """The earliest instant at which a warning or breach falls due."""
        if self.status in TERMINAL:
            return None
        times: list[datetime] = []
        for deadline in self._running().values():
            if deadline.paused_at is not None:
                continue
            if deadline.warned_at is None and deadline.breached_at is None:
                times.append(deadline.warn_at)
            if deadline.breached_at is None:
                times.append(deadline.due_at)
        return min(times) if times else None

    def deadline(self, name: str) -> clocks.Deadline:
        """One milestone's deadline."""
        return clocks.Deadline.from_dict(self.deadlines[name])

    @property
    def breached(self) -> bool:
        """Whether any milestone has ever been breached, reopened rounds included."""
        return self.ever_breached

    @property
    def allowed_actions(self) -> list[str]:
        """What may be done next."""
        actions = allowed_actions(self.status)
        if self.erased:
            return [a for a in actions if a not in (Action.ERASE, Action.UPDATE_CONTACT)]
        return actions

    # -- internals -------------------------------------------------------------

    def _check(self, action: Action) -> None:
        if self.status not in ALLOWED[action]:
            raise ActionNotAllowed(action.value, self.status.value, self.allowed_actions)

    def _running(self) -> dict[str, clocks.Deadline]:
        return {
            name: clocks.Deadline.from_dict(raw)
            for name, raw in self.deadlines.items()
            if raw.get("completed_at") is None
        }

    def _resumed(self, at: datetime, calendar: Calendar) -> dict[str, clocks.Deadline]:
        """The running clocks, resumed first if paused: acting ends the wait."""
        running = self._running()
        if self.paused:
            running = {
                k: clocks.resume(v, at, calendar) if v.paused_at else v for k, v in running.items()
            }
        return running

    def _set_deadlines(self, deadlines: Deadlines, *, paused: bool) -> None:
        for name, raw in deadlines.items():
            self.deadlines[name] = dict(raw)
        self.paused = paused


def _start_from_receipt(
    policy: SlaPolicy, calendar: Calendar, received_at: datetime, category: str | None
) -> dict[str, clocks.Deadline]:
    milestones = policy.milestones_for(category)
    return {
        name: clocks.start(name, received_at, milestones[name], policy.warning_at, calendar)
        for name in _FROM_RECEIPT
        if name in milestones
    }


def _dump(deadlines: Mapping[str, clocks.Deadline]) -> Deadlines:
    return {name: d.to_dict() for name, d in deadlines.items()}
