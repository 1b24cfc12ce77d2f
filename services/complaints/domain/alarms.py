"""What the clock makes due on a case: the deadline monitor's pass and the next alarm.

The monitor asks a case for the earliest instant it has something to record
(`next_alarm`) and, at or after it, has it record everything then due
(`raise_sla_events`): a pause reaching its end, a confirmation window passing
in silence, warnings and breaches, and the rungs of the escalation ladder.
"""

from __future__ import annotations

from datetime import datetime

from services.complaints.domain import deadline as clocks
from services.complaints.domain.actors import SYSTEM_ACTOR
from services.complaints.domain.calendar import Calendar
from services.complaints.domain.case_clocks import CaseClocks, _dump, _window_end
from services.complaints.domain.policy import LadderStep, SlaPolicy
from services.complaints.domain.workflow import TERMINAL, Status


class Alarms(CaseClocks):
    """The monitor's view of a case: what is due, and when next."""

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
