"""The audit summary follows who a case is assigned to: by transfer, or by claim."""

from __future__ import annotations

from typing import Any

from services.audit.summary import fold


def _item(kind: str, version: int, **data: Any) -> dict[str, Any]:
    return {
        "position": version,
        "complaint_id": "c-1",
        "version": version,
        "type": kind,
        "occurred_at": f"2026-03-02T09:0{version}:00+00:00",
        "actor": {"id": "agent-1", "role": "agent"},
        "data": data,
    }


def test_a_claim_assigns_the_claimer_like_a_transfer() -> None:
    registered = _item(
        "Registered",
        1,
        case_number="260302-000001",
        channel="phone",
        category="billing",
        received_at="2026-03-02T09:01:00+00:00",
        owner="agent-1",
        deadlines={},
    )
    claimed = _item("Claimed", 2, assignee={"type": "agent", "id": "agent-9"})
    summary = fold("c-1", [registered, claimed])
    assert summary is not None and summary["assignee"] == "agent-9"
