"""A scripted set of cases whose indicators are computed by hand in the tests.

Five complaints in March 2026 (times in UTC; the operator's zone is
Asia/Shanghai, UTC+8), with the reopen-after-breach case (A), a late
acceptance and an escalation (B), a network fault restored in time (C), a
withdrawal before acceptance (D) and a result nobody rated (E). Teams come
from the staff directory below and from a transfer to a team (D).

    case  category       owner    handled by        team          clocks (every round)
    A     billing        agent-1  agent-1           billing-team  acc met; inv r1 BREACHED, r2 met;
                                                                  res r1 met, r2 met
    B     billing        agent-2  agent-1 (transfer) billing-team acc BREACHED; inv met; res met
    C     network_fault  agent-3  agent-3           network-team  acc met; repair met; inv open
    D     (none)         agent-2  agent-2           network-team  (withdrawn: acc not counted)
                                                    (team transfer)
    E     privacy        agent-1  agent-1           billing-team  acc met; inv met; res met
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)

STAFF_TOML = """
[staff.agent-1]
email = "agent-1@operator.example"
[staff.agent-2]
email = "agent-2@operator.example"
[staff.agent-3]
email = "agent-3@operator.example"
[staff.supervisor-1]
email = "supervisor-1@operator.example"
role = "supervisor"
[staff.supervisor-2]
email = "supervisor-2@operator.example"
language = "en"
role = "supervisor"

[teams.billing-team]
members = ["agent-1", "agent-2", "supervisor-1"]
[teams.network-team]
members = ["agent-3", "supervisor-2"]
"""

SUBSCRIBERS_CSV = """month,region,subscribers
2026-02,north,1000000
2026-02,south,1400000
2026-03,north,1000000
2026-03,south,1500000
"""


def clock(
    name: str,
    started: datetime,
    hours: float,
    completed: datetime | None = None,
    breached: datetime | None = None,
) -> dict[str, Any]:
    """One milestone clock in the feed's form."""
    return {
        "milestone": name,
        "started_at": started.isoformat(),
        "due_at": (started + hours * H).isoformat(),
        "completed_at": completed.isoformat() if completed else None,
        "warned_at": None,
        "breached_at": breached.isoformat() if breached else None,
        "paused": False,
    }


class Case:
    """One complaint's events, in order."""

    def __init__(self, name: str, received: datetime, channel: str, owner: str) -> None:
        self.id = f"case-{name}"
        self.received = received
        self.events: list[tuple[str, datetime, dict[str, Any]]] = []
        self.add(
            "Registered",
            0,
            case_number=f"2603-{name}",
            channel=channel,
            category=None,
            received_at=received.isoformat(),
            owner=owner,
            deadlines={"acceptance": clock("acceptance", received, 24)},
        )

    def at(self, hours: float) -> datetime:
        return self.received + hours * H

    def add(self, kind: str, hours: float, **data: Any) -> Case:
        self.events.append((kind, self.at(hours), data))
        return self


def scenario() -> list[Case]:
    """The five cases."""
    a = Case("A", T0, "phone", "agent-1")
    r = a.at
    inv1 = clock("investigation", r(2), 72)
    a.add(
        "Accepted",
        2,
        category="billing",
        severity="high",
        reason=None,
        repeat=False,
        deadlines={"acceptance": clock("acceptance", r(0), 24, r(2)), "investigation": inv1},
    )
    a.add("SlaBreached", 74, milestone="investigation", due_at=inv1["due_at"])
    a.add(
        "Investigated",
        80,
        findings="f",
        deadlines={
            "investigation": clock("investigation", r(2), 72, r(80), r(74)),
            "result": clock("result", r(80), 48),
        },
    )
    a.add(
        "Resolved",
        90,
        resolution="x",
        remedy=None,
        deadlines={"result": clock("result", r(80), 48, r(90))},
    )
    a.add("Confirmed", 92, satisfaction=2, has_comment=False)
    a.add("Disputed", 95)
    a.add(
        "Reopened", 100, reason="r", deadlines={"investigation": clock("investigation", r(100), 72)}
    )
    a.add(
        "Investigated",
        110,
        findings="f",
        deadlines={
            "investigation": clock("investigation", r(100), 72, r(110)),
            "result": clock("result", r(110), 48),
        },
    )
    a.add(
        "Resolved",
        120,
        resolution="x",
        remedy=None,
        deadlines={"result": clock("result", r(110), 48, r(120))},
    )
    a.add("Confirmed", 121, satisfaction=4, has_comment=False)
    a.add("Closed", 122, outcome="o", reason=None)

    b = Case("B", T0 + 24 * H, "web", "agent-2")
    r = b.at
    b.add("Transferred", 1, assignee={"type": "agent", "id": "agent-1"}, reason="r", repeat=True)
    b.add("SlaBreached", 24, milestone="acceptance", due_at=r(24).isoformat())
    b.add(
        "Accepted",
        30,
        category="billing",
        severity="medium",
        reason=None,
        deadlines={
            "acceptance": clock("acceptance", r(0), 24, r(30), r(24)),
            "investigation": clock("investigation", r(30), 72),
        },
    )
    b.add(
        "Investigated",
        40,
        findings="f",
        deadlines={
            "investigation": clock("investigation", r(30), 72, r(40)),
            "result": clock("result", r(40), 48),
        },
    )
    b.add(
        "Resolved",
        50,
        resolution="x",
        remedy=None,
        deadlines={"result": clock("result", r(40), 48, r(50))},
    )
    b.add("Confirmed", 51, satisfaction=5, has_comment=False)
    b.add("Disputed", 52)
    b.add("Escalated", 53, body="MIIT", reference="ref", reason=None)

    c = Case("C", T0 + 48 * H, "app", "agent-3")
    r = c.at
    c.add(
        "Accepted",
        1,
        category="network_fault",
        severity="critical",
        reason=None,
        deadlines={
            "acceptance": clock("acceptance", r(0), 24, r(1)),
            "repair": clock("repair", r(0), 4),
            "investigation": clock("investigation", r(1), 72),
        },
    )
    c.add("Restored", 3, deadlines={"repair": clock("repair", r(0), 4, r(3))})

    d = Case("D", T0 + 72 * H, "phone", "agent-2")
    d.add("Transferred", 1, assignee={"type": "team", "id": "network-team"}, reason="r")
    d.add("Withdrawn", 5)

    e = Case("E", T0 + 73 * H, "letter", "agent-1")
    r = e.at
    e.add(
        "Accepted",
        3,
        category="privacy",
        severity="high",
        reason=None,
        deadlines={
            "acceptance": clock("acceptance", r(0), 24, r(3)),
            "investigation": clock("investigation", r(3), 72),
        },
    )
    e.add(
        "Investigated",
        10,
        findings="f",
        deadlines={
            "investigation": clock("investigation", r(3), 72, r(10)),
            "result": clock("result", r(10), 48),
        },
    )
    e.add(
        "Resolved",
        20,
        resolution="x",
        remedy=None,
        deadlines={"result": clock("result", r(10), 48, r(20))},
    )
    e.add("Closed", 40, outcome="o", reason=None)
    return [a, b, c, d, e]


def feed_items(cases: list[Case] | None = None) -> list[dict[str, Any]]:
    """Every event of the cases as feed items, in time order, positions 1, 2, …"""
    timeline = []
    for case in cases or scenario():
        for version, (kind, at, data) in enumerate(case.events, start=1):
            timeline.append((at, case.id, version, kind, data))
    timeline.sort(key=lambda event: (event[0], event[1], event[2]))
    return [
        {
            "position": position,
            "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cid}/{version}")),
            "complaint_id": cid,
            "version": version,
            "type": kind,
            "occurred_at": at.isoformat(),
            "actor": {"id": "agent-1", "role": "agent"},
            "schema_version": 1,
            "data": data,
        }
        for position, (at, cid, version, kind, data) in enumerate(timeline, start=1)
    ]
