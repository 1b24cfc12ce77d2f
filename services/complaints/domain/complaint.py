"""The Complaint aggregate: its event history is the mandated case file (S-6).

Every change is a domain event named in the past tense and nested in the
aggregate. Each event carries who acted (`actor`: id and role), when (its
`timestamp`, taken from the injectable clock) and why (`reason`, where the
action has one). Deadlines are computed when an event is decided and carried
by the event itself, so replaying the history never depends on today's
policy files.

This module holds the aggregate's events, its state and how each event
applies to it; the events stay nested here, where their stored topics
(`services.complaints.domain.complaint:Complaint.Registered`, ...) name them.
The commands that decide the events are its parts, one idea each: `handling`,
`customer_answers`, `closure`, `follow_up`, `case_file`, `pauses`, `alarms`,
on `next_actions` and `case_clocks` (their shared shape: `case_state`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from services.complaints.domain import deadline as clocks
from services.complaints.domain.actors import SUPERVISING, SYSTEM_ACTOR, Actor
from services.complaints.domain.alarms import Alarms
from services.complaints.domain.case_clocks import FOLLOW_UP
from services.complaints.domain.case_file import CaseFile
from services.complaints.domain.case_state import Deadlines
from services.complaints.domain.closure import DEEMED_ACCEPTED, UPHELD, Closure
from services.complaints.domain.customer_answers import CustomerAnswers
from services.complaints.domain.follow_up import FollowUps
from services.complaints.domain.handling import CATEGORIES, CHANNELS, SEVERITIES, TIERS, Handling
from services.complaints.domain.pauses import Pauses, pause_allowance
from services.complaints.domain.workflow import Status

# Names long imported from this module, kept importable from here.
__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "DEEMED_ACCEPTED",
    "FOLLOW_UP",
    "SEVERITIES",
    "SUPERVISING",
    "SYSTEM_ACTOR",
    "TIERS",
    "UPHELD",
    "Actor",
    "Complaint",
    "Deadlines",
    "pause_allowance",
]


def _upcast_to(**defaults: Any) -> Any:
    """An eventsourcing upcaster giving events stored before a field existed its default."""

    def upcast(state: dict[str, Any]) -> None:
        for key, value in defaults.items():
            state.setdefault(key, value)

    return staticmethod(upcast)


class Complaint(Handling, CustomerAnswers, Closure, FollowUps, CaseFile, Pauses, Alarms, Aggregate):
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
        # Added later; events recorded before them lack these (read with getattr).
        referral: dict[str, Any] | None
        repeat_of: list[dict[str, Any]]
        tier: str

        class_version = 2
        upcast_v1_v2 = _upcast_to(tier="standard")

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
        confirmation_due_at: datetime | None

        class_version = 2
        upcast_v1_v2 = _upcast_to(confirmation_due_at=None)

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.RESOLVED
            aggregate.resolution = self.resolution
            aggregate.remedy = self.remedy
            aggregate.confirmation_due_at = self.confirmation_due_at
            aggregate._set_deadlines(self.deadlines, paused=False)

    class Restored(Event):
        """The network service was restored (network faults): the repair clock stops."""

        restored_at: datetime
        how: str
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate.restored_at = self.restored_at
            aggregate._set_deadlines(self.deadlines, paused=aggregate.paused)

    class Confirmed(Event):
        """The customer confirmed the result and rated the handling."""

        satisfaction: int
        comment: str | None

        def apply(self, aggregate: Complaint) -> None:
            aggregate.confirmed = True
            aggregate.satisfaction = self.satisfaction

    class Disputed(Event):
        """The customer disputed the result; after closure, within the window, it reopens."""

        reason: str
        deadlines: Deadlines
        after_close: bool

        class_version = 2
        upcast_v1_v2 = _upcast_to(deadlines={}, after_close=False)

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.DISPUTED
            aggregate.confirmation_due_at = None
            if self.after_close:
                aggregate.closed_at = None
                aggregate.outcome = None
                aggregate.dispute_until = None
                aggregate.disputed_after_close += 1
            aggregate._set_deadlines(self.deadlines, paused=False)

    class Reopened(Event):
        """The disputed (or returned) case was reopened with fresh handling clocks."""

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
        deadlines: Deadlines

        class_version = 2
        upcast_v1_v2 = _upcast_to(deadlines={})

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.ESCALATED
            aggregate.escalation = {"body": self.body, "reference": self.reference}
            aggregate.confirmation_due_at = None
            aggregate._set_deadlines(self.deadlines, paused=False)

    class Returned(Event):
        """The appeal body sent the case back with its decision."""

        decision: str
        reference: str

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.RETURNED
            aggregate.appeal_return = {"reference": self.reference}

    class Closed(Event):
        """A supervisor closed the case with its outcome."""

        outcome: str
        reason: str | None
        deadlines: Deadlines
        early: bool
        rated: bool
        dispute_until: datetime | None

        class_version = 2
        upcast_v1_v2 = _upcast_to(deadlines={}, early=False, rated=False, dispute_until=None)

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.CLOSED
            aggregate.outcome = self.outcome
            aggregate.closed_at = self.timestamp
            aggregate.dispute_until = self.dispute_until
            aggregate._set_deadlines(self.deadlines, paused=False)

    class FollowUpDemanded(Event):
        """A supervisor demanded follow-up (督办) by a deadline of its own."""

        text: str
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate._set_deadlines(self.deadlines, paused=aggregate.paused)

    class FollowUpAnswered(Event):
        """The owner or assignee answered the follow-up demand."""

        text: str
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate._set_deadlines(self.deadlines, paused=aggregate.paused)

    class LadderStepReached(Event):
        """A rung of the policy's escalation ladder (督办) was reached on an open milestone."""

        milestone: str
        level: int
        notify: str
        reached_at: datetime

        def apply(self, aggregate: Complaint) -> None:
            aggregate.ladder_reached = [
                *(aggregate.ladder_reached or []),
                f"{self.milestone}:{self.level}",
            ]

    class DeemedAccepted(Event):
        """The confirmation window passed in silence: the result is accepted, the case closed."""

        window_ended_at: datetime
        dispute_until: datetime | None

        def apply(self, aggregate: Complaint) -> None:
            aggregate.status = Status.CLOSED
            aggregate.outcome = DEEMED_ACCEPTED
            aggregate.closed_at = self.timestamp
            aggregate.dispute_until = self.dispute_until

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
        """The clocks were paused, for a reason code, until `resume_at` or the policy's limit."""

        reason: str
        deadlines: Deadlines
        note: str | None
        resume_at: datetime | None
        limit_at: datetime | None

        class_version = 2
        upcast_v1_v2 = _upcast_to(note=None, resume_at=None, limit_at=None)

        def apply(self, aggregate: Complaint) -> None:
            aggregate.pause_since = self.timestamp
            aggregate.pause_resume_at = self.resume_at
            aggregate.pause_ends_at = min(
                (t for t in (self.resume_at, self.limit_at) if t is not None), default=None
            )
            aggregate._set_deadlines(self.deadlines, paused=True)

    class Resumed(Event):
        """The clocks were resumed; due times moved by the paused working time."""

        reason: str | None
        deadlines: Deadlines

        def apply(self, aggregate: Complaint) -> None:
            aggregate._set_deadlines(self.deadlines, paused=False)

    class AutoResumed(Event):
        """The clocks resumed by themselves: at the pause's `resume_at`, or at its limit."""

        trigger: str  # "resume_at" | "limit"
        resumed_at: datetime
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
        referral: dict[str, Any] | None = None,
        repeat_of: list[dict[str, Any]] | None = None,
        tier: str = "standard",
    ) -> None:
        self.case_number = case_number
        # An appeal centre's referral (body, reference, received_at, due_at), if referred.
        self.referral = dict(referral) if referral else None
        # Earlier complaints of the same customer this one repeats (id, case number, receipt).
        self.repeat_of = [dict(r) for r in repeat_of or []]
        self.status = Status.RECEIVED
        self.customer = dict(customer)
        self.channel = channel
        self.description = description
        self.category = category
        self.severity: str | None = None
        self.tier = tier
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
        self.confirmation_due_at: datetime | None = None
        self.dispute_until: datetime | None = None
        self.disputed_after_close = 0
        self.restored_at: datetime | None = None
        self.appeal_return: dict[str, str] | None = None
        self.pause_since: datetime | None = None
        self.pause_ends_at: datetime | None = None
        self.pause_resume_at: datetime | None = None
        self.ladder_reached: list[str] | None = None
        self.paused_seconds = 0.0  # all pauses of the case together, wall-clock

    @property
    def status(self) -> Status:
        """Where the complaint stands (held as text, so snapshots restore it as is)."""
        return Status(self._status)

    @status.setter
    def status(self, value: Status) -> None:
        self._status = value.value


# Attributes added after events were first stored: a snapshot taken before they
# existed restores without them, and reads these instead.
for _name, _default in {
    "tier": "standard",
    "confirmation_due_at": None,
    "dispute_until": None,
    "disputed_after_close": 0,
    "restored_at": None,
    "appeal_return": None,
    "pause_since": None,
    "pause_ends_at": None,
    "pause_resume_at": None,
    "paused_seconds": 0.0,
    "ladder_reached": None,
}.items():
    setattr(Complaint, _name, _default)
