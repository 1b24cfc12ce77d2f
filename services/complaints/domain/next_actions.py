"""What may be done next on a case: the workflow's table, narrowed by the case itself.

The workflow (see `workflow`) says which actions each status allows; a case
offers fewer when its own state rules one out (erased, not disputable after
this closure, already assigned, no repair or follow-up clock running).
An action the case does not offer now is refused with `ActionNotAllowed`.
"""

from __future__ import annotations

from services.complaints.domain.case_clocks import FOLLOW_UP, CaseClocks
from services.complaints.domain.errors import ActionNotAllowed
from services.complaints.domain.workflow import ALLOWED, Action, Status, allowed_actions


class NextActions(CaseClocks):
    """The actions a case offers now, and the check every command makes first."""

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

    def _check(self, action: Action) -> None:
        if self.status not in ALLOWED[action]:
            raise ActionNotAllowed(action.value, self.status.value, self.allowed_actions)
