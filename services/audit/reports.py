"""The SLA report (S-10): compliance per milestone, handling times and quality.

Grouped by category (the default) or by owner, the first-contact agent
accountable for the case (S-4).

Built from complaint summaries received in a period, with the definitions of
`indicators` (every round of every milestone counts; rates over resolved
complaints): a milestone is *met* when it was completed by its due time
without a recorded breach, *breached* when a breach was recorded or it was
completed late, and *open* while it runs; the compliance rate is
met / (met + breached). Handling times run from receipt to acceptance and to
the final result given to the customer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from services.audit.indicators import Tally, nearest_rank
from services.audit.summary import Summary, clock_outcome

__all__ = ["milestone_outcome", "nearest_rank", "sla_report", "sla_report_csv"]

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


def milestone_outcome(clock: dict[str, Any], live: bool = True) -> str:
    """`met`, `breached` or `open` for one milestone's clock from the feed."""
    return clock_outcome(clock, live) or "open"


class _Tally:
    """One group's running totals in the report's shape (see `indicators.Tally`)."""

    def __init__(self, by: str, name: str) -> None:
        self.by = by
        self.name = name
        self.tally = Tally()

    def add(self, row: Summary) -> None:
        self.tally.add(row)

    def report(self) -> dict[str, Any]:
        figures = self.tally.figures()
        milestones = []
        for milestone, outcome in figures["compliance"]["milestones"].items():
            milestones.append(
                {
                    "milestone": milestone,
                    "complaints": outcome["met"] + outcome["breached"] + outcome["open"],
                    "met": outcome["met"],
                    "breached": outcome["breached"],
                    "open": outcome["open"],
                    "compliance_rate": outcome["rate"],
                }
            )
        times = figures["times"]
        satisfaction = figures["satisfaction"]
        return {
            self.by: self.name,
            "complaints": figures["counts"]["received"],
            "milestones": milestones,
            "time_to_acceptance": times["to_accept"],
            # The final result given to the customer: after a reopen, the last one.
            "time_to_result": times["to_final_result"],
            "satisfaction": {
                "responses": satisfaction["responses"],
                "average": satisfaction["mean"],
            },
            "reopen_rate": figures["reopen_rate"],
            "escalation_rate": figures["escalation_rate"],
        }


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
        name = row[by] or GROUPINGS[by]
        groups.setdefault(name, _Tally(by, name)).add(row)
        everything.add(row)
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
