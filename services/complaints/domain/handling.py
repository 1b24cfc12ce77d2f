"""Handling a complaint: registration, acceptance, transfer, investigation, restoration, result.

The operator's steps from receipt to the result given to the customer (S-1,
S-4, S-5), each checked against the workflow and recording its event with
the clocks it completes and starts. Also the classification vocabulary the
steps check: channels, categories, severities and tiers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Self

from services.complaints.domain import allowance
from services.complaints.domain import deadline as clocks
from services.complaints.domain.actors import SUPERVISING, Actor
from services.complaints.domain.calendar import Calendar, as_utc
from services.complaints.domain.case_clocks import (
    _ENDED_BY_RESULT,
    _FROM_RECEIPT,
    _dump,
    _retimed,
    _start,
)
from services.complaints.domain.errors import ActionNotAllowed, InvalidValue, NotPermitted
from services.complaints.domain.next_actions import NextActions
from services.complaints.domain.policy import CATEGORIES, SEVERITIES, TIERS, SlaPolicy
from services.complaints.domain.workflow import Action

__all__ = ["CATEGORIES", "CHANNELS", "SEVERITIES", "TIERS", "Handling"]

CHANNELS = ("phone", "web", "app", "store", "letter", "regulator")


class Handling(NextActions):
    """The operator's handling of a complaint, from registration to the result."""

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
    ) -> Self:
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
