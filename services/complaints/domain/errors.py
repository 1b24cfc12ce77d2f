"""The ways a command on a complaint can be refused, in domain terms."""

from __future__ import annotations


class ComplaintError(Exception):
    """Base of the domain's refusals."""


class ActionNotAllowed(ComplaintError):
    """The action is not allowed in the complaint's current status."""

    def __init__(self, action: str, status: str, allowed: list[str]) -> None:
        super().__init__(f"'{action}' is not allowed while the complaint is {status}.")
        self.action = action
        self.status = status
        self.allowed = allowed


class CommandRejected(ComplaintError):
    """The action is allowed in this status, but conflicts with the case's state."""


class InvalidValue(ComplaintError):
    """A value given with the command is not acceptable (unknown category, future time)."""


class NotPermitted(ComplaintError):
    """The actor's role may not take this action."""


class PersonalDataErased(ComplaintError):
    """The customer's personal data was erased; it can be neither read nor changed."""
