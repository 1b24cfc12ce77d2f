"""The policy archive: the text of every SLA policy version the service has used, in its database.

A complaint pins the policy version in force at its receipt and needs it
for as long as it lives: its deadlines, pauses and windows are computed
from it. Policy files are the operator's, and a file can be removed
(repealed) while complaints still pin it. So the text of a version is kept
in the database when it is first used — at start-up for every version that
has taken effect, and at each registration for one that took effect since —
and a version whose file is gone is loaded from here, for its complaints
only. To stop a version for new complaints, give it `effective_until`.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, String, Table, Text, select
from sqlalchemy.exc import IntegrityError

from services.complaints.domain.policy import SlaPolicy
from services.complaints.domain.policy_book import PolicyBook
from services.kernel.database import reading

log = logging.getLogger("services.complaints.policy_archive")

metadata = MetaData()

policy_texts = Table(
    "policy_texts",
    metadata,
    Column("policy_id", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("text", Text, nullable=False),
    Column("kept_at", DateTime(timezone=True), nullable=False),
)


class PolicyArchive:
    """The kept policy texts of one complaints database."""

    def __init__(self, engine: Engine) -> None:
        """Keep texts through `engine` (the complaints database); creates the table."""
        self.engine = engine
        metadata.create_all(engine, checkfirst=True)
        # What this process knows the database holds: one write per version, not per complaint.
        self._kept: dict[tuple[str, int], str] = {}

    def texts(self) -> dict[tuple[str, int], str]:
        """Every kept text, by (policy id, version)."""
        with reading(self.engine) as conn:
            rows = conn.execute(select(policy_texts)).all()
        found = {(row.policy_id, row.version): row.text for row in rows}
        self._kept.update(found)
        return found

    def keep(self, policy: SlaPolicy) -> None:
        """Keep `policy`'s text unless it is kept already (a retirement date added: updated)."""
        key = (policy.id, policy.version)
        if policy.repealed or not policy.text or self._kept.get(key) == policy.text:
            return
        with self.engine.begin() as conn:
            stored = conn.execute(
                select(policy_texts.c.text).where(
                    policy_texts.c.policy_id == policy.id, policy_texts.c.version == policy.version
                )
            ).scalar_one_or_none()
            if stored is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            policy_texts.insert().values(
                                policy_id=policy.id,
                                version=policy.version,
                                text=policy.text,
                                kept_at=datetime.now(UTC),
                            )
                        )
                except IntegrityError:
                    pass  # another process kept it first: the same version, the same rules
                else:
                    log.info(
                        "policy text kept",
                        extra={"policy_id": policy.id, "policy_version": policy.version},
                    )
            elif stored != policy.text:
                # The book refused any change of rules; this is a comment or effective_until.
                conn.execute(
                    policy_texts.update()
                    .where(
                        policy_texts.c.policy_id == policy.id,
                        policy_texts.c.version == policy.version,
                    )
                    .values(text=policy.text)
                )
        self._kept[key] = policy.text

    def open_book(
        self, directory: Path, default_id: str | None, now: datetime | None = None
    ) -> PolicyBook:
        """The policy book from `directory` and the kept texts; keeps every version in effect."""
        book = PolicyBook.load(directory, default_id=default_id, now=now, kept=self.texts())
        moment = now or datetime.now(UTC)
        for policy in book.policies():
            if policy.effective_from <= moment:
                self.keep(policy)
        return book
