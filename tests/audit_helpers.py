"""Helpers for the audit tests: synthetic feed items, and an administrator who tampers.

The tampering functions act directly on the database the way a rogue
administrator would: drop the immutability triggers, then rewrite the
ledger while keeping every entry self-consistent (canonical leaf bytes whose
`index` matches the row), so only the Merkle tree can give them away.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import rfc8785
from sqlalchemy import Engine, delete, select

from services.audit import merkle
from services.audit.tables import checkpoints, entries, nodes

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def feed_item(
    position: int,
    complaint_id: str | None = None,
    version: int = 1,
    type_: str = "NoteAdded",
    data: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> dict[str, Any]:
    """A feed item in the public form of services/complaints/feed.py."""
    cid = complaint_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"complaint/{position}"))
    return {
        "position": position,
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cid}/{version}")),
        "complaint_id": cid,
        "version": version,
        "type": type_,
        "occurred_at": (occurred_at or T0 + timedelta(minutes=position)).isoformat(),
        "actor": {"id": "agent-1", "role": "agent"},
        "schema_version": 1,
        "data": data if data is not None else {"text": f"note {position}"},
    }


def clock(
    due: datetime, completed: datetime | None = None, breached: bool = False
) -> dict[str, Any]:
    """One milestone clock in the feed's form."""
    return {
        "due_at": due.isoformat(),
        "completed_at": completed.isoformat() if completed else None,
        "warned_at": None,
        "breached_at": due.isoformat() if breached else None,
        "paused": False,
    }


def history(
    cid: str, category: str, accept_after: timedelta, late: bool, first: int = 1
) -> list[dict[str, Any]]:
    """A complaint's events: registered, accepted (in time or late), investigated, resolved."""
    due = T0 + timedelta(hours=24)
    accepted = T0 + accept_after
    registered = {
        "case_number": f"260302-{first:06d}",
        "channel": "phone",
        "category": None,
        "received_at": T0.isoformat(),
        "owner": "agent-1",
        "deadlines": {"acceptance": clock(due)},
    }
    acceptance = {
        "category": category,
        "severity": "high",
        "reason": None,
        "deadlines": {"acceptance": clock(due, accepted, breached=late)},
    }
    breach = {"milestone": "acceptance", "due_at": due.isoformat()}
    hour = timedelta(hours=1)
    events: list[tuple[str, dict[str, Any], datetime]] = [
        ("Registered", registered, T0),
        *([("SlaBreached", breach, due)] if late else []),
        ("Accepted", acceptance, accepted),
        ("Investigated", {"findings": "checked"}, accepted + hour),
        ("Resolved", {"resolution": "refunded", "remedy": None}, accepted + 2 * hour),
        ("Confirmed", {"satisfaction": 4, "has_comment": False}, accepted + 3 * hour),
    ]
    return [
        feed_item(first + n, cid, n + 1, kind, data, occurred_at=at)
        for n, (kind, data, at) in enumerate(events)
    ]


def items(count: int, start: int = 1) -> list[dict[str, Any]]:
    """`count` note items on distinct complaints, positions with gaps."""
    return [feed_item(start + 2 * n) for n in range(count)]


def drop_triggers(engine: Engine) -> None:
    """What an administrator does first: remove every trigger of the database."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.exec_driver_sql(
                "SELECT t.tgname, c.relname FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
            ).all()
            for name, table in rows:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}" ON "{table}"')
        else:
            rows = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).all()
            for (name,) in rows:
                conn.exec_driver_sql(f'DROP TRIGGER "{name}"')


Fields = dict[str, Any]


def read_entries(engine: Engine) -> list[Fields]:
    """Every entry's fields, in index order."""
    with engine.connect() as conn:
        rows = conn.execute(select(entries.c.leaf).order_by(entries.c.entry_index))
        return [json.loads(bytes(row.leaf)) for row in rows]


def rewrite_entries(engine: Engine, ledger: list[Fields]) -> None:
    """Replace the whole entries table by `ledger`, re-indexed and re-canonicalised."""
    with engine.begin() as conn:
        conn.execute(delete(entries))
        rows = []
        for index, fields in enumerate(ledger):
            fields = {**fields, "index": index}
            rows.append(
                {
                    "entry_index": index,
                    "position": fields["position"],
                    "event_id": fields["event_id"],
                    "complaint_id": fields["complaint_id"],
                    "leaf": rfc8785.dumps(fields),
                }
            )
        if rows:
            conn.execute(entries.insert(), rows)


def change(ledger: list[Fields], index: int = 2) -> list[Fields]:
    """One entry's content altered."""
    out = [dict(f) for f in ledger]
    out[index]["data"] = {**out[index].get("data", {}), "text": "nothing happened"}
    out[index]["actor"] = {"id": "someone-else", "role": "supervisor"}
    return out


def remove(ledger: list[Fields], index: int = 2) -> list[Fields]:
    """One entry in the middle removed, the rest shifted down."""
    return ledger[:index] + ledger[index + 1 :]


def reorder(ledger: list[Fields], index: int = 2) -> list[Fields]:
    """Two neighbouring entries swapped, feed positions swapped too so the order looks right."""
    out = [dict(f) for f in ledger]
    first, second = out[index], out[index + 1]
    first["position"], second["position"] = second["position"], first["position"]
    out[index], out[index + 1] = second, first
    return out


def insert(ledger: list[Fields], index: int = 2) -> list[Fields]:
    """A forged entry slipped in, at a feed position between its neighbours."""
    forged = dict(ledger[index - 1])
    forged.update(
        event_id=str(uuid.uuid4()),
        type="NoteAdded",
        data={"text": "customer agreed to everything"},
        position=ledger[index - 1]["position"],
    )
    out = [dict(f) for f in ledger]
    # Make room for a position strictly between the neighbours.
    for fields in out[index - 1 :]:
        fields["position"] = fields["position"] * 2
    forged["position"] = out[index - 1]["position"] + 1
    return [*out[:index], forged, *out[index:]]


TAMPERINGS: dict[str, Callable[[list[Fields]], list[Fields]]] = {
    "changed": change,
    "removed": remove,
    "reordered": reorder,
    "inserted": insert,
}


def truncate_tail(engine: Engine, keep: int) -> None:
    """Drop every entry from `keep` on, and every checkpoint that covered them."""
    with engine.begin() as conn:
        conn.execute(delete(entries).where(entries.c.entry_index >= keep))
        conn.execute(delete(checkpoints).where(checkpoints.c.tree_size > keep))


def rebuild_tree(engine: Engine) -> None:
    """Recompute every stored tree node from the (tampered) entries, as a thorough forger would."""
    with engine.begin() as conn:
        conn.execute(delete(nodes))
        border = merkle.CompactRange()
        rows = []
        for (leaf,) in conn.execute(select(entries.c.leaf).order_by(entries.c.entry_index)):
            for level, index, digest in border.append(merkle.leaf_hash(bytes(leaf))):
                rows.append({"level": level, "node_index": index, "hash": digest})
        if rows:
            conn.execute(nodes.insert(), rows)


def forget_checkpoints(engine: Engine) -> None:
    """Delete every kept checkpoint so the service signs the forged tree afresh."""
    with engine.begin() as conn:
        conn.execute(delete(checkpoints))
