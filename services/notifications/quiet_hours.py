"""Quiet hours: a local time window in which customers get no SMS.

Written like "22:00-08:00" in one time zone; a window whose end is before its
start runs over midnight. A message due inside the window waits for its end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in a time zone, when SMS to customers wait."""

    start: time
    end: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, zone: str) -> QuietHours:
        """Read "HH:MM-HH:MM" in the IANA zone `zone`."""
        if not re.fullmatch(r"\s*\d{2}:\d{2}\s*-\s*\d{2}:\d{2}\s*", spec):
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {spec!r}")
        try:
            start, end = (time.fromisoformat(part.strip()) for part in spec.split("-"))
        except ValueError as exc:
            raise ValueError(f"quiet hours must look like 22:00-08:00, not {spec!r}") from exc
        if start == end:
            raise ValueError("quiet hours must not start and end at the same time")
        return cls(start, end, ZoneInfo(zone))

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (timezone-aware) falls in the window."""
        local = moment.astimezone(self.zone).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, moment: datetime) -> datetime:
        """When the window that holds `moment` ends; `moment` itself if outside it."""
        if not self.contains(moment):
            return moment
        local = moment.astimezone(self.zone)
        end = datetime.combine(local.date(), self.end, tzinfo=self.zone)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), self.end, tzinfo=self.zone)
        return end
