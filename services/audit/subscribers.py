"""The subscriber base: how many subscribers the operator had, by month and region.

Read from a CSV file the operator keeps (`AUDIT_SUBSCRIBERS_FILE`) with the
header `month,region,subscribers`: `month` as `YYYY-MM`, `region` optional
(empty for a national figure). A month's base is the sum of its rows. The
complaint rate of a period is its complaints per million subscribers of the
average base over the calendar months the period touches; unknown when any
of those months is missing or the period is unbounded.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class SubscriberFileError(ValueError):
    """The subscriber base file is malformed."""


@dataclass(frozen=True)
class SubscriberBase:
    """Subscribers per month (`YYYY-MM`) and region (`""` for none)."""

    months: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None) -> SubscriberBase:
        """Read the CSV file; no file means no base (rates are then unknown)."""
        if path is None:
            return cls()
        months: dict[str, dict[str, int]] = {}
        with path.open(encoding="utf-8", newline="") as handle:
            for line, row in enumerate(csv.DictReader(handle), start=2):
                month = (row.get("month") or "").strip()
                region = (row.get("region") or "").strip()
                try:
                    count = int((row.get("subscribers") or "").strip())
                except ValueError:
                    count = -1
                if not _MONTH.match(month) or count < 0:
                    raise SubscriberFileError(f"{path}:{line}: need month YYYY-MM, subscribers ≥ 0")
                months.setdefault(month, {})[region] = count
        return cls(months)

    def month_total(self, month: str, region: str | None = None) -> int | None:
        """A month's subscribers, of one region or all together; None if unknown."""
        rows = self.months.get(month)
        if rows is None:
            return None
        if region is not None:
            return rows.get(region)
        return sum(rows.values())

    def base(self, start: datetime | None, end: datetime | None, zone: ZoneInfo) -> float | None:
        """The average base over the local calendar months `[start, end)` touches."""
        if start is None or end is None or end <= start or not self.months:
            return None
        totals = []
        for month in months_touched(start, end, zone):
            total = self.month_total(month)
            if total is None:
                return None
            totals.append(total)
        return sum(totals) / len(totals) if totals else None


def months_touched(start: datetime, end: datetime, zone: ZoneInfo) -> list[str]:
    """`YYYY-MM` of every local calendar month that `[start, end)` overlaps."""
    first = start.astimezone(zone).replace(day=1)
    last = (end - timedelta(microseconds=1)).astimezone(zone)
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out
