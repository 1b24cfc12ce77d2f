"""The quality indicators (S-10): counts, compliance, handling times, satisfaction, rates.

Computed over a cohort: the complaints received in a period, as the summaries
of a snapshot give them. Every definition and its denominator is in the
README ("Indicators"); in short:

- counts: received (the cohort), accepted, resolved (ever given a result),
  closed, withdrawn, open (neither closed nor withdrawn);
- compliance per milestone: met / (met + breached) over every clock of every
  round, so a breach before a reopen stays a breach;
- times from receipt to acceptance, to restored service (network faults), to
  the first and to the final result: median and nearest-rank p90;
- satisfaction over the responses: mean, share of ratings >= 4 (满意率), the
  distribution, and responses / resolved (response rate);
- reopen and escalation rates over resolved complaints; repeat complaints
  over those whose repeat flag is known; complaints per million subscribers.

A `_Tally` folds rows one at a time, so memory grows with the handling times
kept for the percentiles, not with the rows.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from services.audit.summary import ENDED, Summary, clock_outcome, clocks

ALL = "all"
GROUPINGS = ("category", "severity", "channel", "team", "owner", "assignee")
UNSET = {
    "category": "unclassified",
    "severity": "unclassified",
    "channel": "unknown",
    "team": "no team",
    "owner": "unassigned",
    "assignee": "unassigned",
}
TIMES = {
    "to_accept": "accepted_at",
    "to_restore": "restored_at",
    "to_first_result": "resolved_at",
    "to_final_result": "final_resolved_at",
}
RATINGS = (1, 2, 3, 4, 5)
SATISFIED = 4

TeamOf = Callable[[str | None], str | None]
"""The team an agent belongs to (from the staff directory), or None."""


def nearest_rank(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values`, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def durations(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, median and p90 of some durations in seconds."""
    return {
        "count": len(values),
        "median_seconds": float(statistics.median(values)) if values else None,
        "p90_seconds": nearest_rank(values, 0.9),
    }


def rate(part: int, whole: int) -> float | None:
    """`part / whole` to four places, None when there is no denominator."""
    return round(part / whole, 4) if whole else None


def handler(row: Summary) -> str | None:
    """The agent handling a case: the one it was last transferred to, else its owner."""
    value = row.get("assignee") or row.get("owner")
    return str(value) if value is not None else None


def group_of(row: Summary, by: str, team_of: TeamOf | None = None) -> str:
    """The group a summary falls in when grouping `by` a dimension."""
    if by == "team":
        team = row.get("team") or (team_of(handler(row)) if team_of else None)
        return str(team) if team else UNSET["team"]
    value = handler(row) if by == "assignee" else row.get(by)
    return str(value) if value is not None else UNSET[by]


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


class Tally:
    """One group's running totals: rows are folded in one at a time, never kept."""

    def __init__(self) -> None:
        """An empty tally."""
        self.counts = dict.fromkeys(
            ("received", "accepted", "resolved", "closed", "withdrawn", "open"), 0
        )
        self.outcomes: dict[str, dict[str, int]] = {}
        self.times: dict[str, list[float]] = {name: [] for name in TIMES}
        self.ratings = dict.fromkeys(RATINGS, 0)
        self.reopened = 0
        self.escalated = 0
        self.repeat_known = 0
        self.repeat = 0

    def add(self, row: Summary) -> None:
        """Fold one complaint of the cohort in."""
        counts = self.counts
        counts["received"] += 1
        counts["accepted"] += row.get("accepted_at") is not None
        resolved = row.get("resolved_at") is not None
        counts["resolved"] += resolved
        counts["closed"] += row["status"] == "closed"
        counts["withdrawn"] += row["status"] == "withdrawn"
        counts["open"] += row["status"] not in ENDED
        for milestone, clock, live in clocks(row):
            outcome = clock_outcome(clock, live)
            if outcome is not None:
                tally = self.outcomes.setdefault(milestone, {"met": 0, "breached": 0, "open": 0})
                tally[outcome] += 1
        for name, column in TIMES.items():
            if (seconds := _seconds(row.get("received_at"), row.get(column))) is not None:
                self.times[name].append(seconds)
        rating = row.get("satisfaction")
        if rating in self.ratings:
            self.ratings[int(rating)] += 1
        if resolved:
            self.reopened += bool(row.get("reopen_count"))
            self.escalated += bool(row.get("escalated"))
        if row.get("repeat") is not None:
            self.repeat_known += 1
            self.repeat += bool(row["repeat"])

    def compliance(self) -> dict[str, Any]:
        """Per milestone, and over all milestones together."""
        out: dict[str, Any] = {}
        total = {"met": 0, "breached": 0, "open": 0}
        for milestone in sorted(self.outcomes):
            tally = self.outcomes[milestone]
            for key in total:
                total[key] += tally[key]
            out[milestone] = {**tally, "rate": rate(tally["met"], tally["met"] + tally["breached"])}
        return {
            "milestones": out,
            "overall": {**total, "rate": rate(total["met"], total["met"] + total["breached"])},
        }

    def satisfaction(self) -> dict[str, Any]:
        """Mean, 满意率 (share of ratings >= 4), distribution and response rate."""
        responses = sum(self.ratings.values())
        satisfied = sum(n for rating, n in self.ratings.items() if rating >= SATISFIED)
        total = sum(rating * n for rating, n in self.ratings.items())
        return {
            "responses": responses,
            "mean": round(total / responses, 2) if responses else None,
            "satisfied": satisfied,
            "satisfied_share": rate(satisfied, responses),
            "response_rate": rate(responses, self.counts["resolved"]),
            "distribution": {str(rating): n for rating, n in self.ratings.items()},
        }

    def figures(self, subscribers: float | None = None) -> dict[str, Any]:
        """Every indicator of this group; `subscribers` is the period's subscriber base."""
        resolved = self.counts["resolved"]
        received = self.counts["received"]
        per_million = round(received / subscribers * 1_000_000, 2) if subscribers else None
        return {
            "counts": dict(self.counts),
            "compliance": self.compliance(),
            "times": {name: durations(values) for name, values in self.times.items()},
            "satisfaction": self.satisfaction(),
            "reopened": self.reopened,
            "reopen_rate": rate(self.reopened, resolved),
            "escalated": self.escalated,
            "escalation_rate": rate(self.escalated, resolved),
            "repeat": {
                "known": self.repeat_known,
                "repeat": self.repeat,
                "share": rate(self.repeat, self.repeat_known),
            },
            "complaints_per_million": per_million,
        }


def indicators(
    rows: Iterable[Summary],
    by: str | None = None,
    team_of: TeamOf | None = None,
    subscribers: float | None = None,
    keep: Callable[[Summary], bool] | None = None,
) -> dict[str, Any]:
    """The figures of every group (when `by` is given) and of all rows together.

    `keep` narrows the cohort further (e.g. to one team); the complaint rate
    uses the subscriber base for every group alike, so group rates add up.
    """
    groups: dict[str, Tally] = {}
    everything = Tally()
    for row in rows:
        if keep is not None and not keep(row):
            continue
        everything.add(row)
        if by is not None:
            groups.setdefault(group_of(row, by, team_of), Tally()).add(row)
    return {
        "by": by,
        "groups": [{"group": name, **groups[name].figures(subscribers)} for name in sorted(groups)],
        ALL: everything.figures(subscribers),
    }
