"""Quiet hours: windows over midnight, within a day, and in the configured zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notifications.quiet_hours import QuietHours

SHANGHAI = "Asia/Shanghai"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_window_over_midnight() -> None:
    quiet = QuietHours.parse("22:00-08:00", SHANGHAI)
    assert quiet.contains(at("2026-03-01T23:30:00+08:00"))
    assert quiet.contains(at("2026-03-01T07:59:00+08:00"))
    assert not quiet.contains(at("2026-03-01T08:00:00+08:00"))
    assert not quiet.contains(at("2026-03-01T21:59:00+08:00"))


def test_times_are_read_in_the_configured_zone() -> None:
    quiet = QuietHours.parse("22:00-08:00", SHANGHAI)
    # 15:00 UTC is 23:00 in Shanghai.
    assert quiet.contains(datetime(2026, 3, 1, 15, 0, tzinfo=UTC))
    assert not quiet.contains(datetime(2026, 3, 1, 3, 0, tzinfo=UTC))


def test_a_message_in_the_window_waits_for_its_end() -> None:
    quiet = QuietHours.parse("22:00-08:00", SHANGHAI)
    assert quiet.ends_after(at("2026-03-01T23:30:00+08:00")) == at("2026-03-02T08:00:00+08:00")
    assert quiet.ends_after(at("2026-03-02T06:00:00+08:00")) == at("2026-03-02T08:00:00+08:00")
    outside = at("2026-03-02T12:00:00+08:00")
    assert quiet.ends_after(outside) == outside


def test_window_within_one_day() -> None:
    quiet = QuietHours.parse("12:00-14:00", "UTC")
    assert quiet.contains(at("2026-03-01T13:00:00+00:00"))
    assert not quiet.contains(at("2026-03-01T14:00:00+00:00"))
    assert quiet.ends_after(at("2026-03-01T12:30:00+00:00")) == at("2026-03-01T14:00:00+00:00")


@pytest.mark.parametrize("spec", ["22-08", "nonsense", "10:00-10:00", "25:00-08:00"])
def test_malformed_windows_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        QuietHours.parse(spec, SHANGHAI)
