"""Tests of the complaint summaries folded from the feed, and of the SLA report."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from services.audit.reports import milestone_outcome, nearest_rank, sla_report, sla_report_csv
from services.audit.summary import Summary, evolve, new_summary
from tests.audit_helpers import T0, clock, feed_item, history

CID = "c-1"


def fold(items: list[dict[str, Any]], cid: str = CID) -> Summary:
    summary = new_summary(cid)
    for item in items:
        summary = evolve(summary, item)
    return summary


def test_a_complaint_is_summarised_from_its_events() -> None:
    summary = fold(history(CID, "billing", timedelta(hours=2), late=False))
    assert summary["status"] == "resolved"
    assert summary["category"] == "billing"
    assert summary["severity"] == "high"
    assert summary["case_number"] == "260302-000001"
    assert summary["received_at"] == T0.replace(tzinfo=None)
    assert summary["accepted_at"] == (T0 + timedelta(hours=2)).replace(tzinfo=None)
    assert summary["satisfaction"] == 4
    assert summary["breached"] is False
    assert summary["last_position"] == 5


def test_breaches_reopening_and_closing_are_kept() -> None:
    items = history(CID, "billing", timedelta(hours=30), late=True)
    items += [
        feed_item(7, CID, 7, "Disputed", {"reason": "no"}),
        feed_item(8, CID, 8, "Reopened", {"reason": None}),
        feed_item(9, CID, 9, "Closed", {"outcome": "done", "reason": None}),
    ]
    summary = fold(items)
    assert summary["breached"] is True
    assert json.loads(summary["deadlines"])["acceptance"]["breached_at"] is not None
    assert summary["reopen_count"] == 1
    assert summary["status"] == "closed"
    # Reopening does not move the first acceptance.
    assert summary["accepted_at"] == (T0 + timedelta(hours=30)).replace(tzinfo=None)


def test_milestone_outcomes() -> None:
    due = T0 + timedelta(hours=1)
    assert milestone_outcome(clock(due, T0)) == "met"
    assert milestone_outcome(clock(due, due + timedelta(seconds=1))) == "breached"
    assert milestone_outcome(clock(due, None, breached=True)) == "breached"
    assert milestone_outcome(clock(due)) == "open"


def test_nearest_rank() -> None:
    assert nearest_rank([], 0.9) is None
    assert nearest_rank([5.0], 0.9) == 5.0
    assert nearest_rank([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert nearest_rank([float(n) for n in range(1, 12)], 0.9) == 10.0


def test_sla_report_per_category_and_milestone() -> None:
    rows = [
        fold(history("a", "billing", timedelta(hours=1), late=False), "a"),
        fold(history("b", "billing", timedelta(hours=3), late=False), "b"),
        fold(history("c", "billing", timedelta(hours=30), late=True), "c"),
        fold(history("d", "privacy", timedelta(hours=2), late=False), "d"),
    ]
    report = sla_report(rows, None, None)
    by_name = {c["category"]: c for c in report["categories"]}
    assert list(by_name) == ["billing", "privacy", "all"]
    billing = by_name["billing"]
    assert billing["complaints"] == 3
    assert billing["milestones"] == [
        {
            "milestone": "acceptance",
            "complaints": 3,
            "met": 2,
            "breached": 1,
            "open": 0,
            "compliance_rate": 0.6667,
        }
    ]
    assert billing["time_to_acceptance"] == {
        "count": 3,
        "median_seconds": 3 * 3600.0,
        "p90_seconds": 30 * 3600.0,
    }
    assert billing["time_to_result"]["median_seconds"] == 5 * 3600.0
    assert by_name["all"]["complaints"] == 4
    assert by_name["all"]["milestones"][0]["met"] == 3

    table = list(csv.DictReader(io.StringIO(sla_report_csv(report))))
    assert [(r["category"], r["milestone"], r["breached"]) for r in table] == [
        ("billing", "acceptance", "1"),
        ("privacy", "acceptance", "0"),
        ("all", "acceptance", "1"),
    ]
    assert table[0]["compliance_rate"] == "0.6667"
    assert float(table[0]["time_to_acceptance_p90_seconds"]) == 30 * 3600.0


@pytest.mark.parametrize(
    ("accept", "csv"),
    [
        ("text/csv", True),
        ("application/json", False),
        ("text/csv;q=0, application/json", False),
        ("application/json;q=0.5, text/csv", True),
        ("*/*", False),
        ("text/csv, */*", True),
        ("text/csv;q=bogus", False),
    ],
)
def test_csv_only_when_the_caller_prefers_it(accept: str, csv: bool) -> None:
    from services.audit.api import _prefers_csv

    assert _prefers_csv(accept) is csv


def test_quality_indicators_per_owner() -> None:
    first = fold(history("c-1", "billing", timedelta(hours=2), late=False), "c-1")
    second = fold(
        [
            *history("c-2", "privacy", timedelta(hours=30), late=True, first=10),
            feed_item(20, "c-2", 7, "Disputed", {}),
            feed_item(21, "c-2", 8, "Reopened", {"reason": None}),
        ],
        "c-2",
    )
    second["owner"] = "agent-2"
    second["satisfaction"] = 2
    report = sla_report([first, second], None, None, by="owner")
    assert [g["owner"] for g in report["owners"]] == ["agent-1", "agent-2", "all"]
    everyone = report["owners"][-1]
    assert everyone["satisfaction"] == {"responses": 2, "average": 3.0}
    assert everyone["reopen_rate"] == 0.5
    assert report["owners"][1]["reopen_rate"] == 1.0
    rows = list(csv.DictReader(io.StringIO(sla_report_csv(report))))
    assert rows[0]["owner"] == "agent-1" and rows[0]["satisfaction_average"] == "4.0"


def test_a_breach_before_a_reopen_stays_a_breach() -> None:
    # Issue 11: the summary used to overwrite the breached round with the fresh clock.
    def started(at: Any, due: Any, completed: Any = None) -> dict[str, Any]:
        return {**clock(due, completed), "started_at": at.isoformat()}

    hour = timedelta(hours=1)
    first = {"investigation": started(T0, T0 + 2 * hour, T0 + 3 * hour)}
    second = {"investigation": started(T0 + 5 * hour, T0 + 7 * hour)}
    done = {"investigation": started(T0 + 5 * hour, T0 + 7 * hour, T0 + 6 * hour)}
    summary = fold(
        [
            feed_item(1, CID, 1, "Registered", {"received_at": T0.isoformat(), "deadlines": {}}),
            feed_item(2, CID, 2, "Accepted", {"category": "billing", "deadlines": first}),
            feed_item(3, CID, 3, "Investigated", {"deadlines": first}),
            feed_item(4, CID, 4, "Resolved", {"deadlines": {}}),
            feed_item(5, CID, 5, "Reopened", {"deadlines": second}),
            feed_item(6, CID, 6, "Investigated", {"deadlines": done}),
        ]
    )
    report = sla_report([summary], None, None)["categories"][0]
    assert report["milestones"] == [
        {
            "milestone": "investigation",
            "complaints": 2,
            "met": 1,
            "breached": 1,
            "open": 0,
            "compliance_rate": 0.5,
        }
    ]
    assert summary["breached"] is True
