"""A supervisor's follow-up demand (督办) and its answer, on a wall clock of its own.

The demand names real time ("within 2 hours"), so its clock runs around the
clock whatever the policy's calendars; the owner or assignee answers it, and
an answer after the due time is a breach.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from services.complaints.domain import deadline as clocks
from services.complaints.domain.actors import SUPERVISING, Actor
from services.complaints.domain.calendar import AroundTheClock
from services.complaints.domain.case_clocks import FOLLOW_UP, _dump
from services.complaints.domain.errors import (
    ActionNotAllowed,
    CommandRejected,
    InvalidValue,
    NotPermitted,
)
from services.complaints.domain.next_actions import NextActions
from services.complaints.domain.workflow import Action

_WALL_CLOCK = AroundTheClock()  # the calendar of a follow-up demand: real time


class FollowUps(NextActions):
    """Demanding follow-up on a case, and answering the demand."""

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
