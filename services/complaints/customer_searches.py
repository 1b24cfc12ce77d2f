"""The search log: every customer-history search, who made it, why and what it revealed.

A search is a read across many complaints, or across none (a search that
finds nothing is as much worth auditing as one that finds a case), so it is
not an event of any one complaint. Each search is one row of an append-only,
hash-chained table in the complaints database:

- the database refuses UPDATE, DELETE (and TRUNCATE, REPLACE) with triggers,
  so an accident or a casual edit fails loudly;
- each row's `digest` is SHA-256 over the previous row's digest and the
  row's canonical JSON (RFC 8785), so removing, reordering or editing a row
  after dropping the triggers breaks the chain, which `verify()` and
  `GET /v1/customer-searches` report.

A row holds no personal data: no identifier, no token (a token would link
the search to the customer), only the kind searched (phone, e-mail,
account), the purpose (one of a fixed list, never free text, because the log
can never be erased), the actor, the time and the ids of the complaints
returned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    text,
)

from services.kernel.database import reading

metadata = MetaData()

# Why staff may look up a customer's history; a search must name one.
SEARCH_PURPOSES = (
    "incoming_contact",  # the customer calls or writes without a case number
    "repeat_check",  # is this complaint a repeat of an earlier one?
    "complaint_handling",  # working a case of this customer
    "customer_request",  # the customer asks for their own history
    "regulator_request",  # an appeal centre or regulator asks
    "quality_review",  # supervision of handling quality
)
GENESIS = "0" * 64
_PG_LOCK = 0x63737263  # serialises appends, so the chain never forks

customer_searches = Table(
    "customer_searches",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("searched_at", DateTime(timezone=True), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("actor_role", String(20), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("purpose", String(40), nullable=False),
    Column("found", Integer, nullable=False),
    Column("complaint_ids", Text, nullable=False),
    Column("prev_digest", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION customer_searches_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'customer_searches is append-only: % refused', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END
$$
"""


@dataclass(frozen=True)
class ChainCheck:
    """The result of re-computing the chain."""

    ok: bool
    entries: int
    head: str
    first_bad_seq: int | None = None


class SearchLog:
    """Appends searches and checks the chain."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with engine.begin() as conn:
            _install(conn)

    def append(
        self,
        *,
        at: datetime,
        actor_id: str,
        actor_role: str,
        kind: str,
        purpose: str,
        complaint_ids: Sequence[str],
    ) -> dict[str, Any]:
        """Record one search; returns the row written."""
        if purpose not in SEARCH_PURPOSES:
            raise ValueError(f"Unknown search purpose {purpose!r}.")
        table = customer_searches
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
            last = conn.execute(
                select(table.c.seq, table.c.digest).order_by(table.c.seq.desc()).limit(1)
            ).first()
            seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
            row = {
                "seq": seq,
                "searched_at": at.astimezone(UTC),
                "actor_id": actor_id,
                "actor_role": actor_role,
                "kind": kind,
                "purpose": purpose,
                "found": len(complaint_ids),
                "complaint_ids": json.dumps(list(complaint_ids)),
                "prev_digest": prev,
            }
            row["digest"] = _digest(row)
            conn.execute(table.insert().values(**row))
        return row

    def page(self, after: int, limit: int) -> list[dict[str, Any]]:
        """Entries after `seq`, oldest first."""
        table = customer_searches
        stmt = select(table).where(table.c.seq > after).order_by(table.c.seq).limit(limit)
        with reading(self.engine) as conn:
            return [_public(dict(r._mapping)) for r in conn.execute(stmt)]

    def count(self) -> int:
        """How many searches are on record."""
        with reading(self.engine) as conn:
            return int(
                conn.execute(select(func.count()).select_from(customer_searches)).scalar_one()
            )

    def verify(self) -> ChainCheck:
        """Re-compute every digest from the first entry."""
        table = customer_searches
        prev, entries, expected_seq = GENESIS, 0, 1
        with reading(self.engine) as conn:
            for r in conn.execute(select(table).order_by(table.c.seq)):
                row = dict(r._mapping)
                if (
                    row["seq"] != expected_seq
                    or row["prev_digest"] != prev
                    or _digest(row) != row["digest"]
                ):
                    return ChainCheck(False, entries, prev, first_bad_seq=row["seq"])
                prev, entries, expected_seq = row["digest"], entries + 1, expected_seq + 1
        return ChainCheck(True, entries, prev)


def _digest(row: dict[str, Any]) -> str:
    body = {k: v for k, v in _public(row).items() if k != "digest"}
    return hashlib.sha256(row["prev_digest"].encode() + rfc8785.dumps(body)).hexdigest()


def _public(row: dict[str, Any]) -> dict[str, Any]:
    at = row["searched_at"]
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    ids = row["complaint_ids"]
    return {
        "seq": int(row["seq"]),
        "searched_at": at.isoformat(timespec="microseconds"),
        "actor": {"id": row["actor_id"], "role": row["actor_role"]},
        "kind": row["kind"],
        "purpose": row["purpose"],
        "found": int(row["found"]),
        "complaint_ids": json.loads(ids) if isinstance(ids, str) else list(ids),
        "prev_digest": row["prev_digest"],
        **({"digest": row["digest"]} if "digest" in row else {}),
    }


def _install(conn: Connection) -> None:
    name = customer_searches.name
    if conn.dialect.name == "postgresql":
        # Replicas starting together would race on CREATE TABLE and on the triggers.
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
        metadata.create_all(conn, checkfirst=True)
        conn.execute(text(_PG_FUNCTION))
        conn.exec_driver_sql(
            f"CREATE OR REPLACE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
            "FOR EACH ROW EXECUTE FUNCTION customer_searches_refuse_change()"
        )
        conn.exec_driver_sql(
            f"CREATE OR REPLACE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
            "FOR EACH STATEMENT EXECUTE FUNCTION customer_searches_refuse_change()"
        )
        return
    metadata.create_all(conn, checkfirst=True)
    refuse = f"SELECT RAISE(ABORT, '{name} is append-only')"
    for operation in ("UPDATE", "DELETE"):
        conn.exec_driver_sql(
            f"CREATE TRIGGER IF NOT EXISTS {name}_no_{operation.lower()} "
            f"BEFORE {operation} ON {name} BEGIN {refuse}; END"
        )
    conn.exec_driver_sql(
        f"CREATE TRIGGER IF NOT EXISTS {name}_no_replace BEFORE INSERT ON {name} "
        f"WHEN EXISTS (SELECT 1 FROM {name} WHERE seq = NEW.seq) BEGIN {refuse}; END"
    )
