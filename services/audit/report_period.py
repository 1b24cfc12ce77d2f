"""The period of the scheduled team report: an ISO 8601 duration on the operator's calendar.

`P1D`, `P1W` and `P1M` are the local day, ISO week (from Monday) and month of
the operator's zone; `PTnH`, `PTnM` and `PTnS` are slices of the local day
(the length must divide a day evenly), for operators who want more often and
for tests. A report covers the last period that has ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CALENDAR = {"D": "day", "W": "week", "M": "month"}
UNITS = {"H": 3600, "M": 60, "S": 1}
DAY = 86_400
PATTERN = re.compile(r"^P1([DWM])$|^PT([1-9][0-9]{0,4})([HMS])$")


@dataclass(frozen=True)
class Span:
    """One period: `[start, end)` in local time, with a label for people."""

    start: datetime
    end: datetime
    label: str

    @property
    def key(self) -> str:
        """A stable name of the period: its local start."""
        return self.start.isoformat()


@dataclass(frozen=True)
class ReportPeriod:
    """How often the team report goes out."""

    text: str
    calendar: str | None = None
    seconds: int = 0

    @classmethod
    def parse(cls, text: str) -> ReportPeriod:
        """`P1D`, `P1W`, `P1M`, or `PTnH` / `PTnM` / `PTnS` dividing a day; else ValueError."""
        found = PATTERN.match(text.strip().upper())
        if found is None:
            raise ValueError(f"report period {text!r}: use P1D, P1W, P1M or PTnH/PTnM/PTnS")
        if found.group(1):
            return cls(text, calendar=CALENDAR[found.group(1)])
        seconds = int(found.group(2)) * UNITS[found.group(3)]
        if seconds > DAY or DAY % seconds:
            raise ValueError(f"report period {text!r}: a part of a day must divide it evenly")
        return cls(text, seconds=seconds)

    @property
    def approximate_seconds(self) -> int:
        """About how long a period lasts (for how often to look)."""
        return {"day": DAY, "week": 7 * DAY, "month": 28 * DAY}.get(self.calendar or "", 0) or (
            self.seconds
        )

    def containing(self, moment: datetime, zone: ZoneInfo) -> Span:
        """The period `moment` falls in."""
        local = moment.astimezone(zone)
        today = local.date()
        if self.calendar == "day":
            return self._days(today, today + timedelta(days=1), zone, today.isoformat())
        if self.calendar == "week":
            monday = today - timedelta(days=today.weekday())
            year, week, _ = monday.isocalendar()
            return self._days(monday, monday + timedelta(days=7), zone, f"{year}-W{week:02d}")
        if self.calendar == "month":
            first = today.replace(day=1)
            following = (first + timedelta(days=32)).replace(day=1)
            return self._days(first, following, zone, f"{first:%Y-%m}")
        midnight = datetime.combine(today, time(), zone)
        # Whole seconds since local midnight: the slice is fixed by the wall clock.
        elapsed = int((local.replace(tzinfo=None) - midnight.replace(tzinfo=None)).total_seconds())
        offset = elapsed - elapsed % self.seconds
        start = midnight.replace(tzinfo=None) + timedelta(seconds=offset)
        end = start + timedelta(seconds=self.seconds)
        label = f"{start:%Y-%m-%d %H:%M:%S}–{end:%H:%M:%S}"
        return Span(start.replace(tzinfo=zone), end.replace(tzinfo=zone), label)

    def last_ended(self, now: datetime, zone: ZoneInfo) -> Span:
        """The latest period that has ended by `now`."""
        current = self.containing(now, zone)
        return self.containing(current.start - timedelta(microseconds=1), zone)

    @staticmethod
    def _days(first: date, after: date, zone: ZoneInfo, label: str) -> Span:
        return Span(
            datetime.combine(first, time(), zone), datetime.combine(after, time(), zone), label
        )
