"""Finding a customer's complaints by phone, e-mail or account, each search on record.

The identifier is normalised and looked up in the blind index (under every
key of the ring); the complaints found are answered from the work queue,
like any list. Before it answers, the search is appended to the search log
with who asked, why and which complaints it revealed: a search that cannot
be recorded is not answered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select

from services.complaints.application import ComplaintNotFound, ComplaintsApplication
from services.complaints.blind_index import terms_of
from services.complaints.customer_index import CustomerIndex
from services.complaints.customer_searches import SearchLog
from services.complaints.domain.complaint import Actor
from services.complaints.domain.policy import SlaPolicy
from services.complaints.queue import QueueFilter, WorkQueue, complaint_queue
from services.kernel.database import reading


class CustomerHistory:
    """Searches of the blind index, answered from the work queue and logged."""

    def __init__(
        self,
        app: ComplaintsApplication,
        index: CustomerIndex,
        queue: WorkQueue,
        log: SearchLog,
    ) -> None:
        self.app = app
        self.index = index
        self.queue = queue
        self.log = log

    def search(
        self,
        actor: Actor,
        *,
        kind: str,
        value: str,
        purpose: str,
        query: QueueFilter,
        limit: int,
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The customer's complaints (oldest first) and the search-log entry recorded."""
        self.index.catch_up_fully()
        ids = self.index.find(kind, value)
        rows = [r for r in self.rows(ids) if _matches(r, query)][:limit]
        entry = self.log.append(
            at=self.app.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            kind=kind,
            purpose=purpose,
            complaint_ids=[r["complaint_id"] for r in rows],
        )
        return rows, {"seq": entry["seq"], "kind": kind, "purpose": purpose}

    def repeated(
        self,
        customer: Mapping[str, Any],
        category: str | None,
        received_at: datetime,
        policy: SlaPolicy,
    ) -> list[dict[str, Any]]:
        """The earlier complaints a new one repeats, under the policy's repeat rule.

        Same customer: any of phone, e-mail or account in common. Earlier:
        received within `repeat_window` before `received_at`. With
        `repeat_same_category`, only complaints of the new one's category
        count, so a complaint registered without a category repeats none.
        Not a staff search (nothing is shown but the links, which the
        Registered event records for good), so it is not in the search log.
        """
        window = policy.repeat_window
        if window is None or (policy.repeat_same_category and category is None):
            return []
        terms = terms_of(customer)
        if not terms:
            return []
        self.index.catch_up_fully()
        since = received_at - window
        found = []
        for row in self.rows(self.index.find_terms(terms)):
            if not since <= row["received_at"] <= received_at:
                continue
            if policy.repeat_same_category and row["category"] != category:
                continue
            found.append(
                {
                    "complaint_id": row["complaint_id"],
                    "case_number": row["case_number"],
                    "received_at": row["received_at"].isoformat(),
                }
            )
        return found

    def rows(self, complaint_ids: Sequence[str]) -> list[dict[str, Any]]:
        """Work-queue rows of these complaints, projecting any the queue has not caught yet."""
        if not complaint_ids:
            return []
        rows = self._select(complaint_ids)
        missing = set(complaint_ids) - {r["complaint_id"] for r in rows}
        for complaint_id in missing:
            try:
                self.queue.record(self.app.get(UUID(complaint_id)))
            except ComplaintNotFound:
                continue
        if missing:
            rows = self._select(complaint_ids)
        return rows

    def _select(self, complaint_ids: Sequence[str]) -> list[dict[str, Any]]:
        table = complaint_queue
        stmt = (
            select(table)
            .where(table.c.complaint_id.in_(list(complaint_ids)))
            .order_by(table.c.received_at, table.c.complaint_id)
        )
        with reading(self.queue.engine) as conn:
            rows = [dict(r._mapping) for r in conn.execute(stmt)]
        for row in rows:
            for key in ("received_at", "next_due_at", "next_alarm_at", "erase_after"):
                value = row.get(key)
                if value is not None and value.tzinfo is None:
                    row[key] = value.replace(tzinfo=UTC)
        return rows


def _matches(row: dict[str, Any], query: QueueFilter) -> bool:
    for column, wanted in (
        ("status", query.status),
        ("owner", query.owner),
        ("assignee", query.assignee),
        ("category", query.category),
        ("breached", query.breached),
    ):
        if wanted is not None and row.get(column) != wanted:
            return False
    due = row.get("next_due_at")
    return query.due_before is None or (due is not None and due < query.due_before)
