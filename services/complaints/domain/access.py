"""Need-to-know on a case (S-4, S-11): who may act on it, take it over, and read its words.

The rules, in one place:

- **Handlers** act on a case: its owner (the first-contact agent, for
  life), its assignee (the agent it was transferred to, or every member of
  the team it was transferred to, as the staff directory lists them), and
  supervisors. Everyone else is refused (`NotPermitted`) every action and
  the clear contact; being an agent is not enough.
- **Taking over** a case that is not yours is a supervisor's act (a
  transfer); an agent's transfer of someone else's case, to themselves or
  anyone, is refused. Where the operator allows it, an agent may instead
  `claim` a case that has no assignee, with a reason: a `Claimed` event
  makes them its assignee, the owner stays accountable.
- **The customer's own words** (the description and the other sealed free
  text) are opened for handlers and regulators only, each opening a
  recorded `TextRead` (who, role, purpose, what was opened), like a
  `ContactRead`; everyone else sees them withheld.
- The system (deadline monitor, retention sweeper) and the customer's own
  channel act as the workflow lets them; those actors come only from inside
  the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from services.complaints.domain.complaint import Actor, Complaint
from services.complaints.domain.errors import ActionNotAllowed, CommandRejected, NotPermitted
from services.complaints.domain.workflow import OPEN, Action

SUPERVISING = frozenset({"supervisor", "admin"})
# Actors made inside the service only, never from a staff token.
INTERNAL = frozenset({"system", "customer"})
WORD_READERS = frozenset({"supervisor", "regulator"})
TEXT_SCOPES = ("complaint", "history")


class TeamMembership(Protocol):
    """Whom an assignee stands for (the staff directory): the agent, or a team's members."""

    def resolve(self, assignee: Mapping[str, Any] | None) -> list[str]:
        """The staff ids `assignee` stands for."""
        ...


class NoTeams:
    """No staff directory: a case assigned to a team is worked by supervisors only."""

    def resolve(self, assignee: Mapping[str, Any] | None) -> list[str]:
        """An agent stands for themselves; a team, for nobody known."""
        if assignee and assignee.get("type") == "agent" and assignee.get("id"):
            return [str(assignee["id"])]
        return []


class Claimed(Complaint.Event):
    """An agent took an unassigned case, as the operator allows, giving a reason (sealed)."""

    assignee: dict[str, str]
    reason: str

    def apply(self, aggregate: Complaint) -> None:
        aggregate.assignee = dict(self.assignee)


class TextRead(Complaint.Event):
    """Someone read the case's sealed words in clear, for a stated purpose (S-11).

    `scope` says what was opened: `complaint` (the description) or `history`
    (every sealed text of the case file).
    """

    purpose: str
    scope: str


def is_handler(complaint: Complaint, actor: Actor, teams: TeamMembership) -> bool:
    """Whether `actor` works this case: its owner, its assignee, or a member of its team."""
    if actor.id == complaint.owner:
        return True
    assignee = complaint.assignee or {}
    if assignee.get("type") == "agent":
        return assignee.get("id") == actor.id  # an agent assignee, directory or not
    return actor.id in teams.resolve(assignee)


def check_may_act(complaint: Complaint, actor: Actor, teams: TeamMembership) -> None:
    """Refuse anyone but a handler or a supervisor (internal actors excepted)."""
    if actor.role in SUPERVISING or actor.role in INTERNAL:
        return
    if not is_handler(complaint, actor, teams):
        raise NotPermitted(
            "Only the case's owner, its assignee (or a member of its team) or a supervisor "
            "may act on it."
        )


def check_may_handle_contact(complaint: Complaint, actor: Actor, teams: TeamMembership) -> None:
    """The clear contact: handlers, supervisors and the services that reach the customer."""
    if actor.role == "service":
        return
    check_may_act(complaint, actor, teams)


def may_read_words(complaint: Complaint, actor: Actor, teams: TeamMembership) -> bool:
    """Whether `actor` may open the customer's words: handlers, supervisors, regulators."""
    if actor.role in WORD_READERS:
        return True
    return actor.role == "agent" and is_handler(complaint, actor, teams)


def claim(
    complaint: Complaint,
    actor: Actor,
    at: datetime,
    *,
    reason: str,
    allowed: bool,
    teams: TeamMembership,
) -> None:
    """Take an unassigned open case as its assignee (only where the operator allows claims).

    The workflow offers `claim` on every open case without an assignee;
    whether this deployment allows claims, and whether this actor may, is
    need-to-know (refused as `NotPermitted`).
    """
    if complaint.status not in OPEN or complaint.assignee:
        # An assigned case is taken over by a supervisor's transfer, never claimed.
        raise ActionNotAllowed(
            Action.CLAIM.value, complaint.status.value, complaint.allowed_actions
        )
    if not allowed:
        raise NotPermitted(
            "Claims are off here (COMPLAINTS_ALLOW_CLAIMS): a supervisor transfers the case."
        )
    if actor.role != "agent":
        raise NotPermitted("Only an agent claims a case; a supervisor transfers it.")
    if is_handler(complaint, actor, teams):
        raise CommandRejected("This case is already yours.")
    complaint.trigger_event(
        Claimed,
        timestamp=at,
        actor=actor.as_dict(),
        assignee={"type": "agent", "id": actor.id},
        reason=reason,
    )


def record_text_read(
    complaint: Complaint, actor: Actor, at: datetime, *, purpose: str, scope: str
) -> None:
    """Put a clear read of the case's words on record (the caller checked who may)."""
    if scope not in TEXT_SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    complaint.trigger_event(
        TextRead, timestamp=at, actor=actor.as_dict(), purpose=purpose, scope=scope
    )
