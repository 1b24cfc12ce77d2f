"""The complaint's recorded state as its parts see it: the shape they share.

`Complaint` is put together from parts, one idea each (its clocks, its
handling, the customer's answers, pauses, ...), mixed into the aggregate.
This base tells the type checker what every part may rely on: the state
`Complaint.__init__` and its events' `apply` keep, the aggregate's nested
event classes, and the library's `trigger_event`. It is declared for the
type checker only: at run time the parts are plain classes, so the
eventsourcing metaclass sees no aggregate in them (no event classes of their
own, no topics), and no attribute is added to the aggregate or its snapshots.
The event classes themselves stay nested in `Complaint`, where their stored
topics name them.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from eventsourcing.domain import Aggregate as _Aggregate

    from services.complaints.domain.complaint import Complaint
    from services.complaints.domain.workflow import Status
else:
    _Aggregate = object

# Each milestone's deadline, in its JSON form (see `deadline.Deadline.to_dict`).
Deadlines = dict[str, dict[str, Any]]


class CaseState(_Aggregate):
    """What the parts of `Complaint` share (declarations only)."""

    if TYPE_CHECKING:
        case_number: str
        referral: dict[str, Any] | None
        repeat_of: list[dict[str, Any]]
        status: Status
        customer: dict[str, Any]
        channel: str
        description: str
        category: str | None
        severity: str | None
        tier: str
        received_at: datetime
        owner: str
        assignee: dict[str, str] | None
        policy: dict[str, Any]
        deadlines: Deadlines
        paused: bool
        findings: str | None
        resolution: str | None
        remedy: str | None
        confirmed: bool
        satisfaction: int | None
        escalation: dict[str, str] | None
        outcome: str | None
        closed_at: datetime | None
        reopened: int
        erased: bool
        ever_breached: bool
        confirmation_due_at: datetime | None
        dispute_until: datetime | None
        disputed_after_close: int
        restored_at: datetime | None
        appeal_return: dict[str, str] | None
        pause_since: datetime | None
        pause_ends_at: datetime | None
        pause_resume_at: datetime | None
        ladder_reached: list[str] | None
        paused_seconds: float

        Registered: type[Complaint.Registered]
        Accepted: type[Complaint.Accepted]
        Transferred: type[Complaint.Transferred]
        Investigated: type[Complaint.Investigated]
        Resolved: type[Complaint.Resolved]
        Restored: type[Complaint.Restored]
        Confirmed: type[Complaint.Confirmed]
        Disputed: type[Complaint.Disputed]
        Reopened: type[Complaint.Reopened]
        Escalated: type[Complaint.Escalated]
        Returned: type[Complaint.Returned]
        Closed: type[Complaint.Closed]
        FollowUpDemanded: type[Complaint.FollowUpDemanded]
        FollowUpAnswered: type[Complaint.FollowUpAnswered]
        LadderStepReached: type[Complaint.LadderStepReached]
        DeemedAccepted: type[Complaint.DeemedAccepted]
        Withdrawn: type[Complaint.Withdrawn]
        NoteAdded: type[Complaint.NoteAdded]
        ContactRead: type[Complaint.ContactRead]
        ContactUpdated: type[Complaint.ContactUpdated]
        Erased: type[Complaint.Erased]
        Paused: type[Complaint.Paused]
        Resumed: type[Complaint.Resumed]
        AutoResumed: type[Complaint.AutoResumed]
        SlaWarning: type[Complaint.SlaWarning]
        SlaBreached: type[Complaint.SlaBreached]
