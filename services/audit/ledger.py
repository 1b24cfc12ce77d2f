"""The ledger: one append-only entry per feed item, the leaves of a Merkle tree.

An entry's leaf bytes are the RFC 8785 canonical JSON of its fields: its
0-based `index`, every field of the feed item, and `recorded_at`, the time
the audit service recorded it. The bytes are stored as they were hashed, and
every field the API shows is read back from them, so what a regulator sees is
exactly what the tree proves.

Appending a page writes the entries and the perfect-subtree hashes they
complete (`merkle.CompactRange`) in the caller's transaction, so proofs and
roots later cost one batched read of O(log n) stored nodes at any size.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785
from sqlalchemy import Connection, Engine, and_, func, or_, select

from services.audit import merkle
from services.audit.tables import entries, nodes
from services.kernel.database import reading

Clock = Callable[[], datetime]
RESERVED_FIELDS = ("index", "recorded_at")


def leaf_bytes(fields: dict[str, Any]) -> bytes:
    """The canonical bytes of an entry: RFC 8785 JSON of its fields."""
    return rfc8785.dumps(fields)


def entry_fields(index: int, item: dict[str, Any], recorded_at: datetime) -> dict[str, Any]:
    """An entry's fields: its index, the feed item's fields, and when it was recorded."""
    clash = [name for name in RESERVED_FIELDS if name in item]
    if clash:
        raise ValueError(f"feed item carries reserved field(s) {clash}")
    return {"index": index, **item, "recorded_at": recorded_at.isoformat()}


@dataclass(frozen=True)
class Entry:
    """One ledger entry as stored: its index and exact leaf bytes."""

    index: int
    leaf: bytes

    @property
    def fields(self) -> dict[str, Any]:
        """The entry's fields, parsed from its leaf bytes."""
        parsed: dict[str, Any] = json.loads(self.leaf)
        return parsed

    @property
    def leaf_hash(self) -> bytes:
        """The RFC 6962 leaf hash."""
        return merkle.leaf_hash(self.leaf)


class ConnectionNodeStore:
    """`merkle.NodeStore` over the `ledger_nodes` table, read through one connection."""

    def __init__(self, conn: Connection) -> None:
        """Read nodes through `conn` (and its transaction, if any)."""
        self.conn = conn

    def get_nodes(self, keys: Sequence[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        """Return the stored hashes among `keys`, in one query."""
        if not keys:
            return {}
        # An OR of exact keys, not a row-value IN: SQLite plans the latter as a scan.
        wanted = or_(*(and_(nodes.c.level == lv, nodes.c.node_index == ix) for lv, ix in keys))
        rows = self.conn.execute(
            select(nodes.c.level, nodes.c.node_index, nodes.c.hash).where(wanted)
        )
        return {(row.level, row.node_index): bytes(row.hash) for row in rows}


def tree_size(conn: Connection) -> int:
    """The number of entries: one past the last index."""
    last = conn.execute(select(func.max(entries.c.entry_index))).scalar()
    return 0 if last is None else int(last) + 1


def append(conn: Connection, items: Sequence[dict[str, Any]], recorded_at: datetime) -> int:
    """Append one entry per feed item, in order, with the tree nodes they complete.

    Runs in the caller's transaction; returns the new tree size.
    """
    size = tree_size(conn)
    border = merkle.CompactRange.from_store(size, ConnectionNodeStore(conn))
    entry_rows: list[dict[str, Any]] = []
    node_rows: list[dict[str, Any]] = []
    for offset, item in enumerate(items):
        index = size + offset
        leaf = leaf_bytes(entry_fields(index, item, recorded_at))
        entry_rows.append(
            {
                "entry_index": index,
                "position": item["position"],
                "event_id": item["event_id"],
                "complaint_id": item["complaint_id"],
                "leaf": leaf,
            }
        )
        node_rows.extend(
            {"level": level, "node_index": node_index, "hash": digest}
            for level, node_index, digest in border.append(merkle.leaf_hash(leaf))
        )
    if entry_rows:
        conn.execute(entries.insert(), entry_rows)
        conn.execute(nodes.insert(), node_rows)
    return border.size


class _KeyRecorder:
    """A `NodeStore` that answers any key with a dummy hash and remembers what was asked."""

    def __init__(self) -> None:
        self.keys: list[merkle.NodeKey] = []

    def get_nodes(self, keys: Sequence[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        self.keys.extend(keys)
        return dict.fromkeys(keys, merkle.EMPTY_ROOT)


class Ledger:
    """Reads of the ledger, and its append as a feed handler."""

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        """Read through `engine`; `clock` stamps `recorded_at` (UTC now by default)."""
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def append(self, conn: Connection, items: Sequence[dict[str, Any]]) -> int:
        """Append feed items in the caller's transaction; return the new tree size."""
        return append(conn, items, self.clock())

    def size(self) -> int:
        """The current number of entries."""
        with reading(self.engine) as conn:
            return tree_size(conn)

    def entries(self, start: int, end: int) -> list[Entry]:
        """Entries with `start <= index < end`, in order."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(entries.c.entry_index, entries.c.leaf)
                .where(entries.c.entry_index >= start, entries.c.entry_index < end)
                .order_by(entries.c.entry_index)
            )
            return [Entry(row.entry_index, bytes(row.leaf)) for row in rows]

    def case_entries(self, complaint_id: str, below: int) -> list[Entry]:
        """A complaint's entries with index below `below`, in order."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(entries.c.entry_index, entries.c.leaf)
                .where(entries.c.complaint_id == complaint_id, entries.c.entry_index < below)
                .order_by(entries.c.entry_index)
            )
            return [Entry(row.entry_index, bytes(row.leaf)) for row in rows]

    def count_for(self, complaint_id: str) -> int:
        """How many entries a complaint has."""
        with reading(self.engine) as conn:
            return int(
                conn.execute(
                    select(func.count()).where(entries.c.complaint_id == complaint_id)
                ).scalar_one()
            )

    def root(self, size: int) -> bytes:
        """The root hash of the first `size` entries."""
        with reading(self.engine) as conn:
            return merkle.root_hash(size, ConnectionNodeStore(conn))

    def inclusion_proofs(self, indexes: Sequence[int], size: int) -> list[list[bytes]]:
        """Inclusion proofs of several entries in the tree of `size` entries, in one read."""
        # First learn which nodes the proofs need (any hash will do for that), then
        # read them all at once: a case file costs one query, not one per entry.
        wanted = _KeyRecorder()
        for index in indexes:
            merkle.inclusion_proof(index, size, wanted)
        memory = merkle.MemoryNodeStore()
        with reading(self.engine) as conn:
            memory.nodes = ConnectionNodeStore(conn).get_nodes(list(dict.fromkeys(wanted.keys)))
        return [merkle.inclusion_proof(index, size, memory) for index in indexes]

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """The inclusion proof of entry `index` in the tree of `size` entries."""
        return self.inclusion_proofs([index], size)[0]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """The proof that the tree of `old_size` entries is a prefix of `new_size`."""
        with reading(self.engine) as conn:
            return merkle.consistency_proof(old_size, new_size, ConnectionNodeStore(conn))
