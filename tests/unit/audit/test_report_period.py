"""The team report's period: ISO 8601 durations on the operator's calendar."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.audit.report_period import ReportPeriod

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Wednesday 2026-03-04 00:30 in Shanghai, still Tuesday in UTC.
NOW = datetime(2026, 3, 3, 16, 30, tzinfo=ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("P1D", "2026-03-03T00:00:00+08:00", "2026-03-04T00:00:00+08:00", "2026-03-03"),
        ("P1W", "2026-02-23T00:00:00+08:00", "2026-03-02T00:00:00+08:00", "2026-W09"),
        ("P1M", "2026-02-01T00:00:00+08:00", "2026-03-01T00:00:00+08:00", "2026-02"),
        (
            "PT1H",
            "2026-03-03T23:00:00+08:00",
            "2026-03-04T00:00:00+08:00",
            "2026-03-03 23:00:00–00:00:00",
        ),
        (
            "PT10M",
            "2026-03-04T00:20:00+08:00",
            "2026-03-04T00:30:00+08:00",
            "2026-03-04 00:20:00–00:30:00",
        ),
    ],
)
def test_the_last_period_ended_is_local(text: str, start: str, end: str, label: str) -> None:
    span = ReportPeriod.parse(text).last_ended(NOW, SHANGHAI)
    assert (span.start.isoformat(), span.end.isoformat(), span.label) == (start, end, label)


@pytest.mark.parametrize("text", ["P2D", "P1Y", "PT7M", "PT0S", "weekly", "PT25H", ""])
def test_a_period_that_is_not_a_calendar_unit_or_a_part_of_a_day_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        ReportPeriod.parse(text)
