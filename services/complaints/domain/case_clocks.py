"""Keeping the case's SLA clocks: which milestones run, and how each event moves them.

The aggregate holds one deadline per milestone (see `deadline` for the
arithmetic of one). Here: the running clocks, started on the pinned policy's
calendars, completed when a step ends them (a late completion is recorded as
a breach), resumed when acting ends a pause, and laid down again when an
event applies; and what the case reports of them (a milestone's deadline,
whether any was breached, the time paused, the time to restore service).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from services.complaints.domain import allowance
from services.complaints.domain import deadline as clocks
from services.complaints.domain.actors import SYSTEM_ACTOR
from services.complaints.domain.calendar import Calendar
from services.complaints.domain.case_state import CaseState, Deadlines
from services.complaints.domain.policy import SlaPolicy

# Which milestone each workflow step completes, and which it starts.
# `reply` is the answer an appeal centre expects to a referral: from receipt to the result.
_FROM_RECEIPT = ("acceptance", "repair", "overall", "reply")
_ENDED_BY_RESULT = ("result", "repair", "overall", "reply")
_ANSWERS = ("dispute", "appeal")
FOLLOW_UP = "follow_up"  # a supervisor's follow-up demand (督办): its own clock


class CaseClocks(CaseState):
    """The case's milestone clocks, as the aggregate keeps them."""

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
