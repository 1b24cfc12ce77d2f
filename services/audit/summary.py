"""Complaint summaries: one row per complaint, kept from the feed for search and reports.

`evolve` folds one feed item into a summary (a plain dict); `ComplaintSummaries`
applies a page of items in the consumer's transaction and answers searches.
No personal data is kept: the feed's masked customer is not copied here.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select

from services.audit.tables import summaries
from services.kernel.database import reading

log = logging.getLogger("services.audit.summary")
REPORT_BATCH = 1000

Summary = dict[str, Any]

# The status each workflow event leads to (services/complaints/domain/workflow.py).
STATUS_AFTER = {
    "Registered": "received",
    "Accepted": "accepted",
    "Investigated": "investigated",
    "Resolved": "resolved",
    "Disputed": "disputed",
    "Reopened": "accepted",
    "Escalated": "escalated",
    "Closed": "closed",
    "Withdrawn": "withdrawn",
}
# The first time a complaint reached each step: reopening does not reset it.
FIRST_REACHED = {
    "Accepted": "accepted_at",
    "Investigated": "investigated_at",
    "Resolved": "resolved_at",
    "Closed": "ended_at",
    "Withdrawn": "ended_at",
}


def instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant from the feed as naive UTC, the form the table stores."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def new_summary(complaint_id: str) -> Summary:
    """The summary of a complaint before its first event."""
    return {
        "complaint_id": complaint_id,
        "case_number": None,
        "status": "received",
        "category": None,
        "severity": None,
        "channel": None,
        "owner": None,
        "received_at": None,
        "accepted_at": None,
        "investigated_at": None,
        "resolved_at": None,
        "ended_at": None,
        "satisfaction": None,
        "reopen_count": 0,
        "escalated": False,
        "breached": False,
        "deadlines": "{}",
        "last_position": 0,
    }


def evolve(summary: Summary, item: dict[str, Any]) -> Summary:
    """The summary after one feed item."""
    kind, data = item["type"], item.get("data") or {}
    at = instant(item["occurred_at"])
    out = dict(summary, last_position=item["position"])
    if kind == "Registered":
        out.update(
            case_number=data.get("case_number"),
            category=data.get("category"),
            channel=data.get("channel"),
            owner=data.get("owner"),
            received_at=instant(data.get("received_at")) or at,
        )
    elif kind == "Accepted":
        out.update(category=data.get("category"), severity=data.get("severity"))
    elif kind == "Confirmed":
        out["satisfaction"] = data.get("satisfaction")
    elif kind == "Reopened":
        out["reopen_count"] = summary["reopen_count"] + 1
    elif kind == "Escalated":
        out["escalated"] = True
    if kind in STATUS_AFTER:
        out["status"] = STATUS_AFTER[kind]
    column = FIRST_REACHED.get(kind)
    if column and out[column] is None:
        out[column] = at
    deadlines = json.loads(summary["deadlines"])
    for stopped in data.get("stopped") or ():
        deadlines.pop(stopped, None)  # reclassified: that clock no longer applies
    if isinstance(data.get("deadlines"), dict):
        deadlines.update(data["deadlines"])
    if kind in ("SlaWarning", "SlaBreached"):
        clock = dict(deadlines.get(data["milestone"], {"due_at": data.get("due_at")}))
        clock["warned_at" if kind == "SlaWarning" else "breached_at"] = item["occurred_at"]
        deadlines[data["milestone"]] = clock
    out["deadlines"] = json.dumps(deadlines, sort_keys=True)
    # A breach stays on record through a reopen, which replaces the clocks.
    out["breached"] = bool(summary["breached"]) or any(
        clock.get("breached_at") for clock in deadlines.values()
    )
    return out


@dataclass(frozen=True)
class SummaryFilter:
    """What a search asks for; None means any."""

    status: str | None = None
    category: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    breached: bool | None = None


class ComplaintSummaries:
    """The summary table: kept from the feed, read by search and reports."""

    def __init__(self, engine: Engine) -> None:
        """Read through `engine`."""
        self.engine = engine

    def apply(self, conn: Connection, items: Sequence[dict[str, Any]]) -> None:
        """Fold a page of feed items into the summaries, in the caller's transaction."""
        ids = sorted({item["complaint_id"] for item in items})
        known = {
            row.complaint_id: dict(row._mapping)
            for row in conn.execute(select(summaries).where(summaries.c.complaint_id.in_(ids)))
        }
        current = dict(known)
        for item in items:
            cid = item["complaint_id"]
            try:
                current[cid] = evolve(current.get(cid) or new_summary(cid), item)
            except Exception as exc:
                # The ledger must never stall on a summary it cannot fold: the entry
                # is appended all the same, and the operator is told.
                log.error(
                    "summary not updated",
                    extra={
                        "complaint_id": cid,
                        "type": item.get("type"),
                        "error_type": type(exc).__name__,
                    },
                )
        for cid, row in current.items():
            if cid in known:
                conn.execute(
                    summaries.update().where(summaries.c.complaint_id == cid).values(**row)
                )
            else:
                conn.execute(summaries.insert().values(**row))

    def search(
        self, query: SummaryFilter, limit: int, cursor: str | None = None
    ) -> tuple[list[Summary], str | None]:
        """Summaries matching `query`, by receipt time, and the cursor of the next page."""
        conditions = _conditions(query)
        if cursor is not None:
            received, cid = _decode_cursor(cursor)
            conditions.append(
                or_(
                    summaries.c.received_at > received,
                    and_(summaries.c.received_at == received, summaries.c.complaint_id > cid),
                )
            )
        statement = (
            select(summaries)
            .where(*conditions)
            .order_by(summaries.c.received_at, summaries.c.complaint_id)
            .limit(limit + 1)
        )
        with reading(self.engine) as conn:
            rows = [dict(row._mapping) for row in conn.execute(statement)]
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        return [public_summary(row) for row in rows[:limit]], next_cursor

    def received_between(self, start: datetime | None, end: datetime | None) -> Iterator[Summary]:
        """Every summary of a complaint received in `[start, end)`, streamed for reports."""
        conditions = _conditions(SummaryFilter(received_from=start, received_to=end))
        last = ""
        while True:
            # Keyset batches: bounded memory on both backends, no long-lived cursor.
            with reading(self.engine) as conn:
                batch = conn.execute(
                    select(summaries)
                    .where(*conditions, summaries.c.complaint_id > last)
                    .order_by(summaries.c.complaint_id)
                    .limit(REPORT_BATCH)
                ).all()
            for row in batch:
                yield dict(row._mapping)
            if len(batch) < REPORT_BATCH:
                return
            last = batch[-1].complaint_id


def public_summary(row: Summary) -> Summary:
    """A summary in its API form: instants as ISO 8601 UTC, deadlines as an object."""
    out = dict(row)
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = value.replace(tzinfo=UTC).isoformat()
    out["deadlines"] = json.loads(row["deadlines"])
    return out


def _conditions(query: SummaryFilter) -> list[Any]:
    conditions: list[Any] = [summaries.c.received_at.is_not(None)]
    if query.status is not None:
        conditions.append(summaries.c.status == query.status)
    if query.category is not None:
        conditions.append(summaries.c.category == query.category)
    if query.breached is not None:
        conditions.append(summaries.c.breached == query.breached)
    if query.received_from is not None:
        conditions.append(summaries.c.received_at >= _naive(query.received_from))
    if query.received_to is not None:
        conditions.append(summaries.c.received_at < _naive(query.received_to))
    return conditions


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def _encode_cursor(row: Summary) -> str:
    raw = json.dumps([row["received_at"].isoformat(), row["complaint_id"]])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        received, cid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(received), str(cid)
    except (ValueError, TypeError) as exc:
        raise ValueError("invalid cursor") from exc
