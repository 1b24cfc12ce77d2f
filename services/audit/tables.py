"""The audit database: the append-only ledger tables and the complaint summaries.

`ledger_entries`, `ledger_nodes` and `ledger_checkpoints` only ever grow; the
database refuses to change them (see `immutability`). `complaint_summaries` is
an ordinary projection, rewritten as the feed goes on, and never trusted: the
verifier recomputes it from the entries. `audit_derivations` names the version
of each projection's derivation, so a changed one is rebuilt from the ledger.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

entries = Table(
    "ledger_entries",
    metadata,
    Column("entry_index", BigInteger, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False, unique=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("complaint_id", String(64), nullable=False, index=True),
    # The exact bytes hashed into the tree: every field shown is read back from them.
    Column("leaf", LargeBinary, nullable=False),
)

nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("node_index", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", DateTime, nullable=False),
    UniqueConstraint("tree_size", "key_id", name="uq_ledger_checkpoints_size_key"),
)

summaries = Table(
    "complaint_summaries",
    metadata,
    Column("complaint_id", String(64), primary_key=True),
    Column("case_number", String(64)),
    Column("status", String(32), nullable=False, index=True),
    Column("category", String(32), index=True),
    Column("severity", String(16)),
    Column("channel", String(16)),
    Column("region", String(64)),
    Column("owner", String(100)),
    Column("assignee", String(100)),
    Column("team", String(100)),
    Column("repeat", Boolean),
    # Instants are stored as naive UTC so both backends compare them alike.
    Column("received_at", DateTime, index=True),
    Column("accepted_at", DateTime),
    Column("investigated_at", DateTime),
    Column("resolved_at", DateTime),
    Column("final_resolved_at", DateTime),
    Column("restored_at", DateTime),
    Column("ended_at", DateTime),
    Column("satisfaction", SmallInteger),
    Column("reopen_count", Integer, nullable=False, default=0),
    Column("escalated", Boolean, nullable=False, default=False),
    Column("breached", Boolean, nullable=False, default=False, index=True),
    Column("deadlines", Text, nullable=False, default="{}"),
    # Clocks of earlier rounds (before a reopen, a new clock): breaches there still count.
    Column("rounds", Text, nullable=False, default="[]"),
    Column("last_position", BigInteger, nullable=False),
    # The ledger index of the last entry folded in: reads "as of" a tree size refold
    # the rows changed since from the immutable entries.
    Column("last_index", BigInteger, nullable=False, index=True),
)

derivations = Table(
    "audit_derivations",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

APPEND_ONLY = (entries, nodes, checkpoints)
"""The tables the database itself refuses to UPDATE, DELETE or TRUNCATE."""
