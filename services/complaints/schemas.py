"""The HTTP shapes of the complaints API (request bodies and responses).

Request bodies forbid unknown fields, so a misspelt field is a 422 rather
than silently ignored.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, EmailStr, Field, field_validator

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


class NewComplaint(Body):
    """A complaint as filed by the call centre."""

    customer: Customer
    channel: IntakeChannel
    description: str = Text
    category: Category | None = None
    received_at: AwareDatetime | None = Field(
        default=None, description="When the customer complained; not in the future."
    )


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
    """Pause the clocks while awaiting the customer."""

    reason: str = ShortText


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
    owner: str
    assignee: dict[str, str] | None
    received_at: datetime
    policy: dict[str, Any]
    deadlines: dict[str, DeadlineView]
    confirmed: bool
    satisfaction: int | None
    erased: bool
    escalation: dict[str, str] | None
    allowed_actions: list[str]
    version: int


class HistoryItem(BaseModel):
    """One event of the case file."""

    version: int
    type: str
    occurred_at: datetime
    actor: dict[str, str]
    data: dict[str, Any]


class History(BaseModel):
    """The case file: every event in order."""

    complaint_id: str
    case_number: str
    events: list[HistoryItem]


class QueuePage(BaseModel):
    """One page of a work queue."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class PolicyView(BaseModel):
    """An SLA policy version."""

    id: str
    version: int
    effective_from: datetime
    source: str
    calendar: str
    warning_at: float
    pausable: list[str]
    milestones: dict[str, str]
    categories: dict[str, dict[str, str]]
    retention_after_close: str | None
