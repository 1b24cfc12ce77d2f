"""The Complaint aggregate: its event history is the mandated case file (S-6).

Every change is a domain event named in the past tense and nested in the
aggregate. Each event carries who acted (`actor`: id and role), when (its
`timestamp`, taken from the injectable clock) and why (`reason`, where the
action has one). Deadlines are computed when an event is decided and carried
by the event itself, so replaying the history never depends on today's
policy files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate

from services.complaints.domain import allowance
from services.complaints.domain import deadline as clocks
from services.complaints.domain.calendar import AroundTheClock, Calendar, as_utc
from services.complaints.domain.errors import (
    ActionNotAllowed,
    CommandRejected,
    InvalidValue,
    NotPermitted,
    PersonalDataErased,
)
from services.complaints.domain.policy import LadderStep, PauseRules, SlaPolicy
from services.complaints.domain.workflow import (
    ALLOWED,
    TERMINAL,
    Action,
    Status,
    allowed_actions,
)

SYSTEM_ACTOR = {"id": "deadline-monitor", "role": "system"}
SUPERVISING = ("supervisor", "admin")
TIERS = ("standard", "vip", "enterprise")
DEEMED_ACCEPTED = "deemed_accepted"
UPHELD = "upheld"

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
# `reply` is the answer an appeal centre expects to a referral: from receipt to the result.
_FROM_RECEIPT = ("acceptance", "repair", "overall", "reply")
_ENDED_BY_RESULT = ("result", "repair", "overall", "reply")
_ANSWERS = ("dispute", "appeal")
FOLLOW_UP = "follow_up"  # a supervisor's follow-up demand (督办): its own clock
_WALL_CLOCK = AroundTheClock()  # the clocks an answer to a dispute or an appeal stops


def _upcast_to(**defaults: Any) -> Any:
    """An eventsourcing upcaster giving events stored before a field existed its default."""

    def upcast(state: dict[str, Any]) -> None:
        for key, value in defaults.items():
            state.setdefault(key, value)

    return staticmethod(upcast)


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
        referral: Mapping[str, Any] | None = None,
        repeat_of: list[dict[str, Any]] | None = None,
        tier: str = "standard",
    ) -> Complaint:
        """Register a complaint received at `received_at`, pinning `policy`.

        A complaint referred by an appeal centre (channel `regulator`) carries
        the `referral`; its `due_at`, when the centre set one, is the due time
        of the `reply` milestone. `repeat_of` lists the earlier complaints of
        the same customer that this one repeats.
        """
        if channel not in CHANNELS:
            raise InvalidValue(f"Unknown channel '{channel}'.")
        if (channel == "regulator") != (referral is not None):
            raise InvalidValue(
                "A complaint comes with a 'referral' exactly when its channel is 'regulator'."
            )
        if category is not None and category not in CATEGORIES:
            raise InvalidValue(f"Unknown category '{category}'.")
        if tier not in TIERS:
            raise InvalidValue(f"Unknown tier '{tier}'.")
        if received_at > at:
            raise InvalidValue("'received_at' may not be in the future.")
        milestones = policy.milestones_for(category, None, tier)
        deadlines = {
            name: _start(policy, calendar, name, received_at, milestones[name])
            for name in _FROM_RECEIPT
            if name in milestones
        }
        referral_record = None
        if referral is not None:
            due = referral.get("due_at")
            if due is not None:
                if due <= received_at:
                    raise InvalidValue("The referral's 'due_at' must be after its receipt.")
                deadlines["reply"] = clocks.start_until(
                    "reply", received_at, due, policy.warning_at, calendar
                )
            referral_record = {
                "body": str(referral["body"]),
                "reference": str(referral["reference"]),
                "received_at": as_utc(referral["received_at"], "received_at").isoformat(),
                "due_at": None if due is None else as_utc(due, "due_at").isoformat(),
            }
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
            referral=referral_record,
            repeat_of=[dict(r) for r in repeat_of or []],
            tier=tier,
        )

    # -- handling -----------------------------------------------------------------

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
        """Accept and classify the complaint: acceptance ends, investigation starts.

        The classification may change what the receipt's clocks allow (a
        critical fault's repair target): running ones are re-timed from their start.
        """
        self._check(Action.ACCEPT)
        if category not in CATEGORIES:
            raise InvalidValue(f"Unknown category '{category}'.")
        if severity not in SEVERITIES:
            raise InvalidValue(f"Unknown severity '{severity}'.")
        self._record_late_breaches(("acceptance",), at)
        running = self._resumed(at, policy, calendar)
        running["acceptance"] = clocks.complete(running["acceptance"], at)
        milestones = policy.milestones_for(category, severity, self.tier)
        # Reclassified away from a category: its own clocks (e.g. repair) stop.
        stopped = [name for name in running if name not in milestones]
        for name in stopped:
            del running[name]
        for name in ("repair", "overall"):
            if name in milestones and name not in running and name not in self.deadlines:
                # A fault found at acceptance is still measured from receipt.
                running[name] = _start(policy, calendar, name, self.received_at, milestones[name])
            elif name in running and not running[name].is_completed:
                running[name] = _retimed(policy, calendar, running[name], milestones[name])
        if "investigation" in milestones:
            running["investigation"] = _start(
                policy, calendar, "investigation", at, milestones["investigation"]
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
        if to_team is not None and actor.role not in SUPERVISING:
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
        running = self._resumed(at, policy, calendar)
        if "investigation" in running:
            running["investigation"] = clocks.complete(running["investigation"], at)
        milestones = self._milestones(policy)
        if "result" in milestones:
            running["result"] = _start(policy, calendar, "result", at, milestones["result"])
        self.trigger_event(
            self.Investigated,
            timestamp=at,
            actor=actor.as_dict(),
            findings=findings,
            deadlines=_dump(running),
        )

    def restore(
        self,
        actor: Actor,
        at: datetime,
        *,
        restored_at: datetime | None,
        how: str,
        policy: SlaPolicy,
        calendar: Calendar,
    ) -> None:
        """Record that service was restored: the repair clock stops, whatever the result."""
        self._check(Action.RESTORE)
        when = restored_at or at
        if when > at:
            raise InvalidValue("'restored_at' may not be in the future.")
        if when < self.received_at:
            raise InvalidValue("'restored_at' may not be before the complaint was received.")
        running = self._running()
        if "repair" not in running:
            # Nothing to restore: refused like any action the case does not offer now.
            raise ActionNotAllowed(Action.RESTORE.value, self.status.value, self.allowed_actions)
        repair = running["repair"]
        if repair.is_paused:
            repair = clocks.resume(repair, max(when, repair.paused_at or when), calendar)
        repair = clocks.complete(repair, when)
        if clocks.is_due_for_breach(repair, at):
            self._trigger_breach("repair", repair.due_at, at)
        self.trigger_event(
            self.Restored,
            timestamp=at,
            actor=actor.as_dict(),
            restored_at=when,
            how=how,
            deadlines=_dump({"repair": repair}),
        )

    def resolve(
        self,
        actor: Actor,
        at: datetime,
        *,
        resolution: str,
        remedy: str | None,
        calendar: Calendar,
        policy: SlaPolicy | None = None,
    ) -> None:
        """Give the customer the result; the result, overall and any repair clock end.

        The confirmation window of the policy starts: silence until its end is
        deemed acceptance.
        """
        self._check(Action.RESOLVE)
        self._record_late_breaches(_ENDED_BY_RESULT, at)
        running = self._resumed(at, policy, calendar)
        for name in _ENDED_BY_RESULT:
            if name in running:
                running[name] = clocks.complete(running[name], at)
        window = policy.window("confirmation") if policy else None
        until = None
        if policy is not None and window is not None:
            until = allowance.due(policy.calendar_for("confirmation", calendar), at, window)
        self.trigger_event(
            self.Resolved,
            timestamp=at,
            actor=actor.as_dict(),
            resolution=resolution,
            remedy=remedy,
            deadlines=_dump(running),
            confirmation_due_at=until,
        )

    # -- the customer's answer -------------------------------------------------------

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

    def dispute(
        self,
        actor: Actor,
        at: datetime,
        *,
        reason: str,
        policy: SlaPolicy | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        """Record that the customer disputes the result (S-8); the dispute clock starts.

        A closed case may be disputed until the end of its post-closure window:
        it reopens as disputed, with a fresh dispute clock.
        """
        self._check(Action.DISPUTE)
        after_close = self.status is Status.CLOSED
        if after_close:
            if self.erased:
                raise CommandRejected("The case's personal data was erased: it cannot reopen.")
            if self.dispute_until is None:
                raise CommandRejected("This closure cannot be disputed with the operator.")
            if at > self.dispute_until:
                raise CommandRejected(
                    "The window for disputing the closed case ended at "
                    f"{self.dispute_until.isoformat()}."
                )
        elif self.confirmed:
            raise CommandRejected("The customer has already confirmed the result.")
        running: dict[str, clocks.Deadline] = {}
        if policy is not None and calendar is not None:
            milestones = self._milestones(policy)
            if "dispute" in milestones:
                running["dispute"] = _start(policy, calendar, "dispute", at, milestones["dispute"])
        self.trigger_event(
            self.Disputed,
            timestamp=at,
            actor=actor.as_dict(),
            reason=reason,
            deadlines=_dump(running),
            after_close=after_close,
        )

    # -- answers to a dispute or an appeal --------------------------------------------

    def reopen(
        self,
        actor: Actor,
        at: datetime,
        *,
        reason: str | None,
        policy: SlaPolicy,
        calendar: Calendar,
    ) -> None:
        """Reopen a disputed or returned case with fresh handling clocks."""
        self._check(Action.REOPEN)
        running = self._answered(at)
        milestones = self._milestones(policy)
        for name in ("investigation", "overall"):
            if name in milestones:
                running[name] = _start(policy, calendar, name, at, milestones[name])
        self.trigger_event(
            self.Reopened,
            timestamp=at,
            actor=actor.as_dict(),
            reason=reason,
            deadlines=_dump(running),
        )

    def escalate(
        self,
        actor: Actor,
        at: datetime,
        *,
        body: str,
        reference: str,
        reason: str | None,
        policy: SlaPolicy | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        """Send the case to an external appeal body (supervisors only); the appeal clock starts.

        After the customer confirmed the result, only with a recorded reason.
        """
        self._check(Action.ESCALATE)
        if actor.role not in SUPERVISING:
            raise NotPermitted("Only a supervisor may escalate a case.")
        if self.confirmed and not reason:
            raise InvalidValue(
                "The customer confirmed the result: give the 'reason' for escalating anyway."
            )
        running = self._answered(at)
        if policy is not None and calendar is not None:
            milestones = self._milestones(policy)
            if "appeal" in milestones:
                running["appeal"] = _start(policy, calendar, "appeal", at, milestones["appeal"])
        self.trigger_event(
            self.Escalated,
            timestamp=at,
            actor=actor.as_dict(),
            body=body,
            reference=reference,
            reason=reason,
            deadlines=_dump(running),
        )

    def return_from_appeal(
        self, actor: Actor, at: datetime, *, decision: str, reference: str
    ) -> None:
        """Record that the appeal body sent the case back with its decision (supervisors).

        The appeal clock keeps running until the operator acts on the decision:
        reopens the case or closes it.
        """
        self._check(Action.RETURN)
        if actor.role not in SUPERVISING:
            raise NotPermitted("Only a supervisor may record the appeal body's return.")
        self.trigger_event(
            self.Returned,
            timestamp=at,
            actor=actor.as_dict(),
            decision=decision,
            reference=reference,
        )

    def close(
        self,
        actor: Actor,
        at: datetime,
        *,
        outcome: str,
        reason: str | None,
        policy: SlaPolicy | None = None,
        calendar: Calendar | None = None,
        upheld: bool | None = None,
    ) -> None:
        """Close the case with its outcome (supervisors only).

        A result not yet confirmed closes before its window ends only with a
        reason; a disputed case closes only as `upheld`, with a reason. The
        application seals the outcome's words and says in `upheld` whether they
        were `upheld`; without it, `outcome` itself is read.
        """
        self._check(Action.CLOSE)
        if actor.role not in SUPERVISING:
            raise NotPermitted("Only a supervisor may close a case.")
        early = (
            self.status is Status.RESOLVED
            and not self.confirmed
            and self.confirmation_due_at is not None
            and at < self.confirmation_due_at
        )
        if early and not reason:
            raise InvalidValue(
                "The confirmation window is still open: give the 'reason' for closing early."
            )
        is_upheld = outcome == UPHELD if upheld is None else upheld
        if self.status is Status.DISPUTED and (not is_upheld or not reason):
            raise InvalidValue(
                f"A disputed case closes only with outcome '{UPHELD}' and a 'reason'."
            )
        dispute_until = None
        if self.status is Status.RESOLVED and policy is not None and calendar is not None:
            dispute_until = _window_end(policy, calendar, "dispute_after_close", at)
        self.trigger_event(
            self.Closed,
            timestamp=at,
            actor=actor.as_dict(),
            outcome=outcome,
            reason=reason,
            deadlines=_dump(self._answered(at)),
            early=early,
            rated=self.satisfaction is not None,
            dispute_until=dispute_until,
        )

    def demand_follow_up(
        self, actor: Actor, at: datetime, *, text: str, within: timedelta, warning_at: float
    ) -> None:
        """Record a supervisor's follow-up demand (督办); its own clock runs for `within`."""
        self._check(Action.FOLLOW_UP)
        if actor.role not in SUPERVISING:
            raise NotPermitted("Only a supervisor may demand follow-up.")
        if FOLLOW_UP in self._running():
            raise CommandRejected("A follow-up demand is already open on this case.")
        if within <= timedelta(0):
            raise InvalidValue("'within' must be a positive duration.")
        # Wall-clock: a supervisor's demand names real time ("within 2 hours").
        clock = clocks.start(FOLLOW_UP, at, within, warning_at, _WALL_CLOCK)
        self.trigger_event(
            self.FollowUpDemanded,
            timestamp=at,
            actor=actor.as_dict(),
            text=text,
            deadlines=_dump({FOLLOW_UP: clock}),
        )

    def answer_follow_up(self, actor: Actor, at: datetime, *, text: str) -> None:
        """Answer the open follow-up demand; its clock completes (late: a breach)."""
        self._check(Action.ANSWER_FOLLOW_UP)
        running = self._running()
        if FOLLOW_UP not in running:
            # No open demand: refused like any action the case does not offer now.
            raise ActionNotAllowed(
                Action.ANSWER_FOLLOW_UP.value, self.status.value, self.allowed_actions
            )
        self._record_late_breaches((FOLLOW_UP,), at)
        self.trigger_event(
            self.FollowUpAnswered,
            timestamp=at,
            actor=actor.as_dict(),
            text=text,
            deadlines=_dump({FOLLOW_UP: clocks.complete(running[FOLLOW_UP], at)}),
        )

    def withdraw(self, actor: Actor, at: datetime, *, reason: str) -> None:
        """Record that the customer withdrew the complaint."""
        self._check(Action.WITHDRAW)
        self.trigger_event(self.Withdrawn, timestamp=at, actor=actor.as_dict(), reason=reason)

    # -- the case file --------------------------------------------------------------

    def add_note(self, actor: Actor, at: datetime, *, text: str) -> None:
        """Add a note to the case file (never after erasure: no new free text then)."""
        self._check_not_erased()
        self._check(Action.NOTES)
        self.trigger_event(self.NoteAdded, timestamp=at, actor=actor.as_dict(), text=text)

    def record_contact_read(self, actor: Actor, at: datetime, *, purpose: str) -> None:
        """Put a read of the clear contact details on record."""
        self._check_not_erased()
        self.trigger_event(self.ContactRead, timestamp=at, actor=actor.as_dict(), purpose=purpose)

    def update_contact(
        self, actor: Actor, at: datetime, *, customer: Mapping[str, Any], reason: str | None
    ) -> None:
        """Record corrected contact details (already sealed by the application)."""
        self._check_not_erased()
        self._check(Action.UPDATE_CONTACT)
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

    def _check_not_erased(self) -> None:
        if self.erased:
            raise PersonalDataErased("The customer's personal data has been erased.")

    # -- pauses -----------------------------------------------------------------------

    def pause(
        self,
        actor: Actor,
        at: datetime,
        *,
        reason: str,
        policy: SlaPolicy,
        calendar: Calendar,
        note: str | None = None,
        resume_at: datetime | None = None,
    ) -> None:
        """Pause the running clocks the policy lets pause, for one of its reason codes.

        The pause ends by itself at `resume_at`, or when a clock would exceed
        the policy's longest pause per milestone or in total, whichever is first.
        """
        self._check(Action.PAUSE)
        if self.paused:
            raise CommandRejected("The clocks are already paused.")
        rules = policy.pause
        if self.status is Status.RECEIVED and not rules.before_acceptance:
            raise CommandRejected("The policy allows no pause before acceptance.")
        if rules.reasons is not None and reason not in rules.reasons:
            raise InvalidValue(
                f"Unknown pause reason '{reason}'; the policy allows: "
                f"{', '.join(sorted(rules.reasons))}."
            )
        if resume_at is not None and resume_at <= at:
            raise InvalidValue("'resume_at' must be in the future.")
        running = self._running()
        pausable = {k: v for k, v in running.items() if k in policy.pausable}
        if not pausable:
            raise CommandRejected("No running clock may be paused under the pinned policy.")
        left = pause_allowance(rules, self.paused_total, pausable.values())
        if left is not None and left <= timedelta(0):
            raise CommandRejected("The policy's longest pause is used up.")
        changed = {
            k: clocks.pause(v, at, policy.calendar_for(k, calendar)) for k, v in pausable.items()
        }
        self.trigger_event(
            self.Paused,
            timestamp=at,
            actor=actor.as_dict(),
            reason=reason,
            deadlines=_dump(changed),
            note=note,
            resume_at=resume_at,
            limit_at=None if left is None else at + left,
        )

    def resume(
        self,
        actor: Actor,
        at: datetime,
        *,
        reason: str | None,
        calendar: Calendar,
        policy: SlaPolicy | None = None,
    ) -> None:
        """Resume paused clocks; their due times move by the paused working time."""
        self._check(Action.RESUME)
        if not self.paused:
            raise CommandRejected("The clocks are not paused.")
        self.trigger_event(
            self.Resumed,
            timestamp=at,
            actor=actor.as_dict(),
            reason=reason,
            deadlines=_dump(self._resumed_only(at, policy, calendar)),
        )

    # -- deadlines ------------------------------------------------------------

    def raise_sla_events(
        self, now: datetime, policy: SlaPolicy | None = None, calendar: Calendar | None = None
    ) -> list[str]:
        """Record everything the clock made due by `now`, once each.

        In order: a pause that reached its end resumes; a result left
        unanswered past its confirmation window is deemed accepted and closed;
        each warning and breach now due is recorded once per milestone. When
        the warning and the breach of a milestone fall due in the same pass
        (the monitor was away), the breach alone is recorded: it supersedes.
        Returns the types of the events raised.
        """
        raised: list[str] = []
        if self.status in TERMINAL:
            return raised
        if (
            self.paused
            and self.pause_ends_at is not None
            and now >= self.pause_ends_at
            and calendar is not None
        ):
            ended = self.pause_ends_at
            trigger = "resume_at" if self._pause_resume_at_first() else "limit"
            self.trigger_event(
                self.AutoResumed,
                timestamp=now,
                actor=dict(SYSTEM_ACTOR),
                trigger=trigger,
                resumed_at=ended,
                deadlines=_dump(self._resumed_only(ended, policy, calendar)),
            )
            raised.append("AutoResumed")
        if (
            self.status is Status.RESOLVED
            and not self.confirmed
            and self.confirmation_due_at is not None
            and now >= self.confirmation_due_at
        ):
            dispute_until = None
            if policy is not None and calendar is not None:
                dispute_until = _window_end(policy, calendar, "dispute_after_close", now)
            self.trigger_event(
                self.DeemedAccepted,
                timestamp=now,
                actor=dict(SYSTEM_ACTOR),
                window_ended_at=self.confirmation_due_at,
                dispute_until=dispute_until,
            )
            raised.append("DeemedAccepted")
            return raised
        for name, deadline in self._running().items():
            breach = clocks.is_due_for_breach(deadline, now)
            if clocks.is_due_for_warning(deadline, now) and not breach:
                self.trigger_event(
                    self.SlaWarning,
                    timestamp=now,
                    actor=dict(SYSTEM_ACTOR),
                    milestone=name,
                    due_at=deadline.due_at,
                )
                raised.append("SlaWarning")
            if breach:
                self._trigger_breach(name, deadline.due_at, now)
                raised.append("SlaBreached")
        if policy is not None:
            for name, level, step, due in self._ladder_due(policy):
                if due <= now:
                    self.trigger_event(
                        self.LadderStepReached,
                        timestamp=now,
                        actor=dict(SYSTEM_ACTOR),
                        milestone=name,
                        level=level,
                        notify=step.notify,
                        reached_at=due,
                    )
                    raised.append("LadderStepReached")
        return raised

    def _ladder_due(self, policy: SlaPolicy) -> list[tuple[str, int, LadderStep, datetime]]:
        """The ladder steps not yet reached on open milestones, with when each falls due."""
        reached = set(self.ladder_reached or [])
        out = []
        for name, deadline in self._running().items():
            if deadline.is_paused:
                continue
            for level, step in enumerate(policy.ladder, start=1):
                if not step.covers(name) or f"{name}:{level}" in reached:
                    continue
                point = deadline.warn_at if step.at == "warning" else deadline.due_at
                out.append((name, level, step, point + step.after))
        return out

    def _pause_resume_at_first(self) -> bool:
        return self.pause_resume_at is not None and self.pause_resume_at == self.pause_ends_at

    def _trigger_breach(self, name: str, due_at: datetime, at: datetime) -> None:
        self.trigger_event(
            self.SlaBreached,
            timestamp=at,
            actor=dict(SYSTEM_ACTOR),
            milestone=name,
            due_at=due_at,
        )

    def _record_late_breaches(self, names: tuple[str, ...], at: datetime) -> None:
        """Record the breach of a milestone completed after its due time.

        The monitor may not have passed since the due time (its interval, a
        lease handover, downtime); the case file must still show the breach.
        """
        running = self._running()
        for name in names:
            deadline = running.get(name)
            if deadline is not None and clocks.is_due_for_breach(deadline, at):
                self._trigger_breach(name, deadline.due_at, at)

    def next_alarm(self, policy: SlaPolicy | None = None) -> datetime | None:
        """The earliest instant at which the monitor has something to record."""
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
        if self.paused and self.pause_ends_at is not None:
            times.append(self.pause_ends_at)
        if policy is not None and policy.ladder:
            times.extend(due for *_, due in self._ladder_due(policy))
        if (
            self.status is Status.RESOLVED
            and not self.confirmed
            and self.confirmation_due_at is not None
        ):
            times.append(self.confirmation_due_at)
        return min(times) if times else None

    def deadline(self, name: str) -> clocks.Deadline:
        """One milestone's deadline."""
        return clocks.Deadline.from_dict(self.deadlines[name])

    @property
    def breached(self) -> bool:
        """Whether any milestone has ever been breached, reopened rounds included."""
        return self.ever_breached

    @property
    def paused_total(self) -> timedelta:
        """Wall-clock time the case's clocks have stood still, finished pauses only."""
        return timedelta(seconds=self.paused_seconds)

    @property
    def time_to_restore(self) -> timedelta | None:
        """From receipt to the restoration of service, once restored."""
        return None if self.restored_at is None else self.restored_at - self.received_at

    @property
    def allowed_actions(self) -> list[str]:
        """What may be done next."""
        actions = allowed_actions(self.status)
        if self.erased:
            # Final: nothing more goes on file that could carry personal data.
            return []
        if self.status is Status.CLOSED and (self.erased or self.dispute_until is None):
            actions = [a for a in actions if a != Action.DISPUTE]
        if self.assignee:
            actions = [a for a in actions if a != Action.CLAIM]  # only an unassigned case
        running = self._running()
        if "repair" not in running:
            actions = [a for a in actions if a != Action.RESTORE]
        if FOLLOW_UP not in running:
            actions = [a for a in actions if a != Action.ANSWER_FOLLOW_UP]
        return actions

    # -- internals -------------------------------------------------------------

    def _check(self, action: Action) -> None:
        if self.status not in ALLOWED[action]:
            raise ActionNotAllowed(action.value, self.status.value, self.allowed_actions)

    def _milestones(self, policy: SlaPolicy) -> dict[str, timedelta]:
        return policy.milestones_for(self.category, self.severity, self.tier)

    def _running(self) -> dict[str, clocks.Deadline]:
        return {
            name: clocks.Deadline.from_dict(raw)
            for name, raw in self.deadlines.items()
            if raw.get("completed_at") is None
        }

    def _answered(self, at: datetime) -> dict[str, clocks.Deadline]:
        """The dispute and appeal clocks, completed at `at` (a late answer is a breach)."""
        self._record_late_breaches(_ANSWERS, at)
        running = self._running()
        return {name: clocks.complete(running[name], at) for name in _ANSWERS if name in running}

    def _resumed_only(
        self, at: datetime, policy: SlaPolicy | None, calendar: Calendar
    ) -> dict[str, clocks.Deadline]:
        return {
            k: clocks.resume(v, at, _calendar(policy, k, calendar))
            for k, v in self._running().items()
            if v.paused_at
        }

    def _resumed(
        self, at: datetime, policy: SlaPolicy | None, calendar: Calendar
    ) -> dict[str, clocks.Deadline]:
        """The running clocks, resumed first if paused: acting ends the wait."""
        running = self._running()
        if self.paused:
            running.update(self._resumed_only(at, policy, calendar))
        return running

    def _set_deadlines(self, deadlines: Deadlines, *, paused: bool) -> None:
        if self.paused and not paused and self.pause_since is not None:
            # The pause ends where the clocks resumed (at the event, or at its limit).
            ends = [
                clocks.Deadline.from_dict(raw).resumed_at
                for raw in deadlines.values()
                if raw.get("resumed_at")
            ]
            ended = max((e for e in ends if e is not None), default=None)
            if ended is not None and ended >= self.pause_since:
                self.paused_seconds += (ended - self.pause_since).total_seconds()
            self.pause_since = None
            self.pause_ends_at = None
        for name, raw in deadlines.items():
            self.deadlines[name] = dict(raw)
        self.paused = paused


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


def pause_allowance(
    rules: PauseRules, paused_total: timedelta, paused: Iterable[clocks.Deadline]
) -> timedelta | None:
    """How much longer clocks may stand still under the policy (None: no limit)."""
    left: list[timedelta] = []
    if rules.max_total is not None:
        left.append(rules.max_total - paused_total)
    if rules.max_per_milestone is not None:
        left.extend(rules.max_per_milestone - d.paused_for for d in paused)
    return min(left) if left else None


def _calendar(policy: SlaPolicy | None, name: str, default: Calendar) -> Calendar:
    return policy.calendar_for(name, default) if policy is not None else default


def _start(
    policy: SlaPolicy, calendar: Calendar, name: str, at: datetime, allowed: timedelta
) -> clocks.Deadline:
    return clocks.start(name, at, allowed, policy.warning_at, policy.calendar_for(name, calendar))


def _retimed(
    policy: SlaPolicy, calendar: Calendar, deadline: clocks.Deadline, allowed: timedelta
) -> clocks.Deadline:
    """A running clock given the duration its complaint's classification allows."""
    fresh = _start(policy, calendar, deadline.milestone, deadline.started_at, allowed)
    if fresh.allowed == deadline.allowed or deadline.is_paused or deadline.resumed_at:
        return deadline  # unchanged, or paused before: keep what was banked
    return replace(fresh, warned_at=deadline.warned_at, breached_at=deadline.breached_at)


def _window_end(policy: SlaPolicy, calendar: Calendar, name: str, at: datetime) -> datetime | None:
    window = policy.window(name)
    if window is None:
        return None
    return allowance.due(policy.calendar_for(name, calendar), at, window)


def _dump(deadlines: Mapping[str, clocks.Deadline]) -> Deadlines:
    return {name: d.to_dict() for name, d in deadlines.items()}
