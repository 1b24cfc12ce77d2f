"""Signed checkpoints of the ledger, issued as it grows and kept for ever.

A checkpoint is signed when the ledger has grown since the last one (or the
signing key changed), at most once per interval. Before signing, the log
checks its own tree: the new tree must extend the last checkpoint
(a consistency proof from the stored nodes), and it must not be shorter than
any checkpoint already signed. A failed check is an integrity alarm: the
service stops signing rather than vouch for a rewritten history.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, func, select
from sqlalchemy.exc import IntegrityError

from services.audit import merkle
from services.audit.checkpoint import Checkpoint, Signer
from services.audit.ledger import ConnectionNodeStore, tree_size
from services.audit.tables import checkpoints
from services.kernel.database import reading

log = logging.getLogger("services.audit.checkpoints")


class IntegrityAlarm(RuntimeError):
    """The stored tree does not extend the checkpoints already signed."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as kept in the database."""

    id: int
    tree_size: int
    root_hash: bytes
    key_id: str
    note: str
    signed_at: datetime


class CheckpointLog:
    """Issues and reads the signed checkpoints of one ledger."""

    def __init__(self, engine: Engine, signer: Signer) -> None:
        """Sign with `signer`, whose name is the log's origin."""
        self.engine = engine
        self.signer = signer

    @property
    def origin(self) -> str:
        """The log's origin line."""
        return self.signer.name

    def latest(self) -> StoredCheckpoint | None:
        """The newest checkpoint, whatever key signed it."""
        with reading(self.engine) as conn:
            return _latest(conn)

    def at_size(self, size: int) -> StoredCheckpoint | None:
        """The first checkpoint kept of exactly `size` entries, if any."""
        with reading(self.engine) as conn:
            row = conn.execute(
                select(checkpoints)
                .where(checkpoints.c.tree_size == size)
                .order_by(checkpoints.c.id)
                .limit(1)
            ).first()
            return _stored(row) if row is not None else None

    def listing(self, after_size: int, limit: int) -> list[StoredCheckpoint]:
        """Checkpoints with a tree size above `after_size`, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(checkpoints)
                .where(checkpoints.c.tree_size > after_size)
                .order_by(checkpoints.c.id)
                .limit(limit)
            )
            return [_stored(row) for row in rows]

    def issue(self) -> StoredCheckpoint | None:
        """Sign a checkpoint of the current tree if it is new; return it, or None.

        Raises `IntegrityAlarm` when the tree does not extend what was signed.
        """
        key_id = self.signer.key_id.hex()
        try:
            with self.engine.begin() as conn:
                size = tree_size(conn)
                latest = _latest(conn)
                if latest is not None and latest.tree_size == size and latest.key_id == key_id:
                    return None
                store = ConnectionNodeStore(conn)
                root = merkle.root_hash(size, store)
                _check_extends(conn, latest, size, root, store)
                note = self.signer.sign(Checkpoint(self.origin, size, root))
                signed_at = datetime.now(UTC).replace(tzinfo=None)
                new_id = conn.execute(
                    checkpoints.insert()
                    .values(
                        tree_size=size,
                        root_hash=root,
                        key_id=key_id,
                        note=note,
                        signed_at=signed_at,
                    )
                    .returning(checkpoints.c.id)
                ).scalar_one()
        except IntegrityError:
            return None  # A replica signed the same tree at the same moment.
        log.info("checkpoint signed", extra={"tree_size": size})
        return StoredCheckpoint(new_id, size, root, key_id, note, signed_at)

    async def run(self, interval: float) -> None:
        """Issue checkpoints every `interval` seconds until cancelled."""
        while True:
            try:
                await asyncio.to_thread(self.issue)
            except IntegrityAlarm as alarm:
                log.error("checkpoint refused", extra={"reason": str(alarm)})
            except Exception as exc:
                log.warning("checkpoint failed", extra={"error_type": type(exc).__name__})
            await asyncio.sleep(interval)


def _check_extends(
    conn: Connection,
    latest: StoredCheckpoint | None,
    size: int,
    root: bytes,
    store: ConnectionNodeStore,
) -> None:
    largest = conn.execute(select(func.max(checkpoints.c.tree_size))).scalar()
    if largest is not None and size < largest:
        raise IntegrityAlarm(f"the ledger holds {size} entries, a checkpoint signed {largest}")
    if latest is None or latest.tree_size == 0:
        return
    try:
        merkle.verify_consistency(
            latest.tree_size,
            size,
            latest.root_hash,
            root,
            merkle.consistency_proof(latest.tree_size, size, store),
        )
    except merkle.ProofError as exc:
        raise IntegrityAlarm(f"the tree does not extend checkpoint {latest.tree_size}") from exc


def _latest(conn: Connection) -> StoredCheckpoint | None:
    row = conn.execute(select(checkpoints).order_by(checkpoints.c.id.desc()).limit(1)).first()
    return None if row is None else _stored(row)


def _stored(row: Row[Any]) -> StoredCheckpoint:
    return StoredCheckpoint(
        id=row.id,
        tree_size=row.tree_size,
        root_hash=bytes(row.root_hash),
        key_id=row.key_id,
        note=row.note,
        signed_at=row.signed_at,
    )
