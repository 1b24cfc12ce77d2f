"""The complaint workflow (S-1): statuses, actions and what is allowed when.

The table is the single source of truth for transitions: the aggregate
refuses an action whose current status is not listed, and the API reports
the allowed actions from the same table.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a complaint stands."""

    RECEIVED = "received"
    ACCEPTED = "accepted"
    INVESTIGATED = "investigated"
    RESOLVED = "resolved"
    DISPUTED = "disputed"
    ESCALATED = "escalated"
    RETURNED = "returned"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    """What can be done to a complaint."""

    ACCEPT = "accept"
    TRANSFER = "transfer"
    CLAIM = "claim"
    INVESTIGATE = "investigate"
    RESOLVE = "resolve"
    CONFIRM = "confirm"
    DISPUTE = "dispute"
    REOPEN = "reopen"
    ESCALATE = "escalate"
    RETURN = "return"
    RESTORE = "restore"
    FOLLOW_UP = "follow_up"
    ANSWER_FOLLOW_UP = "answer_follow_up"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    NOTES = "notes"
    PAUSE = "pause"
    RESUME = "resume"
    UPDATE_CONTACT = "contact"
    ERASE = "erase"


OPEN = frozenset(
    {
        Status.RECEIVED,
        Status.ACCEPTED,
        Status.INVESTIGATED,
        Status.RESOLVED,
        Status.DISPUTED,
        Status.ESCALATED,
        Status.RETURNED,
    }
)
TERMINAL = frozenset({Status.CLOSED, Status.WITHDRAWN})
# Handling: the operator owes the customer a step and the handling clocks run. Every
# other open status runs its own clock too (confirmation window, dispute, appeal).
CLOCKED = frozenset({Status.RECEIVED, Status.ACCEPTED, Status.INVESTIGATED})

ALLOWED: dict[Action, frozenset[Status]] = {
    Action.ACCEPT: frozenset({Status.RECEIVED}),
    Action.TRANSFER: OPEN,
    Action.CLAIM: OPEN,
    Action.INVESTIGATE: frozenset({Status.ACCEPTED}),
    Action.RESOLVE: frozenset({Status.INVESTIGATED}),
    Action.CONFIRM: frozenset({Status.RESOLVED}),
    # A closed case may still be disputed within the policy's post-closure window.
    Action.DISPUTE: frozenset({Status.RESOLVED, Status.CLOSED}),
    Action.REOPEN: frozenset({Status.DISPUTED, Status.RETURNED}),
    Action.ESCALATE: frozenset({Status.RESOLVED, Status.DISPUTED}),
    Action.RETURN: frozenset({Status.ESCALATED}),
    Action.RESTORE: CLOCKED,
    Action.FOLLOW_UP: OPEN,
    Action.ANSWER_FOLLOW_UP: OPEN,
    Action.CLOSE: frozenset({Status.RESOLVED, Status.DISPUTED, Status.ESCALATED, Status.RETURNED}),
    Action.WITHDRAW: OPEN,
    Action.NOTES: frozenset(Status),
    Action.PAUSE: CLOCKED,
    Action.RESUME: CLOCKED,
    Action.UPDATE_CONTACT: OPEN,
    Action.ERASE: TERMINAL,
}


def allowed_actions(status: Status) -> list[str]:
    """The actions allowed in `status`, in workflow order."""
    return [action.value for action in Action if status in ALLOWED[action]]
