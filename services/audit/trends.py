"""Trends: the indicators as a time series by day, week or month.

A period is cut into whole local calendar buckets (the service's time zone,
`AUDIT_TIMEZONE`): days, ISO weeks from Monday, months. Each bucket holds the
indicators of the complaints received in it, and `breaches`: the milestone
breaches that happened in it, whenever those complaints were received (a
recorded breach at its time, a late completion at its due time).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.audit.indicators import Tally
from services.audit.subscribers import SubscriberBase
from services.audit.summary import Summary, clocks, instant

INTERVALS = ("day", "week", "month")
MAX_BUCKETS = 400


@dataclass(frozen=True)
class Bucket:
    """One period of a trend: its label and its `[start, end)` in UTC."""

    label: str
    start: datetime
    end: datetime


def _floor(day: date, interval: str) -> date:
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next(day: date, interval: str) -> date:
    if interval == "week":
        return day + timedelta(days=7)
    if interval == "month":
        return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
    return day + timedelta(days=1)


def _label(day: date, interval: str) -> str:
    if interval == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if interval == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return day.isoformat()


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def buckets(start: datetime, end: datetime, interval: str, zone: ZoneInfo) -> list[Bucket]:
    """Whole local buckets covering `[start, end)`; ValueError beyond `MAX_BUCKETS`."""
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {INTERVALS}")
    if end <= start:
        raise ValueError("'to' must be after 'from'.")
    day = _floor(start.astimezone(zone).date(), interval)
    out: list[Bucket] = []
    while _midnight(day, zone) < end:
        following = _next(day, interval)
        out.append(Bucket(_label(day, interval), _midnight(day, zone), _midnight(following, zone)))
        if len(out) > MAX_BUCKETS:
            raise ValueError(f"A trend holds at most {MAX_BUCKETS} buckets.")
        day = following
    return out


def breach_instants(row: Summary) -> list[datetime]:
    """When each breached clock of every round breached (naive UTC)."""
    out = []
    for _, clock, _ in clocks(row):
        due, completed = instant(clock.get("due_at")), instant(clock.get("completed_at"))
        if at := instant(clock.get("breached_at")):
            out.append(at)
        elif completed and due and completed > due:
            out.append(due)
    return out


def trend(
    rows: Iterable[Summary],
    periods: list[Bucket],
    zone: ZoneInfo,
    keep: Callable[[Summary], bool] | None = None,
    subscribers: SubscriberBase | None = None,
) -> list[dict[str, Any]]:
    """Per bucket: the indicators of its cohort, and the breaches that fell in it."""
    starts = [b.start.replace(tzinfo=None) for b in periods]
    end = periods[-1].end.replace(tzinfo=None) if periods else None
    tallies = [Tally() for _ in periods]
    breaches = [0] * len(periods)

    def slot(at: datetime | None) -> int | None:
        if at is None or end is None or at >= end:
            return None
        index = bisect.bisect_right(starts, at) - 1
        return index if index >= 0 else None

    for row in rows:
        if keep is not None and not keep(row):
            continue
        if (index := slot(row.get("received_at"))) is not None:
            tallies[index].add(row)
        for at in breach_instants(row):
            if (index := slot(at)) is not None:
                breaches[index] += 1
    base = subscribers or SubscriberBase()
    return [
        {
            "period": bucket.label,
            "from": bucket.start.isoformat(),
            "to": bucket.end.isoformat(),
            **tally.figures(base.base(bucket.start, bucket.end, zone)),
            "breaches": count,
        }
        for bucket, tally, count in zip(periods, tallies, breaches, strict=True)
    ]
