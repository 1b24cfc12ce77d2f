"""What the dashboard shows, as data: headline cards, tables, series and their CSV.

Kept apart from the routes so the page, its CSV download and the tests read
the same rows. Labels come in zh-CN and en.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.audit.figures import Figures, Scope
from services.audit.summary import clocks
from services.audit.summary_table import SummaryFilter
from services.audit.work_queue import AtRisk

LABELS: dict[str, dict[str, Any]] = {
    "zh-CN": {
        "title": "投诉质量看板",
        "open": "未结案",
        "at_risk": "即将超时",
        "breached_today": "今日超时",
        "compliance": "时限达标率",
        "satisfied": "满意率",
        "per_team": "按班组",
        "per_agent": "按坐席",
        "group": "名称",
        "received": "受理量",
        "reopen_rate": "重开率",
        "compliance_chart": "各环节达标率趋势",
        "breaches_chart": "超时趋势",
        "satisfaction_chart": "满意度分布",
        "at_risk_list": "即将超时的投诉（{hours} 小时内到期，来自工单队列）",
        "at_risk_unavailable": "投诉服务的工单队列暂时无法读取，即将超时的投诉未能显示。",
        "at_risk_truncated": "仅显示前 2000 件。",
        "at_risk_none": "无",
        "status": "状态",
        "handler": "处理人",
        "filter": "筛选",
        "download": "下载 CSV",
        "from": "起",
        "to": "止",
        "category": "类别",
        "team": "班组",
        "any": "全部",
        "sign_out": "退出",
        "case": "案卷",
        "milestone": "环节",
        "due": "时限",
        "tree_size": "账本条目数",
        # Names the ledger groups by when a case has none (indicators.UNSET).
        "groups": {"no team": "未分班组", "unassigned": "未分配"},
        "milestones": {
            "acceptance": "受理",
            "investigation": "初步调查",
            "result": "结果答复",
            "repair": "故障修复",
            "overall": "全程处理",
            "reply": "申诉转办答复",
            "dispute": "异议处理",
            "appeal": "申诉处理",
        },
    },
    "en": {
        "title": "Complaint quality dashboard",
        "open": "Open",
        "at_risk": "At risk",
        "breached_today": "Breached today",
        "compliance": "Compliance",
        "satisfied": "Satisfied (≥4)",
        "per_team": "Per team",
        "per_agent": "Per agent",
        "group": "Name",
        "received": "Received",
        "reopen_rate": "Reopen rate",
        "compliance_chart": "Compliance per milestone over time",
        "breaches_chart": "Breaches over time",
        "satisfaction_chart": "Satisfaction distribution",
        "at_risk_list": "Complaints at risk (due within {hours} h, from the work queue)",
        "at_risk_unavailable": "The complaints service's work queue cannot be read right now: "
        "the complaints at risk are not shown.",
        "at_risk_truncated": "Only the first 2000 are shown.",
        "at_risk_none": "None",
        "status": "Status",
        "handler": "Handler",
        "filter": "Filter",
        "download": "Download CSV",
        "from": "From",
        "to": "To",
        "category": "Category",
        "team": "Team",
        "any": "All",
        "sign_out": "Sign out",
        "case": "Case file",
        "milestone": "Milestone",
        "due": "Due",
        "tree_size": "ledger entries",
        "groups": {"no team": "no team", "unassigned": "unassigned"},
        "milestones": {
            "acceptance": "acceptance",
            "investigation": "investigation",
            "result": "result",
            "repair": "network repair",
            "overall": "overall handling",
            "reply": "reply to the appeal centre",
            "dispute": "dispute",
            "appeal": "appeal",
        },
    },
}
CATEGORIES = (
    "billing",
    "network_quality",
    "network_fault",
    "service_conduct",
    "contract",
    "privacy",
    "other",
)
TABLE_COLUMNS = (
    "table",
    "group",
    "received",
    "open",
    "compliance",
    "satisfied_share",
    "reopen_rate",
)


def _row(table: str, group: dict[str, Any]) -> dict[str, Any]:
    return {
        "table": table,
        "group": group["group"],
        "received": group["counts"]["received"],
        "open": group["counts"]["open"],
        "compliance": group["compliance"]["overall"]["rate"],
        "satisfied_share": group["satisfaction"]["satisfied_share"],
        "reopen_rate": group["reopen_rate"],
    }


def name_milestones(figures: Figures, scope: Scope, risky: AtRisk) -> None:
    """Name the milestone each at-risk item is due for, from the ledger's clocks.

    The work queue gives the next due time only; the running clock of the
    ledger's summary with that due time names the milestone (`None` while the
    ledger has not caught up with the queue).
    """
    wanted = {item["complaint_id"]: item for item in risky.items}
    if not wanted:
        return
    with figures.summaries.snapshot(scope.tree_size) as snapshot:
        for row in snapshot.rows(SummaryFilter(category=scope.category)):
            item = wanted.get(row["complaint_id"])
            if item is None:
                continue
            due = datetime.fromisoformat(item["due_at"])
            for milestone, clock, live in clocks(row):
                at = clock.get("due_at")
                if not live or not at or clock.get("completed_at"):
                    continue
                if abs((datetime.fromisoformat(str(at)) - due).total_seconds()) < 1:
                    item["milestone"] = milestone
                    break


def dashboard_data(
    figures: Figures, scope: Scope, now: datetime, risky: AtRisk | None = None
) -> dict[str, Any]:
    """Everything the page shows, for the scope's period; `risky` is the live at-risk list."""
    zone: ZoneInfo = figures.zone
    local_today = now.astimezone(zone).date()
    today_start = datetime(
        local_today.year, local_today.month, local_today.day, tzinfo=zone
    ).astimezone(UTC)
    teams = figures.indicators(scope, "team")
    agents = figures.indicators(scope, "assignee")
    trend = figures.trend(scope, "day")
    live = figures.live(scope, (today_start, today_start + timedelta(days=1)))
    risky = risky or AtRisk(unavailable="not-asked")
    name_milestones(figures, scope, risky)
    every = teams["all"]
    milestones = sorted(
        {m for bucket in trend["buckets"] for m in bucket["compliance"]["milestones"]}
    )
    return {
        "tree_size": teams["tree_size"],
        "cards": {
            "open": live["open"],
            "at_risk": risky.count,
            "breached_today": live["breached_today"],
            "compliance": every["compliance"]["overall"]["rate"],
            "satisfied": every["satisfaction"]["satisfied_share"],
        },
        "rows": [_row("team", g) for g in teams["groups"]]
        + [_row("agent", g) for g in agents["groups"]],
        "days": [b["period"] for b in trend["buckets"]],
        "compliance_series": {
            m: [b["compliance"]["milestones"].get(m, {}).get("rate") for b in trend["buckets"]]
            for m in milestones
        },
        "breaches": [b["breaches"] for b in trend["buckets"]],
        "satisfaction": every["satisfaction"]["distribution"],
        "at_risk": risky.items,
        "at_risk_hours": risky.hours,
        "at_risk_unavailable": risky.unavailable,
        "at_risk_truncated": risky.truncated,
        "teams": figures.teams.names(),
    }


def table_csv(data: dict[str, Any]) -> str:
    """The per-team and per-agent tables as CSV, exactly the rows the page shows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=TABLE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in data["rows"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in TABLE_COLUMNS})
    return out.getvalue()


def chart_json(data: dict[str, Any], labels: dict[str, Any]) -> str:
    """The data the page script draws, safe inside a `<script type=application/json>`."""
    payload = {key: data[key] for key in ("days", "compliance_series", "breaches", "satisfaction")}
    payload["labels"] = labels
    return json.dumps(payload, ensure_ascii=False).replace("<", "\\u003c")
