"""Complaint summaries: one per complaint, folded from its ledger entries alone.

`evolve` folds one feed item (a ledger entry's fields) into a summary (a plain
dict). The fold is pure and depends on nothing but the complaint's own
entries, in ledger order: the service keeps its result in a table, and the
verifier recomputes it from the entries to prove that table honest.

Event types are handled generically where the feed allows: any milestone in
`deadlines` is a clock, a clock that starts afresh (a new `started_at`, after a
reopen, a return from appeal, a reclassification) moves the old one into
`rounds` so a breach in an earlier round is never lost, and unknown types
only advance the summary's position. No personal data is kept: the feed's
masked customer is not copied here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

Summary = dict[str, Any]

DERIVATION_VERSION = 3
"""Bump when `evolve` changes: stored summaries are then rebuilt from the ledger."""

# The status each workflow event leads to (services/complaints/domain/workflow.py).
STATUS_AFTER = {
    "Registered": "received",
    "Accepted": "accepted",
    "Investigated": "investigated",
    "Resolved": "resolved",
    "Disputed": "disputed",
    "Reopened": "accepted",
    "Escalated": "escalated",
    "Closed": "closed",
    "Withdrawn": "withdrawn",
    "AutoClosed": "closed",
    "DeemedAccepted": "closed",  # the confirmation window passed in silence: closed
    "Returned": "returned",  # sent back by the appeal body
}
ENDED = frozenset({"closed", "withdrawn"})
# The first time a complaint reached each step: reopening does not reset it.
FIRST_REACHED = {
    "Accepted": "accepted_at",
    "Investigated": "investigated_at",
    "Resolved": "resolved_at",
    "Restored": "restored_at",
    "Closed": "ended_at",
    "AutoClosed": "ended_at",
    "DeemedAccepted": "ended_at",
    "Withdrawn": "ended_at",
}
# Milestones whose completion restores service to the customer (network faults).
RESTORE_MILESTONES = ("repair", "restore")
COLUMNS = (
    "complaint_id",
    "case_number",
    "status",
    "category",
    "severity",
    "channel",
    "region",
    "owner",
    "assignee",
    "team",
    "repeat",
    "received_at",
    "accepted_at",
    "investigated_at",
    "resolved_at",
    "final_resolved_at",
    "restored_at",
    "ended_at",
    "satisfaction",
    "reopen_count",
    "escalated",
    "breached",
    "deadlines",
    "rounds",
    "last_position",
    "last_index",
)


def instant(value: str | None) -> datetime | None:
    """An ISO 8601 instant from the feed as naive UTC, the form the table stores."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def new_summary(complaint_id: str) -> Summary:
    """The summary of a complaint before its first event."""
    return {
        "complaint_id": complaint_id,
        "case_number": None,
        "status": "received",
        "category": None,
        "severity": None,
        "channel": None,
        "region": None,
        "owner": None,
        "assignee": None,
        "team": None,
        "repeat": None,
        "received_at": None,
        "accepted_at": None,
        "investigated_at": None,
        "resolved_at": None,
        "final_resolved_at": None,
        "restored_at": None,
        "ended_at": None,
        "satisfaction": None,
        "reopen_count": 0,
        "escalated": False,
        "breached": False,
        "deadlines": "{}",
        "rounds": "[]",
        "last_position": 0,
        "last_index": -1,
    }


def clock_outcome(clock: dict[str, Any], live: bool) -> str | None:
    """`met`, `breached` or `open` for one milestone clock; None when it does not count.

    A clock is breached when a breach was recorded or it completed after its
    due time, met when it completed in time, open while it still runs on a
    case that has not ended. A clock that stopped uncompleted and unbreached
    (the case was withdrawn or closed, reclassified, or the round was
    superseded) counts neither way.
    """
    due, completed = instant(clock.get("due_at")), instant(clock.get("completed_at"))
    if clock.get("breached_at") or (completed and due and completed > due):
        return "breached"
    if completed is not None:
        return "met"
    return "open" if live else None


def clocks(summary: Summary) -> list[tuple[str, dict[str, Any], bool]]:
    """Every clock of every round: (milestone, clock, live), earlier rounds first."""
    ended = summary["status"] in ENDED
    out = [(str(clock.get("milestone")), clock, False) for clock in json.loads(summary["rounds"])]
    current = json.loads(summary["deadlines"])
    out += [(name, clock, not ended) for name, clock in sorted(current.items())]
    return out


def _archive(rounds: list[dict[str, Any]], name: str, clock: dict[str, Any], **why: Any) -> None:
    rounds.append({**clock, "milestone": name, **why})


def _evolve_clocks(summary: Summary, out: Summary, kind: str, item: dict[str, Any]) -> None:
    data = item.get("data") or {}
    deadlines: dict[str, Any] = json.loads(summary["deadlines"])
    rounds: list[dict[str, Any]] = json.loads(summary["rounds"])
    for stopped in data.get("stopped") or ():
        if stopped in deadlines:  # reclassified: that clock no longer applies
            _archive(rounds, stopped, deadlines.pop(stopped), stopped=True)
    if isinstance(data.get("deadlines"), dict):
        for name, clock in sorted(data["deadlines"].items()):
            if not isinstance(clock, dict):
                continue
            old = deadlines.get(name)
            if old is not None and _is_new_round(old, clock):
                _archive(rounds, name, old)
            elif old is not None:
                # The same clock again: a recorded warning or breach is never forgotten.
                clock = {
                    **clock,
                    **{k: old[k] for k in ("warned_at", "breached_at") if old.get(k)},
                }
            deadlines[name] = dict(clock)
    if kind in ("SlaWarning", "SlaBreached") and data.get("milestone"):
        milestone = str(data["milestone"])
        clock = dict(deadlines.get(milestone, {"due_at": data.get("due_at")}))
        clock["warned_at" if kind == "SlaWarning" else "breached_at"] = item["occurred_at"]
        deadlines[milestone] = clock
    if out["restored_at"] is None:
        for name in RESTORE_MILESTONES:
            if completed := instant((deadlines.get(name) or {}).get("completed_at")):
                out["restored_at"] = completed
    out["deadlines"] = json.dumps(deadlines, sort_keys=True)
    out["rounds"] = json.dumps(rounds, sort_keys=True)
    out["breached"] = any(clock_outcome(clock, False) == "breached" for _, clock, _ in clocks(out))


def _is_new_round(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether `new` is a fresh clock for the milestone rather than `old` updated."""
    before, after = old.get("started_at"), new.get("started_at")
    return before is not None and after is not None and before != after


def evolve(summary: Summary, item: dict[str, Any], index: int | None = None) -> Summary:
    """The summary after one feed item (at ledger `index`, when known)."""
    kind, data = item["type"], item.get("data") or {}
    at = instant(item["occurred_at"])
    out = dict(summary, last_position=item["position"])
    if index is not None:
        out["last_index"] = index
    if kind == "Registered":
        out.update(
            case_number=data.get("case_number"),
            category=data.get("category"),
            channel=data.get("channel"),
            owner=data.get("owner"),
            region=data.get("region"),
            received_at=instant(data.get("received_at")) or at,
        )
    elif kind == "Accepted":
        out.update(category=data.get("category"), severity=data.get("severity"))
    elif kind in ("Confirmed", "SurveyAnswered"):  # a rating, before or after closure
        out["satisfaction"] = data.get("satisfaction")
    elif kind == "Reopened":
        out["reopen_count"] = summary["reopen_count"] + 1
    elif kind == "Escalated":
        out["escalated"] = True
    elif kind == "Resolved":
        out["final_resolved_at"] = at
    elif kind == "Restored" and out["restored_at"] is None:
        out["restored_at"] = instant(data.get("restored_at")) or at
    elif kind in ("Transferred", "Claimed"):  # a claim assigns the claimer, like a transfer
        assignee = data.get("assignee") or {}
        if assignee.get("type") == "team":
            out["team"] = assignee.get("id")
        elif assignee.get("id"):
            out["assignee"] = assignee.get("id")
    if isinstance(data.get("repeat"), bool):
        out["repeat"] = data["repeat"]  # the repeat-complaint flag, where the feed knows it
    if kind in STATUS_AFTER:
        out["status"] = STATUS_AFTER[kind]
    column = FIRST_REACHED.get(kind)
    if column and out[column] is None:
        out[column] = at
    _evolve_clocks(summary, out, kind, item)
    return out


def fold(complaint_id: str, items: list[dict[str, Any]]) -> Summary | None:
    """A complaint's summary from its entries in ledger order; None when there are none."""
    if not items:
        return None
    summary = new_summary(complaint_id)
    for item in items:
        summary = evolve(summary, item, item.get("index"))
    return summary


def public_summary(row: Summary) -> Summary:
    """A summary in its API form: instants as ISO 8601 UTC, clocks as JSON."""
    out = {key: row.get(key) for key in COLUMNS}
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.replace(tzinfo=UTC).isoformat()
    out["deadlines"] = json.loads(row["deadlines"])
    out["rounds"] = json.loads(row["rounds"])
    out["breached"] = bool(row["breached"])
    out["escalated"] = bool(row["escalated"])
    out["repeat"] = None if row.get("repeat") is None else bool(row["repeat"])
    return out
