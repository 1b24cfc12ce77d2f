"""How a case ends: a supervisor's closure with its outcome, or the customer's withdrawal.

A closure may open the post-closure window in which the customer can still
dispute (see `customer_answers`); a result left unanswered past its
confirmation window is closed as deemed accepted by the monitor (see `alarms`).
"""

from __future__ import annotations

from datetime import datetime

from services.complaints.domain.actors import SUPERVISING, Actor
from services.complaints.domain.calendar import Calendar
from services.complaints.domain.case_clocks import _dump, _window_end
from services.complaints.domain.errors import InvalidValue, NotPermitted
from services.complaints.domain.next_actions import NextActions
from services.complaints.domain.policy import SlaPolicy
from services.complaints.domain.workflow import Action, Status

DEEMED_ACCEPTED = "deemed_accepted"
UPHELD = "upheld"


class Closure(NextActions):
    """Closing and withdrawing a case."""

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

    def withdraw(self, actor: Actor, at: datetime, *, reason: str) -> None:
        """Record that the customer withdrew the complaint."""
        self._check(Action.WITHDRAW)
        self.trigger_event(self.Withdrawn, timestamp=at, actor=actor.as_dict(), reason=reason)
