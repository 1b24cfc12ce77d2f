"""The business clock: working hours, holidays, make-up days, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.complaints.domain.calendar import (
    AroundTheClock,
    BusinessCalendar,
    Calendar,
    CalendarError,
    load_calendar,
)
from services.complaints.domain.policy_files import default_policy_dir

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A wall-clock instant in Shanghai."""
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return load_calendar(default_policy_dir() / "calendars" / "cn-workdays.toml")


def write(tmp_path: Path, text: str, name: str = "test-cal.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_both_calendars_satisfy_the_protocol(cn: BusinessCalendar) -> None:
    assert isinstance(cn, Calendar)
    assert isinstance(AroundTheClock(), Calendar)
    assert cn.name == "cn-workdays"


def test_around_the_clock_is_plain_arithmetic_in_utc() -> None:
    clock = AroundTheClock()
    start = datetime(2026, 3, 28, 12, tzinfo=BERLIN)  # the day before the DST change
    due = clock.add(start, 24 * H)
    assert due.tzinfo is UTC
    assert due - start == 24 * H  # not the wall-clock 12:00 next day, which is 23 h later
    assert clock.working_time(start, due) == 24 * H
    assert clock.working_time(due, start) == timedelta(0)


def test_naive_datetimes_and_negative_work_are_refused(cn: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cn.add(datetime(2026, 3, 6, 9), H)
    with pytest.raises(ValueError, match="negative"):
        AroundTheClock().add(sh(2026, 3, 6, 9), -H)


def test_24_working_hours_from_friday_afternoon(cn: BusinessCalendar) -> None:
    # 9 h a day: Fri 1 h, Mon 9 h, Tue 9 h, then 5 h on Wednesday.
    due = cn.add(sh(2026, 3, 6, 17), 24 * H)
    assert due == sh(2026, 3, 11, 14)
    assert due.tzinfo is UTC


def test_start_outside_hours_begins_at_next_opening(cn: BusinessCalendar) -> None:
    assert cn.add(sh(2026, 3, 7, 11), 2 * H) == sh(2026, 3, 9, 11)  # Saturday → Monday
    assert cn.add(sh(2026, 3, 9, 7), 2 * H) == sh(2026, 3, 9, 11)  # before opening


def test_ending_exactly_at_closing_time_stays_on_that_day(cn: BusinessCalendar) -> None:
    assert cn.add(sh(2026, 3, 9, 17), H) == sh(2026, 3, 9, 18)


def test_labour_day_holiday_is_skipped(cn: BusinessCalendar) -> None:
    # Thu 30 Apr 1 h; 1-5 May closed; Wed 6 and Thu 7 May 18 h; 5 h on Fri 8 May.
    assert cn.add(sh(2026, 4, 30, 17), 24 * H) == sh(2026, 5, 8, 14)


def test_national_day_holiday_is_skipped(cn: BusinessCalendar) -> None:
    assert cn.add(sh(2026, 9, 30, 17), 2 * H) == sh(2026, 10, 8, 10)


def test_makeup_working_saturday_is_worked(cn: BusinessCalendar) -> None:
    # Thu 7 May 1 h, Fri 8 May 9 h, then Saturday 9 May is a make-up working day.
    assert cn.add(sh(2026, 5, 7, 17), 11 * H) == sh(2026, 5, 9, 10)
    # An ordinary Saturday is not.
    assert cn.add(sh(2026, 5, 14, 17), 11 * H) == sh(2026, 5, 18, 10)


def test_makeup_working_sunday_after_new_year(cn: BusinessCalendar) -> None:
    assert cn.add(sh(2025, 12, 31, 17), 2 * H) == sh(2026, 1, 4, 10)


def test_spring_festival_week(cn: BusinessCalendar) -> None:
    # Sat 14 Feb is worked, then closed 15-23 Feb.
    assert cn.working_time(sh(2026, 2, 13, 9), sh(2026, 2, 25, 9)) == 27 * H


@pytest.mark.parametrize(
    ("start", "hours"),
    [
        ((2026, 3, 6, 17), 24),
        ((2026, 4, 30, 12, 30), 40),
        ((2026, 2, 13, 10), 100),
        ((2026, 9, 19, 3), 7.5),
    ],
)
def test_working_time_is_the_inverse_of_add(
    cn: BusinessCalendar, start: tuple[int, ...], hours: float
) -> None:
    begin = sh(*start)
    assert cn.working_time(begin, cn.add(begin, hours * H)) == hours * H


def test_working_time_counts_only_open_hours(cn: BusinessCalendar) -> None:
    assert cn.working_time(sh(2026, 3, 9, 8), sh(2026, 3, 9, 20)) == 9 * H
    assert cn.working_time(sh(2026, 3, 9, 20), sh(2026, 3, 9, 8)) == timedelta(0)


def test_a_year_of_work_is_computed_day_by_day(cn: BusinessCalendar) -> None:
    due = cn.add(sh(2026, 1, 5, 9), 2000 * H)  # ~222 working days; must not step by minutes
    assert cn.working_time(sh(2026, 1, 5, 9), due) == 2000 * H


def test_several_intervals_per_day(tmp_path: Path) -> None:
    cal = load_calendar(
        write(
            tmp_path,
            'timezone = "Asia/Shanghai"\n'
            '[hours]\nmonday = [["09:00", "12:00"], ["13:00", "18:00"]]\n',
        )
    )
    assert cal.name == "test-cal"  # defaults to the file name
    assert cal.add(sh(2026, 3, 9, 11), 2 * H) == sh(2026, 3, 9, 14)  # lunch is skipped
    assert cal.add(sh(2026, 3, 9, 17), 2 * H) == sh(2026, 3, 16, 10)  # only Mondays open


BERLIN_CAL = """
name = "berlin"
timezone = "Europe/Berlin"
[hours]
monday = ["09:00", "17:00"]
tuesday = ["09:00", "17:00"]
wednesday = ["09:00", "17:00"]
thursday = ["09:00", "17:00"]
friday = ["09:00", "17:00"]
sunday = ["01:00", "05:00"]
"""


def test_dst_change_in_a_european_zone(tmp_path: Path) -> None:
    cal = load_calendar(write(tmp_path, BERLIN_CAL))
    # Clocks jump 02:00 → 03:00 on Sunday 29 March 2026: 01:00-05:00 is 3 real hours.
    sunday = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert cal.working_time(sunday, sunday + timedelta(days=1)) == 3 * H
    assert cal.add(sunday, 3 * H) == datetime(2026, 3, 29, 3, tzinfo=UTC)  # 05:00 CEST
    # Friday 16:00 CET + 5 h: 1 h Fri, 3 h Sun, 1 h Mon → Monday 10:00 CEST = 08:00 UTC.
    due = cal.add(datetime(2026, 3, 27, 16, tzinfo=BERLIN), 5 * H)
    assert due == datetime(2026, 3, 30, 8, tzinfo=UTC)
    assert cal.working_time(datetime(2026, 3, 27, 16, tzinfo=BERLIN), due) == 5 * H


@pytest.mark.parametrize(
    ("hours", "worked"),
    [(["02:00", "02:30"], timedelta(0)), (["02:30", "03:30"], H / 2), (["01:30", "02:30"], H / 2)],
)
def test_wall_times_skipped_by_dst_map_to_the_jump(
    tmp_path: Path, hours: list[str], worked: timedelta
) -> None:
    text = f'timezone = "Europe/Berlin"\n[hours]\nsunday = {hours!r}\n'.replace("'", '"')
    cal = load_calendar(write(tmp_path, text))
    sunday = datetime(2026, 3, 29, tzinfo=BERLIN)
    assert cal.working_time(sunday, sunday + timedelta(days=1)) == worked


def test_dst_autumn_change_lengthens_the_interval(tmp_path: Path) -> None:
    cal = load_calendar(write(tmp_path, BERLIN_CAL))
    sunday = datetime(2026, 10, 25, tzinfo=BERLIN)  # 03:00 CEST → 02:00 CET
    assert cal.working_time(sunday, sunday + timedelta(days=1)) == 5 * H


def test_input_zone_does_not_matter(cn: BusinessCalendar) -> None:
    start = sh(2026, 3, 6, 17)
    assert cn.add(start.astimezone(BERLIN), 24 * H) == cn.add(start, 24 * H)


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ('timezone = "Asia/Shanghai"\n[hours]\n', "no working hours"),
        ('[hours]\nmonday = ["09:00", "18:00"]\n', "timezone"),
        ('timezone = "Mars/Olympus"\n[hours]\nmonday = ["09:00", "18:00"]\n', "timezone"),
        ('timezone = "UTC"\n[hours]\nmonday = ["18:00", "09:00"]\n', "hours.monday"),
        ('timezone = "UTC"\n[hours]\nmonday = ["9h", "18:00"]\n', "hours.monday"),
        ('timezone = "UTC"\n[hours]\nfunday = ["09:00", "18:00"]\n', "hours.funday"),
        (
            'timezone = "UTC"\n[hours]\nmonday = [["09:00", "13:00"], ["12:00", "18:00"]]\n',
            "overlap",
        ),
        (
            'timezone = "UTC"\nholidays = ["2026-13-01"]\n[hours]\nmonday = ["09:00", "18:00"]\n',
            "holidays",
        ),
        (
            'timezone = "UTC"\nholidays = ["2026-03-07"]\nmakeup_workdays = ["2026-03-07"]\n'
            '[hours]\nmonday = ["09:00", "18:00"]\n',
            "both holiday",
        ),
        ('timezone = "UTC"\ncolour = "red"\n[hours]\nmonday = ["09:00", "18:00"]\n', "colour"),
    ],
)
def test_bad_calendar_files_are_refused(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(CalendarError, match=field) as info:
        load_calendar(path)
    assert str(path) in str(info.value)


def test_open_until_midnight(tmp_path: Path) -> None:
    cal = load_calendar(
        write(tmp_path, 'timezone = "UTC"\n[hours]\nsaturday = ["20:00", "24:00"]\n')
    )
    start = datetime(2026, 3, 7, 23, tzinfo=UTC)
    assert cal.add(start, 2 * H) == datetime(2026, 3, 14, 21, tzinfo=UTC)
