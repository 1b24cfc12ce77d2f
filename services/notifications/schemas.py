"""The HTTP shapes of the notifications API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    UrlConstraints,
    field_validator,
)

from services.notifications.destinations import syntax_problem
from services.notifications.outbox import Attempt, Message
from services.notifications.webhooks import Subscription

MessageStatus = Literal["pending", "sending", "sent", "dead"]
EventType = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Za-z]{1,39}$")]


def _time(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value is not None else None


class AttemptView(BaseModel):
    """One delivery attempt."""

    started_at: datetime
    finished_at: datetime
    outcome: str
    detail: str | None

    @classmethod
    def of(cls, attempt: Attempt) -> AttemptView:
        """The view of a stored attempt."""
        return cls(
            started_at=datetime.fromtimestamp(attempt.started_at, UTC),
            finished_at=datetime.fromtimestamp(attempt.finished_at, UTC),
            outcome=attempt.outcome,
            detail=attempt.detail,
        )


class MessageView(BaseModel):
    """A message in the outbox: where it goes (masked), and how delivery stands."""

    id: str = Field(description="The delivery key, also sent downstream.")
    complaint_id: str
    case_number: str
    event_id: str
    event_type: str
    feed_position: int
    audience: str
    recipient: str = Field(description="'customer', a staff id or a subscription id.")
    recipient_masked: str | None
    channel: str
    template: str
    language: str
    status: MessageStatus
    attempts: int = Field(description="Attempts in the current round (reset by a retry).")
    next_attempt_at: datetime | None
    last_error: str | None
    dead_reason: str | None
    created_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, message: Message) -> MessageView:
        """The view of a stored message."""
        due = message.status in ("pending", "sending")
        return cls(
            id=message.id,
            complaint_id=message.complaint_id,
            case_number=message.case_number,
            event_id=message.event_id,
            event_type=message.event_type,
            feed_position=message.feed_position,
            audience=message.audience,
            recipient=message.recipient,
            recipient_masked=message.recipient_masked,
            channel=message.channel,
            template=message.template,
            language=message.language,
            status=message.status,  # type: ignore[arg-type]
            attempts=message.attempts,
            next_attempt_at=_time(message.next_attempt_at) if due else None,
            last_error=message.last_error,
            dead_reason=message.dead_reason,
            created_at=datetime.fromtimestamp(message.created_at, UTC),
            sent_at=_time(message.sent_at),
        )


class MessageDetail(MessageView):
    """A message with every attempt on record."""

    attempt_history: list[AttemptView]


class MessagePage(BaseModel):
    """One page of messages, newest first."""

    items: list[MessageView]
    next_cursor: str | None


class NewSubscription(BaseModel):
    """A webhook subscription to create."""

    model_config = ConfigDict(extra="forbid")

    url: Annotated[AnyHttpUrl, UrlConstraints(max_length=2000)]
    event_types: list[EventType] = Field(
        default_factory=list,
        max_length=50,
        description="Feed event types to receive; empty for all.",
    )
    secret: str | None = Field(
        default=None,
        # Standard Webhooks: `whsec_` and the base64 of 24 to 64 random bytes.
        pattern=r"^whsec_[A-Za-z0-9+/]{32,88}={0,2}$",
        description="`whsec_` + base64 of 24-64 random bytes (Standard Webhooks); "
        "generated when omitted.",
    )
    description: str | None = Field(default=None, max_length=200)

    @field_validator("url")
    @classmethod
    def _well_formed_host(cls, url: AnyHttpUrl) -> AnyHttpUrl:
        # Checked here so that a name no resolver would take is a 422, never a 500.
        problem = syntax_problem(str(url))
        if problem is not None:
            raise ValueError(problem)
        return url


class SubscriptionView(BaseModel):
    """A webhook subscription (its secret is shown only on creation)."""

    id: str
    url: str
    event_types: list[str]
    description: str | None
    created_at: datetime

    @classmethod
    def of(cls, subscription: Subscription) -> SubscriptionView:
        """The view of a stored subscription."""
        return cls(
            id=subscription.id,
            url=subscription.url,
            event_types=list(subscription.event_types),
            description=subscription.description,
            created_at=datetime.fromtimestamp(subscription.created_at, UTC),
        )


class CreatedSubscription(SubscriptionView):
    """A new subscription, with the secret the receiver verifies signatures with."""

    secret: str


StaffId = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class NewStaffMessage(BaseModel):
    """A message for staff that another service asks for (e.g. a team's scheduled report)."""

    model_config = ConfigDict(extra="forbid")

    key: UUID = Field(
        description="The caller's stable key for this message: asking again with it adds nothing."
    )
    template: Literal["team_report"]
    recipients: list[StaffId] = Field(min_length=1, max_length=100, description="Staff ids.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="What the template is rendered with; no personal data."
    )


class QueuedStaffMessages(BaseModel):
    """The messages a staff-message request put in the outbox, or found there already."""

    key: UUID
    messages: list[MessageView]
    unknown: list[str] = Field(description="Recipients the staff directory does not know.")
