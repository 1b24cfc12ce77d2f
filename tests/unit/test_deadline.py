"""Deadline arithmetic: start, warning fraction, pause/resume, breach, JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.complaints.domain import deadline as dl
from services.complaints.domain.calendar import AroundTheClock, BusinessCalendar, load_calendar
from services.complaints.domain.policy_files import default_policy_dir

H = timedelta(hours=1)
T0 = datetime(2026, 3, 2, 0, tzinfo=UTC)
CLOCK = AroundTheClock()
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return load_calendar(default_policy_dir() / "calendars" / "cn-workdays.toml")


def test_start_computes_due_and_warning_points() -> None:
    d = dl.start("acceptance", T0, 24 * H, 0.8, CLOCK)
    assert d.due_at == T0 + 24 * H
    assert d.warn_at == T0 + timedelta(hours=19.2)
    assert not dl.is_due_for_warning(d, T0 + 19 * H)
    assert dl.is_due_for_warning(d, T0 + timedelta(hours=19.2))
    assert not dl.is_due_for_breach(d, T0 + 23 * H)
    assert dl.is_due_for_breach(d, T0 + 24 * H)


def test_start_on_a_business_calendar(cn: BusinessCalendar) -> None:
    friday = datetime(2026, 3, 6, 17, tzinfo=SHANGHAI)
    d = dl.start("acceptance", friday, 24 * H, 0.5, cn)
    assert d.started_at.tzinfo is UTC
    assert d.due_at == datetime(2026, 3, 11, 14, tzinfo=SHANGHAI)
    assert d.warn_at == datetime(2026, 3, 10, 11, tzinfo=SHANGHAI)  # 1 + 9 + 2 h


def test_warned_and_breached_are_raised_once() -> None:
    d = dl.start("result", T0, 10 * H, 0.5, CLOCK)
    d = dl.mark_warned(d, T0 + 5 * H)
    assert not dl.is_due_for_warning(d, T0 + 6 * H)
    d = dl.mark_breached(d, T0 + 10 * H)
    assert not dl.is_due_for_breach(d, T0 + 11 * H)
    with pytest.raises(ValueError, match="already"):
        dl.mark_breached(d, T0 + 12 * H)


def test_no_warning_once_breached() -> None:
    d = dl.mark_breached(dl.start("result", T0, 10 * H, 0.5, CLOCK), T0 + 10 * H)
    assert not dl.is_due_for_warning(d, T0 + 11 * H)


def test_completed_in_time_is_never_due() -> None:
    d = dl.complete(dl.start("result", T0, 10 * H, 0.5, CLOCK), T0 + 10 * H)
    assert not dl.is_due_for_warning(d, T0 + 20 * H)
    assert not dl.is_due_for_breach(d, T0 + 20 * H)
    with pytest.raises(ValueError, match="completed"):
        dl.complete(d, T0 + 21 * H)


def test_completed_late_is_still_a_breach_the_monitor_missed() -> None:
    d = dl.complete(dl.start("result", T0, 10 * H, 0.5, CLOCK), T0 + 11 * H)
    assert dl.is_due_for_breach(d, T0 + 12 * H)


def test_pause_and_resume_move_due_by_the_paused_time() -> None:
    d = dl.start("investigation", T0, 10 * H, 0.8, CLOCK)
    d = dl.pause(d, T0 + 3 * H, CLOCK)
    assert d.consumed == 3 * H
    assert not dl.is_due_for_breach(d, T0 + 50 * H)
    assert not dl.is_due_for_warning(d, T0 + 50 * H)
    d = dl.resume(d, T0 + 5 * H, CLOCK)
    assert d.due_at == T0 + 12 * H
    assert d.warn_at == T0 + 10 * H
    # A second pause counts only the stretch since the resume.
    d = dl.resume(dl.pause(d, T0 + 6 * H, CLOCK), T0 + 7 * H, CLOCK)
    assert d.consumed == 4 * H
    assert d.due_at == T0 + 13 * H


def test_pause_on_business_hours(cn: BusinessCalendar) -> None:
    mon = datetime(2026, 3, 9, 9, tzinfo=SHANGHAI)
    d = dl.start("acceptance", mon, 24 * H, 0.8, cn)
    assert d.due_at == datetime(2026, 3, 11, 15, tzinfo=SHANGHAI)
    d = dl.pause(d, datetime(2026, 3, 9, 12, tzinfo=SHANGHAI), cn)  # 3 working hours used
    d = dl.resume(d, datetime(2026, 3, 10, 12, tzinfo=SHANGHAI), cn)  # 9 working hours paused
    assert d.due_at == datetime(2026, 3, 12, 15, tzinfo=SHANGHAI)
    assert cn.working_time(d.started_at, d.due_at) == 24 * H + 9 * H


def test_warning_point_passed_before_pause_stays_in_the_past() -> None:
    d = dl.start("acceptance", T0, 10 * H, 0.5, CLOCK)
    d = dl.resume(dl.pause(d, T0 + 6 * H, CLOCK), T0 + 20 * H, CLOCK)
    assert d.warn_at == T0 + 5 * H
    assert d.due_at == T0 + 24 * H
    assert dl.is_due_for_warning(d, T0 + 20 * H)


def test_overdue_when_paused_is_a_breach_and_stays_overdue() -> None:
    d = dl.pause(dl.start("acceptance", T0, 10 * H, 0.5, CLOCK), T0 + 12 * H, CLOCK)
    assert dl.is_due_for_breach(d, T0 + 13 * H)
    d = dl.resume(d, T0 + 20 * H, CLOCK)
    assert d.due_at == T0 + 10 * H


def test_illegal_pause_and_resume() -> None:
    d = dl.start("acceptance", T0, 10 * H, 0.5, CLOCK)
    with pytest.raises(ValueError, match="not paused"):
        dl.resume(d, T0 + H, CLOCK)
    with pytest.raises(ValueError, match="before"):
        dl.pause(d, T0 - H, CLOCK)
    paused = dl.pause(d, T0 + H, CLOCK)
    with pytest.raises(ValueError, match="already paused"):
        dl.pause(paused, T0 + 2 * H, CLOCK)
    with pytest.raises(ValueError, match="before the pause"):
        dl.resume(paused, T0, CLOCK)


@pytest.mark.parametrize(("allowed", "warning"), [(timedelta(0), 0.5), (H, 1.0), (H, 0.0)])
def test_start_validates(allowed: timedelta, warning: float) -> None:
    with pytest.raises(ValueError):
        dl.start("acceptance", T0, allowed, warning, CLOCK)


def test_round_trip_through_json() -> None:
    d = dl.start("repair", T0, timedelta(seconds=1.5), 0.8, CLOCK)
    d = dl.resume(dl.pause(d, T0 + timedelta(seconds=1), CLOCK), T0 + H, CLOCK)
    data = json.loads(json.dumps(d.to_dict()))
    assert data["allowed_seconds"] == 1.5
    assert data["started_at"] == "2026-03-02T00:00:00+00:00"
    assert data["completed_at"] is None
    assert dl.Deadline.from_dict(data) == d


def test_from_dict_reports_missing_fields() -> None:
    with pytest.raises(ValueError, match="due_at"):
        dl.Deadline.from_dict(
            {"milestone": "x", "started_at": T0.isoformat(), "allowed_seconds": 1}
        )
