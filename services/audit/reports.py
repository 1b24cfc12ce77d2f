"""The SLA report (S-10): compliance per milestone, handling times and quality.

Grouped by category (the default) or by owner, the first-contact agent
accountable for the case (S-4).

Built from complaint summaries received in a period. A milestone is *met*
when it was completed by its due time without a recorded breach, *breached*
when a breach was recorded or it was completed late, and *open* otherwise;
the compliance rate is met / (met + breached). Handling times are the time
from receipt to acceptance and to the result given to the customer.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from services.audit.summary import Summary, instant

ALL = "all"
GROUPINGS = {"category": "unclassified", "owner": "unassigned"}
CSV_COLUMNS = (
    "milestone",
    "complaints",
    "met",
    "breached",
    "open",
    "compliance_rate",
    "time_to_acceptance_median_seconds",
    "time_to_acceptance_p90_seconds",
    "time_to_result_median_seconds",
    "time_to_result_p90_seconds",
    "satisfaction_average",
    "satisfaction_responses",
    "reopen_rate",
    "escalation_rate",
)


def milestone_outcome(clock: dict[str, Any]) -> str:
    """`met`, `breached` or `open` for one milestone's clock from the feed."""
    due, completed = instant(clock.get("due_at")), instant(clock.get("completed_at"))
    if clock.get("breached_at") or (completed and due and completed > due):
        return "breached"
    if completed is not None:
        return "met"
    return "open"


def nearest_rank(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values`, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _durations(values: Sequence[float]) -> dict[str, float | None]:
    return {
        "count": len(values),
        "median_seconds": statistics.median(values) if values else None,
        "p90_seconds": nearest_rank(values, 0.9),
    }


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


class _Tally:
    """One category's running totals: rows are folded in one at a time, never kept."""

    def __init__(self, by: str, name: str) -> None:
        self.by = by
        self.name = name
        self.complaints = 0
        self.ratings: list[int] = []
        self.reopened = 0
        self.escalated = 0
        self.outcomes: dict[str, dict[str, int]] = {}
        self.to_acceptance: list[float] = []
        self.to_result: list[float] = []

    def add(self, row: Summary, clocks: dict[str, Any]) -> None:
        self.complaints += 1
        if row.get("satisfaction") is not None:
            self.ratings.append(int(row["satisfaction"]))
        self.reopened += 1 if row.get("reopen_count") else 0
        self.escalated += 1 if row.get("escalated") else 0
        for milestone, clock in clocks.items():
            tally = self.outcomes.setdefault(milestone, {"met": 0, "breached": 0, "open": 0})
            tally[milestone_outcome(clock)] += 1
        if (seconds := _seconds(row["received_at"], row["accepted_at"])) is not None:
            self.to_acceptance.append(seconds)
        if (seconds := _seconds(row["received_at"], row["resolved_at"])) is not None:
            self.to_result.append(seconds)

    def report(self) -> dict[str, Any]:
        milestones = []
        for milestone in sorted(self.outcomes):
            tally = self.outcomes[milestone]
            decided = tally["met"] + tally["breached"]
            milestones.append(
                {
                    "milestone": milestone,
                    "complaints": sum(tally.values()),
                    **tally,
                    "compliance_rate": round(tally["met"] / decided, 4) if decided else None,
                }
            )
        return {
            self.by: self.name,
            "complaints": self.complaints,
            "milestones": milestones,
            "time_to_acceptance": _durations(self.to_acceptance),
            "time_to_result": _durations(self.to_result),
            "satisfaction": {
                "responses": len(self.ratings),
                "average": round(statistics.fmean(self.ratings), 2) if self.ratings else None,
            },
            "reopen_rate": self._rate(self.reopened),
            "escalation_rate": self._rate(self.escalated),
        }

    def _rate(self, count: int) -> float | None:
        return round(count / self.complaints, 4) if self.complaints else None


def sla_report(
    rows: Iterable[Summary], start: datetime | None, end: datetime | None, by: str = "category"
) -> dict[str, Any]:
    """The report over complaints received in `[start, end)`: per group, then all.

    Rows are streamed: memory grows with the handling times kept for the
    percentiles (two numbers per complaint), not with the rows.
    """
    groups: dict[str, _Tally] = {}
    everything = _Tally(by, ALL)
    for row in rows:
        clocks = json.loads(row["deadlines"])
        name = row[by] or GROUPINGS[by]
        groups.setdefault(name, _Tally(by, name)).add(row, clocks)
        everything.add(row, clocks)
    report = [groups[name].report() for name in sorted(groups)]
    report.append(everything.report())
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "by": by,
        "categories" if by == "category" else "owners": report,
    }


def sla_report_csv(report: dict[str, Any]) -> str:
    """The report as CSV: one row per group and milestone, the group's figures repeated."""
    by = report["by"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=(by, *CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for group in report["categories" if by == "category" else "owners"]:
        figures = {
            "time_to_acceptance_median_seconds": group["time_to_acceptance"]["median_seconds"],
            "time_to_acceptance_p90_seconds": group["time_to_acceptance"]["p90_seconds"],
            "time_to_result_median_seconds": group["time_to_result"]["median_seconds"],
            "time_to_result_p90_seconds": group["time_to_result"]["p90_seconds"],
            "satisfaction_average": group["satisfaction"]["average"],
            "satisfaction_responses": group["satisfaction"]["responses"],
            "reopen_rate": group["reopen_rate"],
            "escalation_rate": group["escalation_rate"],
        }
        rows = group["milestones"] or [{"milestone": "", "complaints": group["complaints"]}]
        for milestone in rows:
            writer.writerow({by: group[by], **milestone, **figures})
    return out.getvalue()
