"""The customer acting on their own case: survey answers, messages and one-time codes.

Events of the customer's own channel, kept beside the aggregate (they are
`Complaint.Event`s like the others, so they are part of the case file):

- `SurveyAnswered`: a rating given after closure (the survey), when the result
  can no longer be confirmed;
- `CustomerMessaged`: words the customer sent that are neither a rating nor a
  dispute, routed to the owner;
- `AccessCodeIssued`, `AccessCodeUsed`, `AccessCodeRefused`: the one-time code
  that opens the portal without a link, each issue, use and wrong try on file.

A code is never stored: it is an HMAC of the issue's random nonce under the
service's code key, computed again when it is sent and when it is checked.
The rules of codes (how long they live, how many wrong tries lock the case)
are decided here from the case file alone.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.complaints.domain.complaint import Actor, Complaint
from services.complaints.domain.workflow import Action, Status
from services.kernel.phones import InvalidPhoneNumber, normalise_phone

CUSTOMER_ROLE = "customer"
CONFIRM = "confirm"
DISPUTE = "dispute"


@dataclass(frozen=True)
class CustomerActor(Actor):
    """The customer, acting through a channel (`portal`, `sms`)."""

    via: str = "portal"

    def as_dict(self) -> dict[str, str]:
        """The JSON form carried by events: role `customer`, and the channel used."""
        return {"id": self.id, "role": self.role, "via": self.via}


def customer_actor(via: str) -> CustomerActor:
    """The actor recorded for the customer's own acts."""
    return CustomerActor(id="customer", role=CUSTOMER_ROLE, via=via)


class SurveyAnswered(Complaint.Event):
    """The customer rated the handling after closure (the satisfaction survey)."""

    satisfaction: int
    comment: str | None

    def apply(self, aggregate: Complaint) -> None:
        aggregate.satisfaction = self.satisfaction


class CustomerMessaged(Complaint.Event):
    """The customer sent words that are neither a rating nor a dispute (sealed)."""

    text: str


class AccessCodeIssued(Complaint.Event):
    """A one-time code was sent to the customer's own contact."""

    nonce: str
    expires_at: datetime


class AccessCodeUsed(Complaint.Event):
    """The one-time code was used: the customer was let in."""

    issued_version: int


class AccessCodeRefused(Complaint.Event):
    """A code request or a code did not match (a wrong try)."""

    reason: str


def customer_actions(complaint: Complaint, events: Sequence[Any]) -> list[str]:
    """What the customer may do now: `confirm` (or answer the survey) and `dispute`."""
    actions = []
    allowed = complaint.allowed_actions
    rated = any(isinstance(e, SurveyAnswered) for e in events)
    if Action.CONFIRM.value in allowed and not complaint.confirmed:
        actions.append(CONFIRM)
    elif complaint.status is Status.CLOSED and not complaint.confirmed and not rated:
        actions.append(CONFIRM)  # the survey: a rating after closure
    if Action.DISPUTE.value in allowed and not complaint.confirmed:
        actions.append(DISPUTE)
    return actions


def same_phone(given: str, on_file: str | None) -> bool:
    """Whether two written forms are one number (+86, spaces, dashes aside), in constant time."""
    if not on_file:
        return False
    try:
        a, b = normalise_phone(given), normalise_phone(on_file)
    except InvalidPhoneNumber:
        return False
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class CodeRules:
    """How one-time codes behave: lifetime, wrong tries before a lock, lock length."""

    lifetime: timedelta = timedelta(minutes=10)
    max_wrong_tries: int = 5
    lock: timedelta = timedelta(minutes=30)


def code_for(key: bytes, complaint_id: str, nonce: str) -> str:
    """The six digits a nonce stands for on one complaint."""
    digest = hmac.new(key, f"{complaint_id}:{nonce}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


@dataclass(frozen=True)
class CodeState:
    """What the case file says about codes now."""

    locked_until: datetime | None
    open_issue: AccessCodeIssued | None  # the latest code, if unused and unexpired

    def locked(self, now: datetime) -> bool:
        """Whether the case refuses codes now."""
        return self.locked_until is not None and now < self.locked_until


def code_state(events: Iterable[Any], now: datetime, rules: CodeRules) -> CodeState:
    """Read the code history: the open code, and any lock from recent wrong tries."""
    open_issue: AccessCodeIssued | None = None
    wrong: list[datetime] = []
    for event in events:
        if isinstance(event, AccessCodeIssued):
            open_issue = event
        elif isinstance(event, AccessCodeUsed):
            open_issue = None
            wrong.clear()  # the customer got in: earlier slips are forgiven
        elif isinstance(event, AccessCodeRefused):
            wrong.append(event.timestamp)
    recent = [at for at in wrong if now - at < rules.lock]
    locked_until = None
    if len(recent) >= rules.max_wrong_tries:
        locked_until = recent[-1] + rules.lock
        open_issue = None  # a lock voids the code in flight
    if open_issue is not None and open_issue.expires_at <= now:
        open_issue = None
    return CodeState(locked_until, open_issue)
