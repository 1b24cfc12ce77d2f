"""The complaint summary table, and reads of it "as of" a tree size.

Summaries are kept in the consumer's transaction with the ledger entries they
fold, each row naming the ledger index of its last entry. A read states the
tree size T it answers for: rows last changed below T are what the fold of
the first T entries gives; rows changed since are refolded from their
immutable entries below T. Reads run in one snapshot, so a page of the feed
landing meanwhile cannot be half seen. The verifier recomputes the same
answer from the entries and compares it: an edited row is caught.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, select

from services.audit.ledger import tree_size
from services.audit.summary import (
    DERIVATION_VERSION,
    Summary,
    evolve,
    fold,
    new_summary,
    public_summary,
)
from services.audit.tables import derivations, entries, summaries

log = logging.getLogger("services.audit.summary")
BATCH = 1000
REBUILD_BATCH = 2000
CURSOR_MAX_LENGTH = 200
DERIVATION = "complaint_summaries"


@dataclass(frozen=True)
class SummaryFilter:
    """What a search asks for; None means any."""

    status: str | None = None
    category: str | None = None
    received_from: datetime | None = None
    received_to: datetime | None = None
    breached: bool | None = None

    def matches(self, row: Summary) -> bool:
        """The filter applied in Python, to refolded rows: the same test as `_conditions`."""
        received = row.get("received_at")
        if received is None:
            return False
        if self.status is not None and row["status"] != self.status:
            return False
        if self.category is not None and row["category"] != self.category:
            return False
        if self.breached is not None and bool(row["breached"]) != self.breached:
            return False
        if self.received_from is not None and received < _naive(self.received_from):
            return False
        return not (self.received_to is not None and received >= _naive(self.received_to))


@dataclass(frozen=True)
class Cursor:
    """Where a search page ends: the last row's receipt and id, and the tree size read."""

    received_at: datetime
    complaint_id: str
    tree_size: int

    def encode(self) -> str:
        """Opaque to callers: base64url of a small JSON array."""
        raw = json.dumps([self.received_at.isoformat(), self.complaint_id, self.tree_size])
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, cursor: str) -> Cursor:
        """Strictly parsed: bounded length, exactly [string, string, integer], else ValueError."""
        if len(cursor) > CURSOR_MAX_LENGTH:
            raise ValueError("invalid cursor")
        try:
            raw = base64.urlsafe_b64decode(cursor.encode("ascii"))
            # Bounded above, so no nesting deep enough to exhaust the parser can get here.
            value = json.loads(raw)
        except (ValueError, UnicodeError, binascii.Error, RecursionError) as exc:
            raise ValueError("invalid cursor") from exc
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], str)
            or not isinstance(value[1], str)
            or not isinstance(value[2], int)
            or isinstance(value[2], bool)
            or value[2] < 0
        ):
            raise ValueError("invalid cursor")
        try:
            received = datetime.fromisoformat(value[0])
        except ValueError as exc:
            raise ValueError("invalid cursor") from exc
        return cls(_naive(received), value[1], value[2])


class ComplaintSummaries:
    """The summary table: kept from the feed, read as of a tree size."""

    def __init__(self, engine: Engine) -> None:
        """Read through `engine`."""
        self.engine = engine

    def apply(self, conn: Connection, items: Sequence[dict[str, Any]], first_index: int) -> None:
        """Fold a page of feed items (ledger indexes from `first_index`) in the caller's txn."""
        ids = sorted({item["complaint_id"] for item in items})
        known = {
            row.complaint_id: dict(row._mapping)
            for row in conn.execute(select(summaries).where(summaries.c.complaint_id.in_(ids)))
        }
        current = dict(known)
        for offset, item in enumerate(items):
            cid = item["complaint_id"]
            before = current.get(cid) or new_summary(cid)
            try:
                current[cid] = evolve(before, item, first_index + offset)
            except Exception as exc:
                # The ledger must never stall on a summary it cannot fold: the entry is
                # appended all the same, and the operator is told. The verifier's own
                # fold fails alike, so the row stays verifiable.
                current[cid] = {**before, "last_index": first_index + offset}
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

    def ensure_current(self, conn: Connection) -> bool:
        """Rebuild the table from the ledger when its derivation changed; True if rebuilt."""
        stored = conn.execute(
            select(derivations.c.version).where(derivations.c.name == DERIVATION)
        ).scalar()
        if stored == DERIVATION_VERSION:
            return False
        summaries.drop(conn, checkfirst=True)
        summaries.create(conn)
        start = 0
        while True:
            rows = conn.execute(
                select(entries.c.entry_index, entries.c.leaf)
                .where(entries.c.entry_index >= start)
                .order_by(entries.c.entry_index)
                .limit(REBUILD_BATCH)
            ).all()
            if not rows:
                break
            self.apply(conn, [json.loads(bytes(row.leaf)) for row in rows], start)
            start = rows[-1].entry_index + 1
        conn.execute(delete(derivations).where(derivations.c.name == DERIVATION))
        conn.execute(derivations.insert().values(name=DERIVATION, version=DERIVATION_VERSION))
        log.info("summaries rebuilt from the ledger", extra={"tree_size": start})
        return True

    @contextlib.contextmanager
    def snapshot(self, size: int | None = None) -> Iterator[Snapshot]:
        """Reads as of the first `size` entries (default: all), in one database snapshot.

        Raises ValueError when `size` is beyond the ledger.
        """
        with _snapshot_connection(self.engine) as conn:
            current = tree_size(conn)
            if size is None:
                size = current
            if size < 0 or size > current:
                raise ValueError(f"The ledger holds {current} entries, not {size}.")
            yield Snapshot(conn, size, current)


@contextlib.contextmanager
def _snapshot_connection(engine: Engine) -> Iterator[Connection]:
    if engine.dialect.name == "sqlite":
        # A deferred read transaction in WAL mode: a stable snapshot that takes no
        # write lock, so it never queues behind (or blocks) the consumer.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("BEGIN DEFERRED")
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")
        return
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with engine.connect().execution_options(**options) as conn, conn.begin():
        yield conn


class Snapshot:
    """The summaries as the fold of the first `tree_size` ledger entries gives them."""

    def __init__(self, conn: Connection, size: int, current: int) -> None:
        """Read through `conn` (a snapshot); refold what changed since `size`."""
        self.conn = conn
        self.tree_size = size
        self.refolded = self._refold() if size < current else {}

    def _refold(self) -> dict[str, Summary]:
        stale = [
            row.complaint_id
            for row in self.conn.execute(
                select(summaries.c.complaint_id).where(summaries.c.last_index >= self.tree_size)
            )
        ]
        out: dict[str, Summary] = {}
        for chunk in (stale[n : n + 500] for n in range(0, len(stale), 500)):
            found: dict[str, list[dict[str, Any]]] = {}
            for row in self.conn.execute(
                select(entries.c.complaint_id, entries.c.leaf)
                .where(entries.c.complaint_id.in_(chunk), entries.c.entry_index < self.tree_size)
                .order_by(entries.c.entry_index)
            ):
                found.setdefault(row.complaint_id, []).append(json.loads(bytes(row.leaf)))
            for cid, items in found.items():
                summary = fold(cid, items)
                if summary is not None:
                    out[cid] = summary
        return out

    def _fresh(self) -> Any:
        return summaries.c.last_index < self.tree_size

    def search(
        self, query: SummaryFilter, limit: int, after: Cursor | None = None
    ) -> tuple[list[Summary], Cursor | None]:
        """Public summaries matching `query` by receipt time, and the next page's cursor."""
        conditions = [*_conditions(query), self._fresh()]
        if after is not None:
            conditions.append(
                or_(
                    summaries.c.received_at > after.received_at,
                    and_(
                        summaries.c.received_at == after.received_at,
                        summaries.c.complaint_id > after.complaint_id,
                    ),
                )
            )
        statement = (
            select(summaries)
            .where(*conditions)
            .order_by(summaries.c.received_at, summaries.c.complaint_id)
            .limit(limit + 1)
        )
        rows = [dict(row._mapping) for row in self.conn.execute(statement)]
        rows += [
            row
            for row in self.refolded.values()
            if query.matches(row)
            and (after is None or _key(row) > (after.received_at, after.complaint_id))
        ]
        rows.sort(key=_key)
        page = rows[:limit]
        next_cursor = (
            Cursor(page[-1]["received_at"], page[-1]["complaint_id"], self.tree_size)
            if len(rows) > limit
            else None
        )
        return [public_summary(row) for row in page], next_cursor

    def rows(self, query: SummaryFilter | None = None) -> Iterator[Summary]:
        """Every summary matching `query`, streamed in keyset batches (memory stays flat)."""
        query = query or SummaryFilter()
        conditions = [*_conditions(query), self._fresh()]
        last = ""
        while True:
            batch = self.conn.execute(
                select(summaries)
                .where(*conditions, summaries.c.complaint_id > last)
                .order_by(summaries.c.complaint_id)
                .limit(BATCH)
            ).all()
            for row in batch:
                yield dict(row._mapping)
            if len(batch) < BATCH:
                break
            last = batch[-1].complaint_id
        yield from (row for row in self.refolded.values() if query.matches(row))


def _key(row: Summary) -> tuple[datetime, str]:
    return row["received_at"], row["complaint_id"]


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
