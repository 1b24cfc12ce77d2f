"""The SLA report (S-10): compliance per category and milestone, and handling times.

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
CSV_COLUMNS = (
    "category",
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

    def __init__(self, category: str) -> None:
        self.category = category
        self.complaints = 0
        self.outcomes: dict[str, dict[str, int]] = {}
        self.to_acceptance: list[float] = []
        self.to_result: list[float] = []

    def add(self, row: Summary, clocks: dict[str, Any]) -> None:
        self.complaints += 1
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
            "category": self.category,
            "complaints": self.complaints,
            "milestones": milestones,
            "time_to_acceptance": _durations(self.to_acceptance),
            "time_to_result": _durations(self.to_result),
        }


def sla_report(
    rows: Iterable[Summary], start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """The report over complaints received in `[start, end)`: per category, then all.

    Rows are streamed: memory grows with the handling times kept for the
    percentiles (two numbers per complaint), not with the rows.
    """
    by_category: dict[str, _Tally] = {}
    everything = _Tally(ALL)
    for row in rows:
        clocks = json.loads(row["deadlines"])
        category = row["category"] or "unclassified"
        by_category.setdefault(category, _Tally(category)).add(row, clocks)
        everything.add(row, clocks)
    categories = [by_category[name].report() for name in sorted(by_category)]
    categories.append(everything.report())
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "categories": categories,
    }


def sla_report_csv(report: dict[str, Any]) -> str:
    """The report as CSV: one row per category and milestone, handling times repeated."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for category in report["categories"]:
        times = {
            "time_to_acceptance_median_seconds": category["time_to_acceptance"]["median_seconds"],
            "time_to_acceptance_p90_seconds": category["time_to_acceptance"]["p90_seconds"],
            "time_to_result_median_seconds": category["time_to_result"]["median_seconds"],
            "time_to_result_p90_seconds": category["time_to_result"]["p90_seconds"],
        }
        rows = category["milestones"] or [{"milestone": "", "complaints": category["complaints"]}]
        for milestone in rows:
            writer.writerow({"category": category["category"], **milestone, **times})
    return out.getvalue()
