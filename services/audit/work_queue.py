"""The live at-risk list: complaints due soon, read from the complaints service's work queue.

The ledger says what happened; what is due in the next hours is the
complaints service's own work queue (`GET /v1/complaints?due_before=`), read
over HTTP with a service token, as the portal and notifications call it. When
the complaints service cannot be reached (or refuses the token) the list is
*unavailable*, with the reason, and the dashboard says so instead of failing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from services.audit.teams import Teams

log = logging.getLogger("services.audit.work_queue")

PAGE = 200
MOST = 2000
"""The most queue rows read per request (ten pages): more is flagged as `truncated`."""


@dataclass(frozen=True)
class AtRisk:
    """Complaints due within the window, soonest first, or why they could not be read."""

    items: list[dict[str, Any]] = field(default_factory=list)
    hours: float = 0.0
    unavailable: str | None = None
    truncated: bool = False

    @property
    def count(self) -> int | None:
        """How many are due; None when the work queue could not be read."""
        return None if self.unavailable else len(self.items)


def team_of_row(row: dict[str, Any], teams: Teams) -> str | None:
    """A queue row's team: the team it was transferred to, else its handler's team."""
    assignee = row.get("assignee")
    if assignee and assignee in teams.names():
        return str(assignee)
    return teams.team_of(assignee or row.get("owner"))


class WorkQueueReader:
    """Reads the complaints service's work queue for the at-risk list."""

    def __init__(
        self,
        base_url: str,
        token: Callable[[], str] | None,
        teams: Teams,
        hours: float,
        zone: ZoneInfo,
        timeout: float = 3.0,
    ) -> None:
        """Read `base_url`'s queue with `token` (None: no token could be had)."""
        self.zone = zone
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.teams = teams
        self.hours = hours
        self.timeout = timeout

    async def due_soon(self, now: datetime, category: str | None, team: str | None) -> AtRisk:
        """Open complaints whose next deadline falls before `now` + the window."""
        if self.token is None:
            return AtRisk(hours=self.hours, unavailable="no-service-token")
        params: dict[str, Any] = {
            "due_before": (now + timedelta(hours=self.hours)).isoformat(),
            "limit": PAGE,
        }
        if category:
            params["category"] = category
        rows: list[dict[str, Any]] = []
        truncated = False
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout) as client:
                cursor: str | None = None
                while True:
                    query = {**params, **({"cursor": cursor} if cursor else {})}
                    response = await client.get(
                        "/v1/complaints",
                        params=query,
                        headers={"Authorization": f"Bearer {self.token()}"},
                    )
                    if response.status_code != 200:
                        log.warning(
                            "work queue refused",
                            extra={
                                "url": f"{self.base_url}/v1/complaints",
                                "status": response.status_code,
                            },
                        )
                        return AtRisk(
                            hours=self.hours, unavailable=f"status-{response.status_code}"
                        )
                    page = response.json()
                    rows += page["items"]
                    cursor = page.get("next_cursor")
                    if not cursor:
                        break
                    if len(rows) >= MOST:
                        truncated = True
                        break
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning(
                "work queue unreachable",
                extra={"url": f"{self.base_url}/v1/complaints", "error_type": type(exc).__name__},
            )
            return AtRisk(hours=self.hours, unavailable="unreachable")
        items = [
            _item(row, now, self.zone)
            for row in rows
            if row.get("next_due_at") and (team is None or team_of_row(row, self.teams) == team)
        ]
        items.sort(key=lambda item: (datetime.fromisoformat(item["due_at"]), item["case_number"]))
        return AtRisk(items, self.hours, truncated=truncated)


def _item(row: dict[str, Any], now: datetime, zone: ZoneInfo) -> dict[str, Any]:
    due = datetime.fromisoformat(str(row["next_due_at"]))
    return {
        "complaint_id": row["complaint_id"],
        "case_number": row["case_number"],
        "status": row["status"],
        "category": row.get("category"),
        "handler": row.get("assignee") or row.get("owner"),
        "due_at": due.isoformat(),
        "due_local": f"{due.astimezone(zone):%Y-%m-%d %H:%M}",
        "overdue": due < now,
        "breached": bool(row.get("breached")),
        "milestone": None,  # named from the ledger's clocks by the dashboard
    }
