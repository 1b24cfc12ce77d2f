"""Pausing the case's clocks: for a reason code the policy allows, within its limits.

A pause stops the running clocks the policy lets pause; it ends by a resume,
by itself at its `resume_at` or at the policy's longest pause (see `alarms`),
or when acting on the case ends the wait. The paused working time moves the
due times (see `deadline`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from services.complaints.domain import deadline as clocks
from services.complaints.domain.actors import Actor
from services.complaints.domain.calendar import Calendar
from services.complaints.domain.case_clocks import _dump
from services.complaints.domain.errors import CommandRejected, InvalidValue
from services.complaints.domain.next_actions import NextActions
from services.complaints.domain.policy import PauseRules, SlaPolicy
from services.complaints.domain.workflow import Action, Status


class Pauses(NextActions):
    """Pausing and resuming the case's clocks."""

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
