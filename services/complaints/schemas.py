"""The HTTP shapes of the complaints API (request bodies and responses).

Request bodies forbid unknown fields, so a misspelt field is a 422 rather
than silently ignored.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    field_validator,
    model_validator,
)

Category = Literal[
    "billing",
    "network_quality",
    "network_fault",
    "service_conduct",
    "contract",
    "privacy",
    "other",
]
Severity = Literal["low", "medium", "high", "critical"]
Tier = Literal["standard", "vip", "enterprise"]
IntakeChannel = Literal["phone", "web", "app", "store", "letter", "regulator"]
Text = Field(min_length=1, max_length=4000)
ShortText = Field(min_length=1, max_length=500)


class Body(BaseModel):
    """Base of request bodies: unknown fields and control characters are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _printable(cls, value: Any) -> Any:
        # NUL and other control characters break databases and terminals; text may
        # still span lines.
        if isinstance(value, str) and any(
            unicodedata.category(ch) == "Cc" and ch not in "\n\r\t" for ch in value
        ):
            raise ValueError("control characters are not allowed")
        return value


class Customer(Body):
    """Who complains, and how to reach them."""

    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(pattern=r"^\+?[0-9][0-9 \-]{5,24}$")
    email: EmailStr | None = None
    account: str | None = Field(default=None, max_length=100)
    language: Literal["zh-CN", "en"] = "zh-CN"
    preferred_channel: Literal["sms", "email"] = "sms"


class Referral(Body):
    """A complaint referred by an appeal centre (e.g. 12300): who referred it, under what number."""

    body: str = Field(
        min_length=1, max_length=200, description="The referring body, e.g. the 12300 centre."
    )
    reference: str = Field(min_length=1, max_length=100, description="The centre's reference.")
    received_at: AwareDatetime = Field(description="When the referral reached the operator.")
    due_at: AwareDatetime | None = Field(
        default=None, description="The centre's own date for the answer, when it set one."
    )


class NewComplaint(Body):
    """A complaint as filed by the call centre."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer": {
                        "name": "王芳",
                        "phone": "+86 138 0013 8000",
                        "email": "wang.fang@example.com",
                        "account": "ACC-2024-18817",
                        "language": "zh-CN",
                        "preferred_channel": "sms",
                    },
                    "channel": "phone",
                    "description": (
                        "Since 28 November mobile data at home (Haidian, Zhongguancun "
                        "street 27) drops every evening between 19:00 and 23:00; calls "
                        "cut out after a minute. Restarting the phone does not help."
                    ),
                    "category": "network_quality",
                }
            ]
        }
    )

    customer: Customer
    channel: IntakeChannel
    description: str = Text
    category: Category | None = None
    received_at: AwareDatetime | None = Field(
        default=None, description="When the customer complained; not in the future."
    )
    tier: Tier = Field(
        default="standard", description="The customer's tier; policies may give it own durations."
    )
    referral: Referral | None = Field(
        default=None, description="Required exactly when the channel is 'regulator'."
    )

    @model_validator(mode="after")
    def _referral_with_regulator_channel(self) -> NewComplaint:
        if (self.channel == "regulator") != (self.referral is not None):
            raise ValueError("'referral' is required with channel 'regulator', and only then")
        if (
            self.referral
            and self.referral.due_at
            and self.referral.due_at <= self.referral.received_at
        ):
            raise ValueError("the referral's 'due_at' must be after its 'received_at'")
        return self


class Accept(Body):
    """Accept and classify (S-5)."""

    category: Category
    severity: Severity
    reason: str | None = Field(default=None, max_length=2000)


class Transfer(Body):
    """Hand the case to an agent or (supervisors only) a team."""

    to_agent: str | None = Field(default=None, min_length=1, max_length=100)
    to_team: str | None = Field(default=None, min_length=1, max_length=100)
    reason: str = ShortText


class Claim(Body):
    """Take an unassigned case as its assignee, where the operator allows claims."""

    reason: str = ShortText


class Investigate(Body):
    """Complete the preliminary investigation."""

    findings: str = Text


class Resolve(Body):
    """Give the customer the result."""

    resolution: str = Text
    remedy: str | None = Field(default=None, max_length=2000)


class Confirm(Body):
    """The customer's confirmation, recorded on their behalf."""

    satisfaction: int = Field(ge=1, le=5)
    comment: str | None = Field(default=None, max_length=2000)


class Dispute(Body):
    """The customer disputes the result."""

    reason: str = ShortText


class Reopen(Body):
    """Reopen a disputed case."""

    reason: str | None = Field(default=None, max_length=2000)


class Escalate(Body):
    """Send the case to an external appeal body."""

    body: str = Field(
        min_length=1, max_length=200, description="The appeal body, e.g. a regulator."
    )
    reference: str = Field(min_length=1, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


class Return(Body):
    """The appeal body sent the case back with its decision."""

    decision: str = Text
    reference: str = Field(min_length=1, max_length=100)


class Restore(Body):
    """The network service was restored (network faults): the repair clock stops."""

    restored_at: AwareDatetime | None = Field(
        default=None, description="When service came back; default now, never in the future."
    )
    how: str = Text


class FollowUp(Body):
    """A supervisor's follow-up demand (督办) with its own deadline."""

    text: str = Text
    within: timedelta = Field(
        description="ISO 8601 duration, e.g. PT2H: the demand's deadline, wall-clock.",
        gt=timedelta(0),
        le=timedelta(days=366),
    )


class FollowUpAnswer(Body):
    """The owner's or assignee's answer to the follow-up demand."""

    text: str = Text


class Close(Body):
    """Close the case."""

    outcome: str = ShortText
    reason: str | None = Field(default=None, max_length=2000)


class Withdraw(Body):
    """The customer withdraws the complaint."""

    reason: str = ShortText


class Note(Body):
    """A note for the case file."""

    text: str = Text


class Pause(Body):
    """Pause the clocks, for a reason code of the pinned policy."""

    # A code, never words: words (and the numbers they may hold) belong in the sealed note.
    reason: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z]+(_[a-z]+)*$",
        description="A reason code of the pinned policy, e.g. awaiting_customer.",
    )
    note: str | None = Field(
        default=None, max_length=2000, description="What is needed, for the case file."
    )
    resume_at: AwareDatetime | None = Field(
        default=None, description="When the clocks resume by themselves (e.g. the booked visit)."
    )


class Resume(Body):
    """Resume the clocks."""

    reason: str | None = Field(default=None, max_length=2000)


class ContactUpdate(Body):
    """Corrected contact details: only the fields given change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 \-]{5,24}$")
    email: EmailStr | None = None
    account: str | None = Field(default=None, max_length=100)
    language: Literal["zh-CN", "en"] | None = None
    preferred_channel: Literal["sms", "email"] | None = None
    reason: str | None = Field(default=None, max_length=500)


class Erase(Body):
    """Erase the customer's personal data (after closure or withdrawal)."""

    reason: str = ShortText


class DeadlineView(BaseModel):
    """One milestone's clock."""

    due_at: datetime | None
    completed_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    paused: bool


class ComplaintView(BaseModel):
    """A complaint as the API shows it: personal data masked."""

    id: str
    case_number: str
    status: str
    customer: dict[str, Any]
    channel: str
    category: str | None
    severity: str | None
    description: str
    tier: str
    owner: str
    assignee: dict[str, str] | None
    received_at: datetime
    policy: dict[str, Any]
    deadlines: dict[str, DeadlineView]
    confirmed: bool
    satisfaction: int | None
    erased: bool
    escalation: dict[str, str] | None
    appeal_return: dict[str, str] | None
    outcome: str | None
    confirmation_due_at: datetime | None
    dispute_until: datetime | None
    restored_at: datetime | None
    time_to_restore_seconds: float | None
    paused: bool
    pause_ends_at: datetime | None
    referral: dict[str, Any] | None = None
    repeat: bool = False
    repeat_of: list[dict[str, Any]] = Field(default_factory=list)
    allowed_actions: list[str]
    version: int


class SealedField(BaseModel):
    """A free-text field's commitment, and (to those shown the text) the salt that opens it."""

    commitment: str | None
    salt: str | None = None


class HistoryItem(BaseModel):
    """One event of the case file."""

    version: int
    type: str
    occurred_at: datetime
    actor: dict[str, str]
    data: dict[str, Any]
    sealed: dict[str, SealedField] = Field(default_factory=dict)


class History(BaseModel):
    """The case file: every event in order."""

    complaint_id: str
    case_number: str
    events: list[HistoryItem]


class QueuePage(BaseModel):
    """One page of a work queue."""

    items: list[dict[str, Any]]
    next_cursor: str | None
    search: dict[str, Any] | None = Field(
        default=None, description="The search-log entry of a customer-history search."
    )


class PolicyView(BaseModel):
    """An SLA policy version."""

    id: str
    version: int
    effective_from: datetime
    effective_until: datetime | None = Field(
        description="Retired for new complaints from then on; pinned ones keep it."
    )
    repealed: bool = Field(
        description="Its file is gone: kept from the database for the complaints pinned to it."
    )
    source: str
    calendar: str
    warning_at: float
    pausable: list[str]
    milestones: dict[str, str]
    categories: dict[str, dict[str, str]]
    retention_after_close: str | None
    overrides: list[dict[str, Any]]
    windows: dict[str, str]
    calendars: dict[str, str]
    pause: dict[str, Any]
    sources: dict[str, str]
    ladder: list[dict[str, Any]]


class FeedItem(BaseModel):
    """One event of the feed in its public form (docs/feed.md documents each `type`)."""

    position: int = Field(description="The event store's notification id; not gapless.")
    event_id: str = Field(description="Stable id of the event (UUID).")
    complaint_id: str
    version: int = Field(description="The complaint's version after this event.")
    type: str = Field(description="The event type, e.g. Registered, Accepted.")
    occurred_at: str = Field(description="RFC 3339 instant.")
    actor: dict[str, Any] = Field(description="Who: `id` and `role`.")
    schema_version: int = Field(description="Version of the public `data` form.")
    data: dict[str, Any] = Field(description="The event's public data: masked, text sealed.")


class FeedPage(BaseModel):
    """A page of the feed: resume from `last_position`."""

    items: list[FeedItem]
    last_position: int = Field(description="Pass as `after` for the next page.")
    head: int = Field(description="The newest position in the store.")
