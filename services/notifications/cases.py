"""What the service remembers of each complaint, learnt from the feed alone.

Only what deciding and addressing a message needs: the case number, the
customer's language and preferred channel, their masked contacts (to show
an operator where a message went without holding the address), the owner
and the assignee. Kept in the same transaction as the feed position.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Connection, MetaData, String, Table, Text, select

metadata = MetaData()

cases = Table(
    "notification_cases",
    metadata,
    Column("complaint_id", String(36), primary_key=True),
    Column("case_number", String(40), nullable=False),
    Column("language", String(10), nullable=False),
    Column("preferred_channel", String(10), nullable=False),
    Column("masked_phone", String(40)),
    Column("masked_email", String(200)),
    Column("owner", String(100), nullable=False),
    Column("assignee", Text),
)


@dataclass(frozen=True)
class Case:
    """A complaint as far as notifications are concerned."""

    complaint_id: str
    case_number: str
    language: str = "zh-CN"
    preferred_channel: str = "sms"
    masked_phone: str | None = None
    masked_email: str | None = None
    owner: str = ""
    assignee: Mapping[str, Any] | None = field(default=None)

    def masked_address(self, channel: str) -> str | None:
        """The customer's masked address on `channel`, if they have one."""
        return {"sms": self.masked_phone, "email": self.masked_email}.get(channel)


def load(conn: Connection, complaint_id: str) -> Case | None:
    """The case of a complaint, if its registration has been seen."""
    row = conn.execute(select(cases).where(cases.c.complaint_id == complaint_id)).first()
    if row is None:
        return None
    values = row._asdict()
    values["assignee"] = json.loads(values["assignee"]) if values["assignee"] else None
    return Case(**values)


def apply(conn: Connection, item: Mapping[str, Any]) -> Case | None:
    """Update the case from one feed item; returns the case as it now stands."""
    complaint_id = str(item["complaint_id"])
    data = item.get("data") or {}
    if item["type"] == "Registered":
        customer = data.get("customer") or {}
        case = Case(
            complaint_id=complaint_id,
            case_number=str(data["case_number"]),
            language=str(customer.get("language") or "zh-CN"),
            preferred_channel=str(customer.get("preferred_channel") or "sms"),
            masked_phone=customer.get("phone"),
            masked_email=customer.get("email"),
            owner=str(data.get("owner") or item.get("actor", {}).get("id", "")),
        )
        # A replayed page meets a row it already wrote: replace it with the same values.
        conn.execute(cases.delete().where(cases.c.complaint_id == complaint_id))
        conn.execute(cases.insert().values(_row(case)))
        return case
    known = load(conn, complaint_id)
    # A claim assigns the claimer, like a transfer.
    if known is not None and item["type"] in ("Transferred", "Claimed") and data.get("assignee"):
        conn.execute(
            cases.update()
            .where(cases.c.complaint_id == complaint_id)
            .values(assignee=json.dumps(data["assignee"]))
        )
        return load(conn, complaint_id)
    if known is not None and item["type"] == "ContactUpdated":
        # The customer's corrected language and channel apply from the next message on.
        customer = data.get("customer") or {}
        conn.execute(
            cases.update()
            .where(cases.c.complaint_id == complaint_id)
            .values(
                language=str(customer.get("language") or known.language),
                preferred_channel=str(customer.get("preferred_channel") or known.preferred_channel),
                masked_phone=customer.get("phone", known.masked_phone),
                masked_email=customer.get("email", known.masked_email),
            )
        )
        return load(conn, complaint_id)
    return known


def _row(case: Case) -> dict[str, Any]:
    return {
        "complaint_id": case.complaint_id,
        "case_number": case.case_number,
        "language": case.language,
        "preferred_channel": case.preferred_channel,
        "masked_phone": case.masked_phone,
        "masked_email": case.masked_email,
        "owner": case.owner,
        "assignee": json.dumps(case.assignee) if case.assignee else None,
    }
