"""The scheduled team report (seed 7.5, feedback of results): each team's figures, pushed.

When a report period ends (`AUDIT_TEAM_REPORT_PERIOD`), the report of every
team in the staff directory is *planned*: its figures are computed once, from
one summary snapshot, and frozen in `team_reports` under the primary key
(period, team), with a stable key derived from both. Planned reports are
then *sent*: the frozen request goes to the notifications service
(`POST /v1/staff-messages`, with the key as `Idempotency-Key` and in the
body), which queues one message per supervisor of the team and delivers it.

Exactly once per period and team, across restarts and replicas:

- one replica plans and sends at a time (a lease in the database,
  `services.kernel.lease`);
- a period's rows are planned in one transaction and the primary key refuses
  a second plan, so figures are never recomputed for a period once frozen;
- a send repeated after a crash (sent, but not yet marked) repeats the same
  bytes under the same key: the notifications service's idempotency record
  and its outbox's delivery key `(key, recipient, template)` add nothing.

Periods missed while no replica ran are not reported afterwards: the report is
for the period that has just ended.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from services.audit.figures import Figures, Scope
from services.audit.indicators import Tally
from services.audit.report_period import ReportPeriod, Span
from services.kernel.database import reading
from services.kernel.lease import Lease

log = logging.getLogger("services.audit.team_reports")
metadata = MetaData()
REPORT_NAMESPACE = uuid.UUID("0b6f3a52-7c1e-4f7d-9a0e-5d2c8e4b1f63")
TEMPLATE = "team_report"

team_reports = Table(
    "team_reports",
    metadata,
    Column("period_start", String(40), nullable=False),
    Column("team", String(100), nullable=False),
    Column("key", String(36), nullable=False, unique=True),
    Column("request", Text, nullable=False),
    Column("planned_at", Float, nullable=False),
    Column("sent_at", Float),
    Column("refused", String(500)),
    Column("attempts", Integer, nullable=False, default=0),
    PrimaryKeyConstraint("period_start", "team"),
)


def report_key(origin: str, team: str, span: Span) -> str:
    """The stable key of one team's report for one period."""
    return str(uuid.uuid5(REPORT_NAMESPACE, f"{origin}\n{team}\n{span.key}"))


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 2) if seconds is not None else None


def team_figures(group: dict[str, Any]) -> dict[str, Any]:
    """What the report says of one team, from its indicators."""
    overall = group["compliance"]["overall"]
    satisfaction = group["satisfaction"]
    return {
        "received": group["counts"]["received"],
        "resolved": group["counts"]["resolved"],
        "open": group["counts"]["open"],
        "compliance": overall["rate"],
        "breached": overall["breached"],
        "satisfied_share": satisfaction["satisfied_share"],
        "satisfaction_mean": satisfaction["mean"],
        "responses": satisfaction["responses"],
        "reopen_rate": group["reopen_rate"],
        "escalation_rate": group["escalation_rate"],
        "to_accept_median_hours": _hours(group["times"]["to_accept"]["median_seconds"]),
        "to_final_result_median_hours": _hours(group["times"]["to_final_result"]["median_seconds"]),
    }


class TeamReports:
    """Plans each period's team reports and sends them through the notifications service."""

    def __init__(
        self,
        engine: Engine,
        figures: Figures,
        period: ReportPeriod,
        *,
        origin: str,
        notifications_url: str,
        dashboard_url: str,
        token: Callable[[], str] | None,
        delay_seconds: float = 60.0,
        lease_ttl: float = 10.0,
        timeout: float = 3.0,
    ) -> None:
        """Report on `figures` every `period`, `delay_seconds` after it ends."""
        self.engine = engine
        self.figures = figures
        self.period = period
        self.origin = origin
        self.notifications_url = notifications_url.rstrip("/")
        self.dashboard_url = dashboard_url.rstrip("/")
        self.token = token
        self.delay = timedelta(seconds=delay_seconds)
        self.timeout = timeout
        self.lease = Lease(engine, "audit-team-reports", lease_ttl)
        metadata.create_all(engine, checkfirst=True)

    @property
    def zone(self) -> ZoneInfo:
        """The operator's zone."""
        return self.figures.zone

    # -- planning ---------------------------------------------------------------

    def plan(self, now: datetime) -> Span | None:
        """Freeze the reports of the period that ended (plus the delay) by `now`, once.

        Returns the span planned now, None when it was planned before (or has
        no team to report on).
        """
        span = self.period.last_ended(now - self.delay, self.zone)
        with reading(self.engine) as conn:
            done = conn.execute(
                select(team_reports.c.team).where(team_reports.c.period_start == span.key).limit(1)
            ).first()
        if done is not None:
            return None
        rows = []
        for team, request in self._requests(span).items():
            key = report_key(self.origin, team, span)
            # The request's exact bytes are frozen: a resend repeats them under the same key.
            frozen = json.dumps({**request, "key": key}, ensure_ascii=False, sort_keys=True)
            rows.append(
                {
                    "period_start": span.key,
                    "team": team,
                    "key": key,
                    "request": frozen,
                    "planned_at": time.time(),
                    "attempts": 0,
                }
            )
        if not rows:
            return None
        try:
            with self.engine.begin() as conn:
                conn.execute(team_reports.insert(), rows)
        except IntegrityError:
            return None  # another replica planned this period first
        log.info("team reports planned", extra={"period": span.key, "teams": len(rows)})
        return span

    def _requests(self, span: Span) -> dict[str, dict[str, Any]]:
        teams = self.figures.teams
        answer = self.figures.indicators(Scope(span.start, span.end), "team")
        groups = {g["group"]: g for g in answer["groups"]}
        empty = Tally().figures()  # a team that received nothing in the period
        last_day = (span.end - timedelta(microseconds=1)).date()
        out = {}
        for team in teams.names():
            recipients = teams.supervisors(team)
            if not recipients:
                log.warning("team has no supervisor to report to", extra={"team": team})
                continue
            query = urlencode(
                {"from": span.start.date().isoformat(), "to": last_day.isoformat(), "team": team}
            )
            out[team] = {
                "template": TEMPLATE,
                "recipients": recipients,
                "context": {
                    "team": team,
                    "period": {
                        "from": span.start.date().isoformat(),
                        "to": last_day.isoformat(),
                        "label": span.label,
                        "start": span.start.isoformat(),
                        "end": span.end.isoformat(),
                    },
                    "figures": team_figures(groups.get(team, empty)),
                    "dashboard_url": f"{self.dashboard_url}/dashboard?{query}",
                    "tree_size": answer["tree_size"],
                },
            }
        return out

    # -- sending ----------------------------------------------------------------

    def pending(self, limit: int = 50) -> list[dict[str, Any]]:
        """Planned reports not yet accepted by the notifications service, oldest first."""
        with reading(self.engine) as conn:
            rows = conn.execute(
                select(team_reports)
                .where(team_reports.c.sent_at.is_(None), team_reports.c.refused.is_(None))
                .order_by(team_reports.c.period_start, team_reports.c.team)
                .limit(limit)
            ).all()
        return [dict(r._mapping) for r in rows]

    async def send_pending(self) -> int:
        """Send what is planned; returns how many the notifications service accepted."""
        rows = await asyncio.to_thread(self.pending)
        if not rows:
            return 0
        if self.token is None:
            log.warning("no service token: team reports wait")
            return 0
        accepted = 0
        async with httpx.AsyncClient(
            base_url=self.notifications_url, timeout=self.timeout
        ) as client:
            for row in rows:
                outcome = await self._send(client, row)
                await asyncio.to_thread(self._record, row, outcome)
                accepted += outcome == "sent"
        return accepted

    async def _send(self, client: httpx.AsyncClient, row: dict[str, Any]) -> str:
        assert self.token is not None
        fields = {"team": row["team"], "period": row["period_start"], "key": row["key"]}
        try:
            response = await client.post(
                "/v1/staff-messages",
                content=row["request"].encode(),
                headers={
                    "Authorization": f"Bearer {self.token()}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": row["key"],
                },
            )
        except httpx.HTTPError as exc:
            log.warning(
                "notifications unreachable",
                extra={**fields, "url": str(client.base_url), "error": type(exc).__name__},
            )
            return "retry"
        if response.status_code == 202:
            unknown = response.json().get("unknown") or []
            log.info("team report sent", extra={**fields, "unknown_recipients": len(unknown)})
            return "sent"
        if response.status_code in (400, 422):
            log.error("team report refused", extra={**fields, "status": response.status_code})
            return f"refused: {response.status_code} {response.text[:400]}"
        log.warning(
            "team report not accepted",
            extra={**fields, "url": str(client.base_url), "status": response.status_code},
        )
        return "retry"

    def _record(self, row: dict[str, Any], outcome: str) -> None:
        values: dict[str, Any] = {"attempts": team_reports.c.attempts + 1}
        if outcome == "sent":
            values["sent_at"] = time.time()
        elif outcome.startswith("refused"):
            values["refused"] = outcome[:500]
        with self.engine.begin() as conn:
            conn.execute(
                update(team_reports)
                .where(
                    team_reports.c.period_start == row["period_start"],
                    team_reports.c.team == row["team"],
                )
                .values(**values)
            )

    # -- the loop -----------------------------------------------------------------

    async def run_once(self, now: datetime | None = None) -> None:
        """One round: if this replica holds the lease, plan what is due and send."""
        if not await asyncio.to_thread(self.lease.acquire):
            return
        await asyncio.to_thread(self.plan, now or datetime.now(self.zone))
        await self.send_pending()

    async def run(self) -> None:
        """Forever: a round every few seconds (at most every 30 s, more often for short periods)."""
        every = min(30.0, max(0.5, self.period.approximate_seconds / 4))
        try:
            while True:
                try:
                    await self.run_once()
                except Exception:
                    log.exception("team report round failed")
                await asyncio.sleep(every)
        finally:
            await asyncio.to_thread(self.lease.release)
