"""The outbox: every message the service owes, and every attempt to deliver it.

A message is written in the same transaction as the feed position that
caused it, under a stable delivery key; the key is unique, so a replayed
feed page can never create a message twice. Dispatchers claim due messages
(`pending`, or `sending` with an expired claim after a crash), mark them
`sending` under a claim token and lease, and record each attempt's result:
`sent`, back to `pending` with a later due time, or `dead`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from services.kernel.database import reading, replayable

metadata = MetaData()
DELIVERY_NAMESPACE = uuid.UUID("5a0cf1c2-8f2e-4b9f-a3a1-0d7c6f1e2b44")


class Status(StrEnum):
    """Where a message stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


messages = Table(
    "messages",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    # The delivery key: the message's id here and its idempotency key downstream.
    Column("id", String(36), nullable=False, unique=True),
    Column("complaint_id", String(36), nullable=False, index=True),
    Column("case_number", String(40), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("feed_position", BigInteger, nullable=False),
    Column("audience", String(20), nullable=False),
    Column("recipient", String(100), nullable=False),
    Column("recipient_masked", String(200)),
    Column("channel", String(20), nullable=False),
    Column("template", String(60), nullable=False),
    Column("language", String(10), nullable=False),
    Column("context", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Float, nullable=False),
    Column("claim_token", String(32)),
    Column("claimed_until", Float),
    Column("last_error", String(500)),
    Column("dead_reason", String(100)),
    Column("created_at", Float, nullable=False),
    Column("sent_at", Float),
    Index("ix_messages_due", "status", "next_attempt_at"),
)

attempts = Table(
    "message_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("message_id", String(36), nullable=False, index=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float, nullable=False),
    Column("outcome", String(12), nullable=False),
    Column("detail", String(500)),
)


def delivery_key(event_id: str, recipient: str, template: str) -> str:
    """The stable key of one message: the same event, recipient and template give the same key."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{event_id}/{recipient}/{template}"))


@dataclass(frozen=True)
class NewMessage:
    """A message a feed event causes, before it is in the outbox."""

    complaint_id: str
    case_number: str
    event_id: str
    event_type: str
    feed_position: int
    audience: str
    recipient: str
    recipient_masked: str | None
    channel: str
    template: str
    language: str
    context: Mapping[str, Any]
    not_before: float | None = None

    @property
    def id(self) -> str:
        """Its delivery key."""
        return delivery_key(self.event_id, self.recipient, self.template)


@dataclass(frozen=True)
class Message:
    """A message as stored, with its delivery state."""

    seq: int
    id: str
    complaint_id: str
    case_number: str
    event_id: str
    event_type: str
    feed_position: int
    audience: str
    recipient: str
    recipient_masked: str | None
    channel: str
    template: str
    language: str
    context: str
    status: str
    attempts: int
    next_attempt_at: float
    claim_token: str | None
    claimed_until: float | None
    last_error: str | None
    dead_reason: str | None
    created_at: float
    sent_at: float | None

    @property
    def template_context(self) -> dict[str, Any]:
        """What the template is rendered with."""
        loaded: dict[str, Any] = json.loads(self.context)
        return loaded


@dataclass(frozen=True)
class Attempt:
    """One try to deliver a message, and how it ended."""

    id: int
    message_id: str
    started_at: float
    finished_at: float
    outcome: str
    detail: str | None


@dataclass(frozen=True)
class MessageFilter:
    """What an operator looks for in the outbox."""

    complaint_id: str | None = None
    status: str | None = None
    channel: str | None = None


def _insert_ignoring_duplicates(conn: Connection, rows: list[dict[str, Any]]) -> int:
    # ON CONFLICT DO NOTHING keeps the transaction alive on a duplicate key,
    # which a caught IntegrityError would not on PostgreSQL.
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(messages).values(rows).on_conflict_do_nothing(index_elements=["id"])
    return int(conn.execute(statement).rowcount or 0)


class Outbox:
    """Messages and attempts in the service's database."""

    messages_table = messages

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine, checkfirst=True)

    # -- writing, inside the feed consumer's transaction ----------------------

    def add(self, conn: Connection, new: Iterable[NewMessage], now: float | None = None) -> int:
        """Record messages on `conn`; a key already present is left alone. Returns how many."""
        now = time.time() if now is None else now
        rows = [
            {
                "id": m.id,
                "complaint_id": m.complaint_id,
                "case_number": m.case_number,
                "event_id": m.event_id,
                "event_type": m.event_type,
                "feed_position": m.feed_position,
                "audience": m.audience,
                "recipient": m.recipient,
                "recipient_masked": m.recipient_masked,
                "channel": m.channel,
                "template": m.template,
                "language": m.language,
                "context": json.dumps(m.context, ensure_ascii=False, sort_keys=True),
                "status": Status.PENDING.value,
                "attempts": 0,
                "next_attempt_at": max(now, m.not_before or now),
                "created_at": now,
            }
            for m in new
        ]
        # One statement per distinct key: a page may name one recipient twice.
        unique = list({row["id"]: row for row in rows}.values())
        return _insert_ignoring_duplicates(conn, unique) if unique else 0

    # -- claiming and recording, by dispatchers --------------------------------

    def claim(
        self, limit: int, lease_seconds: float, max_attempts: int, now: float | None = None
    ) -> list[Message]:
        """Take up to `limit` due messages for this caller alone, for `lease_seconds`.

        A `sending` message whose claim has expired was being sent by a process
        that died: the lost try is recorded as an `interrupted` attempt, and the
        message is taken again (or is dead, if that was its last attempt).
        """
        now = time.time() if now is None else now
        token = uuid.uuid4().hex
        due = or_(
            and_(messages.c.status == Status.PENDING, messages.c.next_attempt_at <= now),
            and_(messages.c.status == Status.SENDING, messages.c.claimed_until < now),
        )
        with self.engine.begin() as conn:
            # SKIP LOCKED lets concurrent dispatchers pass over each other's rows on
            # PostgreSQL; SQLite's BEGIN IMMEDIATE serialises the claim instead.
            candidates = conn.execute(
                select(messages.c.seq, messages.c.id, messages.c.status, messages.c.attempts)
                .where(due)
                .order_by(messages.c.next_attempt_at, messages.c.seq)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            if not candidates:
                return []
            interrupted = [row for row in candidates if row.status == Status.SENDING]
            exhausted = {row.seq for row in interrupted if row.attempts + 1 >= max_attempts}
            for row in interrupted:
                conn.execute(
                    attempts.insert().values(
                        message_id=row.id,
                        started_at=now,
                        finished_at=now,
                        outcome="interrupted",
                        detail="the sending process stopped before recording a result",
                    )
                )
            if exhausted:
                conn.execute(
                    update(messages)
                    .where(messages.c.seq.in_(exhausted))
                    .values(
                        status=Status.DEAD,
                        attempts=messages.c.attempts + 1,
                        claim_token=None,
                        claimed_until=None,
                        dead_reason="max-attempts",
                        last_error="interrupted",
                    )
                )
            for was_interrupted in (True, False):
                seqs = [
                    r.seq
                    for r in candidates
                    if (r.status == Status.SENDING) == was_interrupted and r.seq not in exhausted
                ]
                if not seqs:
                    continue
                conn.execute(
                    update(messages)
                    .where(messages.c.seq.in_(seqs), due)
                    .values(
                        status=Status.SENDING,
                        claim_token=token,
                        claimed_until=now + lease_seconds,
                        attempts=messages.c.attempts + (1 if was_interrupted else 0),
                    )
                )
            rows = conn.execute(
                select(messages).where(messages.c.claim_token == token).order_by(messages.c.seq)
            ).all()
        return [Message(**row._asdict()) for row in rows]

    def renew(self, message: Message, lease_seconds: float, now: float) -> bool:
        """Extend a claim just before its send; False if another dispatcher took it over.

        A batch is claimed at once but sent one by one: without this, a slow
        batch could outlive the claims of its last messages, and a second
        dispatcher would send them too.
        """
        with self.engine.begin() as conn:
            renewed = conn.execute(
                update(messages)
                .where(
                    messages.c.id == message.id,
                    messages.c.claim_token == message.claim_token,
                    messages.c.status == Status.SENDING,
                    messages.c.claimed_until >= now,
                )
                .values(claimed_until=now + lease_seconds)
            )
        return renewed.rowcount == 1

    def mark_sent(self, message: Message, started_at: float, detail: str) -> bool:
        """Record a successful attempt; False if the claim was lost meanwhile."""
        now = time.time()
        return self._finish(
            message,
            started_at,
            "sent",
            detail,
            status=Status.SENT,
            sent_at=now,
            attempts=messages.c.attempts + 1,
            last_error=None,
        )

    def mark_failed(
        self,
        message: Message,
        started_at: float,
        error: str,
        retry_at: float | None,
        dead_reason: str | None = None,
    ) -> bool:
        """Record a failed attempt: due again at `retry_at`, or dead when it is None."""
        error = error[:500]
        if retry_at is None:
            return self._finish(
                message,
                started_at,
                "dead",
                error,
                status=Status.DEAD,
                attempts=messages.c.attempts + 1,
                last_error=error,
                dead_reason=(dead_reason or "failed")[:100],
            )
        return self._finish(
            message,
            started_at,
            "failed",
            error,
            status=Status.PENDING,
            attempts=messages.c.attempts + 1,
            last_error=error,
            next_attempt_at=retry_at,
        )

    def defer(self, message: Message, until: float, why: str) -> bool:
        """Put a claimed message back, untried, until `until` (e.g. quiet hours)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(messages)
                .where(messages.c.id == message.id, messages.c.claim_token == message.claim_token)
                .values(
                    status=Status.PENDING,
                    next_attempt_at=until,
                    claim_token=None,
                    claimed_until=None,
                    last_error=why,
                )
            )
        return bool(result.rowcount)

    def _finish(
        self, message: Message, started_at: float, outcome: str, detail: str, **values: Any
    ) -> bool:
        # Replayable: a result lost in a power cut leaves the claim to run out, and
        # the message is sent again under its delivery key (see `replayable`).
        with replayable(self.engine).begin() as conn:
            conn.execute(
                attempts.insert().values(
                    message_id=message.id,
                    started_at=started_at,
                    finished_at=time.time(),
                    outcome=outcome,
                    detail=detail[:500],
                )
            )
            # The claim token guards against a dispatcher whose lease ran out
            # overwriting the state another dispatcher has since recorded.
            result = conn.execute(
                update(messages)
                .where(messages.c.id == message.id, messages.c.claim_token == message.claim_token)
                .values(claim_token=None, claimed_until=None, **values)
            )
        return bool(result.rowcount)

    # -- operations -------------------------------------------------------------

    def retry(self, message_id: str, now: float | None = None) -> Message | None:
        """Make a dead message due now with a fresh round of attempts; None if not dead."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(messages)
                .where(messages.c.id == message_id, messages.c.status == Status.DEAD)
                .values(
                    status=Status.PENDING,
                    attempts=0,
                    next_attempt_at=time.time() if now is None else now,
                    dead_reason=None,
                )
            )
        return self.get(message_id) if result.rowcount else None

    def get(self, message_id: str) -> Message | None:
        """A message by its id (delivery key)."""
        with reading(self.engine) as conn:
            row = conn.execute(select(messages).where(messages.c.id == message_id)).first()
        return Message(**row._asdict()) if row is not None else None

    def attempts_of(self, message_id: str) -> list[Attempt]:
        """Every attempt on a message, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(attempts).where(attempts.c.message_id == message_id).order_by(attempts.c.id)
            ).all()
        return [Attempt(**row._asdict()) for row in rows]

    def list(
        self, query: MessageFilter, limit: int, before: int | None = None
    ) -> tuple[Sequence[Message], int | None]:
        """A page of messages, newest first, and the cursor of the next page."""
        statement = select(messages).order_by(messages.c.seq.desc()).limit(limit + 1)
        if query.complaint_id:
            statement = statement.where(messages.c.complaint_id == query.complaint_id)
        if query.status:
            statement = statement.where(messages.c.status == query.status)
        if query.channel:
            statement = statement.where(messages.c.channel == query.channel)
        if before is not None:
            statement = statement.where(messages.c.seq < before)
        with reading(self.engine) as conn:
            rows = [Message(**row._asdict()) for row in conn.execute(statement).all()]
        more = len(rows) > limit
        rows = rows[:limit]
        return rows, (rows[-1].seq if more and rows else None)

    def counts(self) -> dict[tuple[str, str], int]:
        """How many messages there are by (status, channel)."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(messages.c.status, messages.c.channel, func.count()).group_by(
                    messages.c.status, messages.c.channel
                )
            ).all()
        return {(status, channel): int(n) for status, channel, n in rows}
