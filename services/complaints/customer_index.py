"""Customer history: a blind index from a customer's identifiers to their complaints.

A projection of the event store, kept in the complaints database, like the
work queue: for each complaint, one row per identifier kind (phone, e-mail,
account) holding the identifier's blind token (see `blind_index`), the key
version that made it and the complaint version it reflects. No clear value is
stored. Rows follow the events that change a contact:

- `Registered` and `ContactUpdated` replace the complaint's rows with the
  tokens of the contact they carry (sealed: opened with the complaint's key);
- `Erased` removes them and leaves a tombstone (no token), so that a late or
  replayed event can never index an erased complaint again.

Rows are written right after each save (an application listener) and a
catch-up pass follows the notification log with its own position, so a crash
between the two loses nothing. A row never replaces a newer version.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Recording
from sqlalchemy import Column, Engine, Index, Integer, MetaData, String, Table, delete, select
from sqlalchemy.exc import IntegrityError

from services.complaints.application import ComplaintNotFound, ComplaintsApplication
from services.complaints.blind_index import IndexKeyRing, normalised_term, terms_of
from services.complaints.domain.complaint import Complaint
from services.kernel.database import reading

log = logging.getLogger("services.complaints.customer_index")
metadata = MetaData()

TOMBSTONE = "erased"

customer_index = Table(
    "customer_index",
    metadata,
    Column("complaint_id", String(36), primary_key=True),
    Column("kind", String(10), primary_key=True),
    Column("key_version", String(20), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("complaint_version", Integer, nullable=False),
    Index("customer_index_token", "kind", "token"),
)

index_position = Table(
    "customer_index_position",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("position", Integer, nullable=False),
)

_TOPICS = {
    f"{Complaint.__module__}:{Complaint.__qualname__}.{name}"
    for name in ("Registered", "ContactUpdated", "Erased")
}


class CustomerIndex:
    """The blind-index table, its upkeep and its lookups."""

    def __init__(self, engine: Engine, app: ComplaintsApplication, keys: IndexKeyRing) -> None:
        self.engine = engine
        self.app = app
        self.keys = keys
        metadata.create_all(engine, checkfirst=True)

    # -- upkeep -----------------------------------------------------------------

    def on_recorded(self, recordings: Sequence[Recording[UUID]]) -> None:
        """Application listener: index the contact events just saved."""
        for recording in recordings:
            try:
                self.apply(recording.domain_event)
            except Exception as exc:
                # Saved already; the catch-up pass will index it.
                log.warning("customer index not updated", extra={"error": type(exc).__name__})

    def apply(self, event: Any) -> None:
        """Bring one complaint's rows up to one event (a no-op for other events)."""
        complaint_id = str(event.originator_id)
        version = int(event.originator_version)
        if isinstance(event, Complaint.Erased):
            self._replace(complaint_id, version, {}, erased=True)
        elif isinstance(event, Complaint.Registered | Complaint.ContactUpdated):
            contact = self.app.vault.open_fields(complaint_id, event.customer)
            if contact is None:
                # The data key is gone: erased, whatever the event says.
                self._replace(complaint_id, version, {}, erased=True)
                return
            self._replace(complaint_id, version, terms_of(contact))

    def reindex(self, complaint: Complaint) -> None:
        """Re-compute a complaint's tokens with the current key (rotation, repair)."""
        complaint_id = str(complaint.id)
        contact = (
            None
            if complaint.erased
            else self.app.vault.open_fields(complaint_id, complaint.customer)
        )
        if contact is None:
            self._replace(complaint_id, complaint.version, {}, erased=True, force=True)
        else:
            self._replace(complaint_id, complaint.version, terms_of(contact), force=True)

    def catch_up(self, batch: int = 500) -> int:
        """Index every contact event recorded since the last pass; returns how many."""
        with reading(self.engine) as conn:
            position = conn.execute(
                select(index_position.c.position).where(index_position.c.name == "index")
            ).scalar_one_or_none()
        notifications = self.app.recorder.select_notifications(
            start=(position or 0) + 1, limit=batch
        )
        if not notifications:
            return 0
        for notification in notifications:
            if notification.topic not in _TOPICS:
                continue
            try:
                self.apply(self.app.mapper.to_domain_event(notification))
            except Exception as exc:
                # One bad event must not stop the index for every other customer.
                log.error(
                    "customer index entry not projected",
                    extra={
                        "complaint_id": str(notification.originator_id),
                        "error_type": type(exc).__name__,
                    },
                )
        last = notifications[-1].id
        with self.engine.begin() as conn:
            moved = conn.execute(
                index_position.update()
                .where(index_position.c.name == "index", index_position.c.position < last)
                .values(position=last)
            )
        if not moved.rowcount and position is None:
            with contextlib.suppress(IntegrityError), self.engine.begin() as conn:
                conn.execute(index_position.insert().values(name="index", position=last))
        return len(notifications)

    def catch_up_fully(self) -> None:
        """Catch up until nothing is left (before a search: its answer must be current)."""
        while self.catch_up():
            pass

    def _replace(
        self,
        complaint_id: str,
        version: int,
        terms: Mapping[str, str],
        *,
        erased: bool = False,
        force: bool = False,
    ) -> None:
        rows = [
            {
                "complaint_id": complaint_id,
                "kind": kind,
                "key_version": self.keys.current,
                "token": self.keys.token(kind, term),
                "complaint_version": version,
            }
            for kind, term in terms.items()
        ]
        if erased:
            rows = [
                {
                    "complaint_id": complaint_id,
                    "kind": TOMBSTONE,
                    "key_version": "",
                    "token": "",
                    "complaint_version": version,
                }
            ]
        table = customer_index
        with self.engine.begin() as conn:
            existing = conn.execute(
                select(table.c.kind, table.c.complaint_version).where(
                    table.c.complaint_id == complaint_id
                )
            ).all()
            if any(kind == TOMBSTONE for kind, _ in existing):
                return  # Erased: nothing is ever indexed again.
            newest = max((v for _, v in existing), default=0)
            if newest > version or (newest == version and not force and not erased):
                return  # A newer (or this) version is already indexed.
            conn.execute(delete(table).where(table.c.complaint_id == complaint_id))
            if rows:
                conn.execute(table.insert(), rows)

    # -- lookups ----------------------------------------------------------------

    def find(self, kind: str, value: str) -> list[str]:
        """The ids of the complaints whose current contact has this identifier."""
        term = normalised_term(kind, value)
        if term is None:
            return []
        return self.find_terms({kind: term})

    def find_terms(self, terms: Mapping[str, str]) -> list[str]:
        """The ids of the complaints matching any of these normalised identifiers."""
        table = customer_index
        found: dict[str, None] = {}
        with reading(self.engine) as conn:
            for kind, term in terms.items():
                for version, token in self.keys.candidates(kind, term):
                    stmt = select(table.c.complaint_id).where(
                        table.c.kind == kind,
                        table.c.key_version == version,
                        table.c.token == token,
                    )
                    found.update(dict.fromkeys(r[0] for r in conn.execute(stmt)))
        return list(found)

    # -- rotation ---------------------------------------------------------------

    def stale(self, limit: int = 500) -> list[str]:
        """Complaints with tokens made by a key that is not the current one."""
        table = customer_index
        stmt = (
            select(table.c.complaint_id)
            .where(table.c.kind != TOMBSTONE, table.c.key_version != self.keys.current)
            .distinct()
            .limit(limit)
        )
        with reading(self.engine) as conn:
            return [r[0] for r in conn.execute(stmt)]

    def rotate(self) -> int:
        """Re-compute every token made by an older key with the current one; returns how many."""
        done = 0
        skipped: set[str] = set()
        while True:
            pending = [c for c in self.stale() if c not in skipped]
            if not pending:
                return done
            for complaint_id in pending:
                try:
                    self.reindex(self.app.get(UUID(complaint_id)))
                    done += 1
                except ComplaintNotFound:
                    skipped.add(complaint_id)

    def rows(self) -> Iterable[Mapping[str, Any]]:
        """Every row (for operators and tests: tokens only, never a clear value)."""
        with reading(self.engine) as conn:
            return [dict(r._mapping) for r in conn.execute(select(customer_index))]
