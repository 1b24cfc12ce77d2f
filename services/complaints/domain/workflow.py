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
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    """What can be done to a complaint."""

    ACCEPT = "accept"
    TRANSFER = "transfer"
    INVESTIGATE = "investigate"
    RESOLVE = "resolve"
    CONFIRM = "confirm"
    DISPUTE = "dispute"
    REOPEN = "reopen"
    ESCALATE = "escalate"
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
    }
)
TERMINAL = frozenset({Status.CLOSED, Status.WITHDRAWN})
# Clocks run while the operator owes the customer a step.
CLOCKED = frozenset({Status.RECEIVED, Status.ACCEPTED, Status.INVESTIGATED})

ALLOWED: dict[Action, frozenset[Status]] = {
    Action.ACCEPT: frozenset({Status.RECEIVED}),
    Action.TRANSFER: OPEN,
    Action.INVESTIGATE: frozenset({Status.ACCEPTED}),
    Action.RESOLVE: frozenset({Status.INVESTIGATED}),
    Action.CONFIRM: frozenset({Status.RESOLVED}),
    Action.DISPUTE: frozenset({Status.RESOLVED}),
    Action.REOPEN: frozenset({Status.DISPUTED}),
    Action.ESCALATE: frozenset({Status.RESOLVED, Status.DISPUTED}),
    Action.CLOSE: frozenset({Status.RESOLVED, Status.ESCALATED}),
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
