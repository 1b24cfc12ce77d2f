"""The customer's answer to the result, and the operator's answers to a dispute or appeal.

The customer confirms the result (and rates the handling) or disputes it
(S-8), also after closure within the post-closure window. A dispute is
answered by reopening the case or escalating it to an external appeal body,
whose return comes back to the operator to act on; each answer completes the
dispute and appeal clocks (late: a breach).
"""

from __future__ import annotations

from datetime import datetime

from services.complaints.domain import deadline as clocks
from services.complaints.domain.actors import SUPERVISING, Actor
from services.complaints.domain.calendar import Calendar
from services.complaints.domain.case_clocks import _dump, _start
from services.complaints.domain.errors import CommandRejected, InvalidValue, NotPermitted
from services.complaints.domain.next_actions import NextActions
from services.complaints.domain.policy import SlaPolicy
from services.complaints.domain.workflow import Action, Status


class CustomerAnswers(NextActions):
    """Confirmation and dispute of the result; reopening, escalation, the appeal's return."""

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
