"""Work queues: a projection of complaints for list queries (by status, owner, due date).

Reads by id load the aggregate; lists read this table, kept in the same
database. Rows are upserted from the aggregate right after each write, and a
catch-up pass follows the event store's notification log so that a crash
between the two loses nothing. An upsert never replaces a newer version.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, overload
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from services.complaints.application import ComplaintNotFound, ComplaintsApplication
from services.complaints.domain.complaint import Complaint
from services.complaints.domain.workflow import TERMINAL
from services.kernel.database import reading

log = logging.getLogger("services.complaints.queue")
metadata = MetaData()

complaint_queue = Table(
    "complaint_queue",
    metadata,
    Column("complaint_id", String(36), primary_key=True),
    Column("case_number", String(32), nullable=False, unique=True),
    Column("status", String(20), nullable=False, index=True),
    Column("owner", String(100), nullable=False, index=True),
    Column("assignee", String(100), index=True),
    Column("category", String(40), index=True),
    Column("severity", String(20)),
    Column("channel", String(20), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("next_due_at", DateTime(timezone=True), index=True),
    Column("next_alarm_at", DateTime(timezone=True), index=True),
    Column("breached", Boolean, nullable=False, default=False),
    Column("erase_after", DateTime(timezone=True), index=True),
    Column("version", Integer, nullable=False),
)

queue_position = Table(
    "complaint_queue_position",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("position", Integer, nullable=False),
)


@dataclass(frozen=True)
class QueueFilter:
    """What a work-queue query selects."""

    status: str | None = None
    owner: str | None = None
    assignee: str | None = None
    category: str | None = None
    breached: bool | None = None
    due_before: datetime | None = None


class WorkQueue:
    """The projection table and its queries."""

    def __init__(self, engine: Engine, app: ComplaintsApplication) -> None:
        self.engine = engine
        self.app = app
        metadata.create_all(engine, checkfirst=True)

    def record(self, complaint: Complaint) -> None:
        """Upsert a complaint's row, unless a newer version is already there."""
        retention = self.app.pinned_policy(complaint).retention_after_close
        row = _row(complaint, retention)
        with self.engine.begin() as conn:
            done = conn.execute(
                update(complaint_queue)
                .where(complaint_queue.c.complaint_id == row["complaint_id"])
                .where(complaint_queue.c.version < row["version"])
                .values(**row)
            )
            if done.rowcount:
                return
            exists = conn.execute(
                select(complaint_queue.c.version).where(
                    complaint_queue.c.complaint_id == row["complaint_id"]
                )
            ).first()
            if exists is not None:
                return
        try:
            with self.engine.begin() as conn:
                conn.execute(complaint_queue.insert().values(**row))
        except IntegrityError:
            pass  # Inserted meanwhile by another writer; its version is at least ours.

    def catch_up(self, batch: int = 500) -> int:
        """Project every event recorded since the last pass; returns how many."""
        with reading(self.engine) as conn:
            position = conn.execute(
                select(queue_position.c.position).where(queue_position.c.name == "queue")
            ).scalar_one_or_none()
        start = (position or 0) + 1
        notifications = self.app.recorder.select_notifications(start=start, limit=batch)
        if not notifications:
            return 0
        for complaint_id in dict.fromkeys(n.originator_id for n in notifications):
            try:
                self.record(self.app.get(UUID(str(complaint_id))))
            except ComplaintNotFound:
                continue
            except Exception as exc:
                # One bad row must not stop the queue (and the deadline monitor
                # behind it) for every other complaint.
                log.error(
                    "queue row not projected",
                    extra={"complaint_id": str(complaint_id), "error_type": type(exc).__name__},
                )
        last = notifications[-1].id
        with self.engine.begin() as conn:
            moved = conn.execute(
                update(queue_position)
                .where(queue_position.c.name == "queue", queue_position.c.position < last)
                .values(position=last)
            )
        if not moved.rowcount and position is None:
            with contextlib.suppress(IntegrityError), self.engine.begin() as conn:
                conn.execute(queue_position.insert().values(name="queue", position=last))
        return len(notifications)

    def list(
        self, query: QueueFilter, limit: int, cursor: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the queue, oldest receipt first; returns the next cursor."""
        table = complaint_queue
        stmt = select(table)
        for column, value in (
            (table.c.status, query.status),
            (table.c.owner, query.owner),
            (table.c.assignee, query.assignee),
            (table.c.category, query.category),
            (table.c.breached, query.breached),
        ):
            if value is not None:
                stmt = stmt.where(column == value)
        if query.due_before is not None:
            stmt = stmt.where(table.c.next_due_at < _utc(query.due_before))
        # Keyset pagination on (received_at, complaint_id): stable under inserts.
        if cursor:
            received, last_id = _decode_cursor(cursor)
            stmt = stmt.where(
                or_(
                    table.c.received_at > _utc(received),
                    and_(table.c.received_at == _utc(received), table.c.complaint_id > last_id),
                )
            )
        stmt = stmt.order_by(table.c.received_at, table.c.complaint_id).limit(limit + 1)
        with reading(self.engine) as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for row in rows:
            for key in ("received_at", "next_due_at", "next_alarm_at"):
                row[key] = _utc(row[key])
        next_cursor = None
        if len(rows) > limit:
            rows = rows[:limit]
            next_cursor = _encode_cursor(rows[-1]["received_at"], rows[-1]["complaint_id"])
        return rows, next_cursor

    def due_for_erasure(self, now: datetime, limit: int = 200) -> Sequence[str]:
        """Closed or withdrawn complaints whose retention period has run out."""
        stmt = (
            select(complaint_queue.c.complaint_id)
            .where(complaint_queue.c.erase_after <= _utc(now))
            .order_by(complaint_queue.c.erase_after)
            .limit(limit)
        )
        with reading(self.engine) as conn:
            return [r[0] for r in conn.execute(stmt)]

    def due_alarms(self, now: datetime, limit: int = 200) -> Sequence[str]:
        """Complaints with a warning or breach due at `now`."""
        stmt = (
            select(complaint_queue.c.complaint_id)
            .where(complaint_queue.c.next_alarm_at <= _utc(now))
            .order_by(complaint_queue.c.next_alarm_at)
            .limit(limit)
        )
        with reading(self.engine) as conn:
            return [r[0] for r in conn.execute(stmt)]


def _row(complaint: Complaint, retention: timedelta | None) -> dict[str, Any]:
    running = [
        complaint.deadline(name)
        for name, raw in complaint.deadlines.items()
        if raw.get("completed_at") is None and raw.get("paused_at") is None
    ]
    terminal = complaint.status in TERMINAL
    next_due = None if terminal else min((d.due_at for d in running), default=None)
    erase_after = None
    if complaint.closed_at is not None and retention is not None and not complaint.erased:
        erase_after = complaint.closed_at + retention
    return {
        "complaint_id": str(complaint.id),
        "case_number": complaint.case_number,
        "status": complaint.status.value,
        "owner": complaint.owner,
        "assignee": complaint.assignee["id"] if complaint.assignee else None,
        "category": complaint.category,
        "severity": complaint.severity,
        "channel": complaint.channel,
        "received_at": _utc(complaint.received_at),
        "next_due_at": _utc(next_due),
        "next_alarm_at": _utc(complaint.next_alarm()),
        "breached": complaint.breached,
        "erase_after": _utc(erase_after),
        "version": complaint.version,
    }


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    """UTC, so that SQLite (which drops the offset) and PostgreSQL compare alike."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _encode_cursor(received_at: datetime, complaint_id: str) -> str:
    raw = json.dumps([received_at.isoformat(), complaint_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        received, complaint_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(received), str(complaint_id)
    except (ValueError, TypeError) as exc:
        raise ValueError("Malformed cursor.") from exc
