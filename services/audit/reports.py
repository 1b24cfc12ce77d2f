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


def _category_report(category: str, rows: Sequence[Summary]) -> dict[str, Any]:
    tallies: dict[str, dict[str, int]] = {}
    for row in rows:
        for milestone, clock in json.loads(row["deadlines"]).items():
            tally = tallies.setdefault(milestone, {"met": 0, "breached": 0, "open": 0})
            tally[milestone_outcome(clock)] += 1
    milestones = []
    for milestone in sorted(tallies):
        tally = tallies[milestone]
        decided = tally["met"] + tally["breached"]
        milestones.append(
            {
                "milestone": milestone,
                "complaints": sum(tally.values()),
                **tally,
                "compliance_rate": round(tally["met"] / decided, 4) if decided else None,
            }
        )
    to_acceptance = [
        s for row in rows if (s := _seconds(row["received_at"], row["accepted_at"])) is not None
    ]
    to_result = [
        s for row in rows if (s := _seconds(row["received_at"], row["resolved_at"])) is not None
    ]
    return {
        "category": category,
        "complaints": len(rows),
        "milestones": milestones,
        "time_to_acceptance": _durations(to_acceptance),
        "time_to_result": _durations(to_result),
    }


def sla_report(
    rows: Iterable[Summary], start: datetime | None, end: datetime | None
) -> dict[str, Any]:
    """The report over complaints received in `[start, end)`: per category, then all."""
    rows = list(rows)
    by_category: dict[str, list[Summary]] = {}
    for row in rows:
        by_category.setdefault(row["category"] or "unclassified", []).append(row)
    categories = [_category_report(name, by_category[name]) for name in sorted(by_category)]
    categories.append(_category_report(ALL, rows))
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
