"""The regulatory monthly return: statistics of one month, from the ledger up to a checkpoint.

Computed from the summaries as of a named checkpoint's tree size, and
serialised canonically (RFC 8785 JSON; CSV with fixed columns and number
forms), so the same checkpoint always gives the same bytes. The return names
its checkpoint (tree size and root hash), and the verifier recomputes it
from the proven entries and compares the bytes (`verify --reports`).
"""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import rfc8785

from services.audit.indicators import indicators
from services.audit.summary import Summary

COLUMNS = (
    "category",
    "received",
    "accepted",
    "resolved",
    "closed",
    "withdrawn",
    "open",
    "compliance_rate",
    "breached_clocks",
    "satisfaction_responses",
    "satisfaction_mean",
    "satisfied_share",
    "appeals",
    "reopen_rate",
    "escalation_rate",
)


def month_bounds(month: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local month `YYYY-MM` as `[start, end)`; ValueError when malformed."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = datetime(year, number, 1, tzinfo=zone)
    except (ValueError, TypeError) as exc:
        raise ValueError("'month' is YYYY-MM.") from exc
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=zone)
    return start, end


def _line(name: str, figures: dict[str, Any]) -> dict[str, Any]:
    counts, overall = figures["counts"], figures["compliance"]["overall"]
    satisfaction = figures["satisfaction"]
    return {
        "category": name,
        **{key: counts[key] for key in COLUMNS[1:7]},
        "compliance_rate": overall["rate"],
        "breached_clocks": overall["breached"],
        "satisfaction_responses": satisfaction["responses"],
        "satisfaction_mean": satisfaction["mean"],
        "satisfied_share": satisfaction["satisfied_share"],
        "appeals": figures["escalated"],
        "reopen_rate": figures["reopen_rate"],
        "escalation_rate": figures["escalation_rate"],
    }


def monthly_return(
    rows: Iterable[Summary], month: str, zone: ZoneInfo, tree_size: int, root_hash: bytes
) -> dict[str, Any]:
    """The return of `month` over `rows` (summaries as of `tree_size`)."""
    start, end = month_bounds(month, zone)
    naive = [moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None) for moment in (start, end)]
    cohort = (r for r in rows if r.get("received_at") and naive[0] <= r["received_at"] < naive[1])
    figures = indicators(cohort, "category")
    return {
        "return": "monthly complaint statistics",
        "month": month,
        "timezone": zone.key,
        "checkpoint": {"tree_size": tree_size, "root_hash": base64.b64encode(root_hash).decode()},
        "categories": [_line(g["group"], g) for g in figures["groups"]],
        "all": _line("all", figures["all"]),
    }


def return_json(document: dict[str, Any]) -> bytes:
    """Canonical JSON bytes: the same return, the same bytes."""
    return rfc8785.dumps(document)


def return_csv(document: dict[str, Any]) -> bytes:
    """One row per category and `all`, each naming the month and checkpoint."""
    out = io.StringIO()
    fields = ("month", "tree_size", "root_hash", *COLUMNS)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    stamp = {"month": document["month"], **document["checkpoint"]}
    for line in [*document["categories"], document["all"]]:
        writer.writerow(
            {
                **stamp,
                **{
                    k: "" if v is None else repr(v) if isinstance(v, float) else v
                    for k, v in line.items()
                },
            }
        )
    return out.getvalue().encode("utf-8")
