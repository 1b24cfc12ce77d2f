"""Work queues: a projection of complaints for list queries (by status, owner, due date).

Reads by id load the aggregate; lists read this table, kept in the same
database. Each write upserts the complaint's row in the transaction of its
events (a companion of the application's saves), and a catch-up pass follows
the event store's notification log for rows written before that was so. An
upsert never replaces a newer version.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, overload
from uuid import UUID

from eventsourcing.persistence import Notification
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
    bindparam,
    func,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import Executable

from services.complaints.application import ComplaintNotFound, ComplaintsApplication
from services.complaints.domain.complaint import Complaint
from services.complaints.domain.policy import SlaPolicy
from services.complaints.domain.workflow import TERMINAL
from services.kernel.database import Row, reading

# A cursor is two short strings in base64url: anything longer is not one of ours.
CURSOR_MAX_LENGTH = 200

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
    Column("confirmed", Boolean, nullable=False, default=False, index=True),
    Column("tier", String(20), nullable=False, default="standard"),
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
    confirmed: bool | None = None
    tier: str | None = None


class WorkQueue:
    """The projection table and its queries."""

    def __init__(self, engine: Engine, app: ComplaintsApplication) -> None:
        self.engine = engine
        self.app = app
        self._rebuild_if_outdated()
        metadata.create_all(engine, checkfirst=True)
        self._upsert = _upsert(self.engine.dialect.name)
        app.companions.append(self.rows_for)

    def _rebuild_if_outdated(self) -> None:
        """Drop a projection table missing columns: the catch-up rebuilds it from the events."""
        names = inspect(self.engine).get_table_names()
        if complaint_queue.name not in names:
            return
        have = {c["name"] for c in inspect(self.engine).get_columns(complaint_queue.name)}
        if set(complaint_queue.c.keys()) <= have:
            return
        log.warning("queue projection outdated: rebuilding it from the event store")
        with self.engine.begin() as conn:
            complaint_queue.drop(conn)
            if queue_position.name in names:
                conn.execute(queue_position.delete().where(queue_position.c.name == "queue"))

    def rows_for(self, complaint: Complaint) -> list[Row]:
        """The upsert of the complaint's row, to save with its events."""
        try:
            policy = self.app.pinned_policy(complaint)
            row = _row(complaint, policy.retention_after_close, policy)
        except Exception as exc:
            # A row that cannot be made must not refuse the write: the catch-up retries it.
            log.error(
                "queue row not projected",
                extra={"complaint_id": str(complaint.id), "error_type": type(exc).__name__},
            )
            return []
        return [Row(self._upsert, row)]

    def record(self, complaint: Complaint) -> None:
        """Upsert a complaint's row, unless a newer version is already there."""
        with self.engine.begin() as conn:
            for row in self.rows_for(complaint):
                row.run(conn)

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
        for complaint_id in self._behind(notifications):
            try:
                self.record(self.app.get(UUID(complaint_id)))
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

    def _behind(self, notifications: Sequence[Notification]) -> list[str]:
        """The complaints among `notifications` whose row is missing or older than them.

        Rows are written with each command, so normally none is behind: one query
        per batch instead of loading every aggregate again.
        """
        newest: dict[str, int] = {}
        for n in notifications:
            key = str(n.originator_id)
            newest[key] = max(newest.get(key, 0), n.originator_version)
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(complaint_queue.c.complaint_id, complaint_queue.c.version).where(
                    complaint_queue.c.complaint_id.in_(list(newest))
                )
            )
            projected = {row[0]: row[1] for row in rows}
        return [cid for cid, version in newest.items() if projected.get(cid, 0) < version]

    def next_due(self) -> datetime | None:
        """The earliest time at which an alarm or a retention erasure falls due."""
        with reading(self.engine) as conn:
            alarm, erasure = conn.execute(
                select(
                    func.min(complaint_queue.c.next_alarm_at),
                    func.min(complaint_queue.c.erase_after),
                )
            ).one()
        times = [_utc(t) for t in (alarm, erasure) if t is not None]
        return min(times, default=None)

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
            (table.c.confirmed, query.confirmed),
            (table.c.tier, query.tier),
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


def _upsert(dialect_name: str) -> Executable:
    """Insert a row, or update it when ours is newer (values bound by column name)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    insert = dialect.insert(complaint_queue).values(
        {column.name: bindparam(column.name) for column in complaint_queue.c}
    )
    return insert.on_conflict_do_update(
        index_elements=[complaint_queue.c.complaint_id],
        set_={
            c.name: insert.excluded[c.name] for c in complaint_queue.c if c.name != "complaint_id"
        },
        where=complaint_queue.c.version < insert.excluded.version,
    )


def _row(
    complaint: Complaint, retention: timedelta | None, policy: SlaPolicy | None = None
) -> dict[str, Any]:
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
        "next_alarm_at": _utc(complaint.next_alarm(policy)),
        "breached": complaint.breached,
        "confirmed": complaint.confirmed,
        "tier": complaint.tier,
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
    """Strictly parsed: bounded length, exactly [ISO time, complaint id], else ValueError."""
    if len(cursor) > CURSOR_MAX_LENGTH:
        raise ValueError("Malformed cursor.")
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        # Bounded above, so no nesting deep enough to exhaust the parser gets here;
        # RecursionError is caught all the same.
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error, RecursionError) as exc:
        raise ValueError("Malformed cursor.") from exc
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], str)
        or len(value[1]) > 36
    ):
        raise ValueError("Malformed cursor.")
    try:
        return datetime.fromisoformat(value[0]), value[1]
    except ValueError as exc:
        raise ValueError("Malformed cursor.") from exc
