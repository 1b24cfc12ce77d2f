"""The figures supervisors and regulators read, computed from one summary snapshot.

`Figures` joins the pieces: a snapshot of the summaries as of a tree size,
the teams of the staff directory, the subscriber base and the operator's
time zone. The API, the dashboard and the scheduled report all ask it, so
they always show the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.audit.indicators import Tally, group_of, indicators
from services.audit.subscribers import SubscriberBase
from services.audit.summary import Summary
from services.audit.summary_table import ComplaintSummaries, SummaryFilter
from services.audit.teams import Teams
from services.audit.trends import breach_instants, buckets, trend


@dataclass(frozen=True)
class Scope:
    """Which complaints: received in `[start, end)`, of a category and a team, as of a size."""

    start: datetime | None = None
    end: datetime | None = None
    category: str | None = None
    team: str | None = None
    tree_size: int | None = None

    def stated(self) -> dict[str, Any]:
        """The scope as an answer states it."""
        return {
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            "category": self.category,
            "team": self.team,
        }


class Figures:
    """Indicators, trends and headline figures over the summaries."""

    def __init__(
        self,
        summaries: ComplaintSummaries,
        teams: Teams,
        subscribers: SubscriberBase,
        zone: ZoneInfo,
    ) -> None:
        """Compute from `summaries`, grouping teams by `teams`, in local time `zone`."""
        self.summaries = summaries
        self.teams = teams
        self.subscribers = subscribers
        self.zone = zone

    def _keep(self, scope: Scope) -> Any:
        if scope.team is None:
            return None
        team = scope.team
        return lambda row: group_of(row, "team", self.teams.team_of) == team

    def indicators(self, scope: Scope, by: str | None) -> dict[str, Any]:
        """The indicators of the scope's cohort, grouped `by` a dimension when given."""
        cohort = SummaryFilter(
            category=scope.category, received_from=scope.start, received_to=scope.end
        )
        base = self.subscribers.base(scope.start, scope.end, self.zone)
        with self.summaries.snapshot(scope.tree_size) as snapshot:
            figures = indicators(
                snapshot.rows(cohort), by, self.teams.team_of, base, self._keep(scope)
            )
            return {**scope.stated(), "tree_size": snapshot.tree_size, **figures}

    def trend(self, scope: Scope, interval: str) -> dict[str, Any]:
        """The scope's indicators per day, week or month, with the breaches in each."""
        if scope.start is None or scope.end is None:
            raise ValueError("A trend needs both 'from' and 'to'.")
        periods = buckets(scope.start, scope.end, interval, self.zone)
        with self.summaries.snapshot(scope.tree_size) as snapshot:
            rows = snapshot.rows(SummaryFilter(category=scope.category))
            series = trend(rows, periods, self.zone, self._keep(scope), self.subscribers)
            return {
                **scope.stated(),
                "interval": interval,
                "tree_size": snapshot.tree_size,
                "buckets": series,
            }

    def live(self, scope: Scope, today: tuple[datetime, datetime]) -> dict[str, Any]:
        """Now, whatever the period: open complaints and the breaches of `today` (UTC)."""
        start, end = (moment.replace(tzinfo=None) for moment in today)
        everything = Tally()
        breached_today = 0
        keep = self._keep(scope)
        with self.summaries.snapshot(scope.tree_size) as snapshot:
            for row in snapshot.rows(SummaryFilter(category=scope.category)):
                if keep is not None and not keep(row):
                    continue
                everything.add(row)
                breached_today += sum(start <= at < end for at in breach_instants(row))
            return {
                "tree_size": snapshot.tree_size,
                "open": everything.counts["open"],
                "breached_today": breached_today,
            }

    def team_of(self, row: Summary) -> str:
        """The team a complaint counts under."""
        return group_of(row, "team", self.teams.team_of)
