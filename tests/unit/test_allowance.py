"""Policy durations: working days kept apart from working hours, and written back as read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.complaints.domain import allowance
from services.complaints.domain.allowance import Allowance, DurationError
from services.complaints.domain.calendar import AroundTheClock
from services.complaints.domain.policy_book import PolicyBook


@pytest.mark.parametrize(
    ("text", "days", "time"),
    [("P2D", 2, timedelta(0)), ("P1DT4H", 1, timedelta(hours=4)), ("P1W", 7, timedelta(0))],
)
def test_day_counts_are_working_days(text: str, days: int, time: timedelta) -> None:
    value = allowance.parse(text, "k")
    assert isinstance(value, Allowance)
    assert (value.working_days, value.time) == (days, time)
    assert value == timedelta(days=days) + time, "on 24x7 a day is 24 hours"
    assert allowance.text(value) == (text if text != "P1W" else "P7D")


def test_hours_stay_hours() -> None:
    value = allowance.parse("PT48H", "k")
    assert not isinstance(value, Allowance)
    assert allowance.text(value) == "PT48H"
    assert allowance.text(allowance.parse("PT1.5S", "k")) == "PT1.5S"


@pytest.mark.parametrize("text", ["P1M", "PT0S", "2 days", 5])
def test_unusable_durations_name_their_key(text: object) -> None:
    with pytest.raises(DurationError, match=r"^milestones\.x: "):
        allowance.parse(text, "milestones.x")


def test_working_days_on_the_business_calendar() -> None:
    cn = PolicyBook.default().calendar("cn-workdays")
    two = Allowance(2, timedelta(0))
    start = datetime.fromisoformat("2026-09-30T17:00:00+08:00")  # National Day follows
    assert allowance.due(cn, start, two) == datetime.fromisoformat("2026-10-09T17:00:00+08:00")
    plus = Allowance(1, timedelta(hours=2))
    friday = datetime.fromisoformat("2026-03-06T17:00:00+08:00")
    # Monday 17:00, then two working hours: Tuesday 10:00.
    assert allowance.due(cn, friday, plus) == datetime.fromisoformat("2026-03-10T10:00:00+08:00")
    t0 = datetime(2026, 3, 6, 9, tzinfo=UTC)
    assert allowance.due(AroundTheClock(), t0, two) == t0 + timedelta(days=2)
