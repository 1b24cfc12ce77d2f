"""The business clock: how much working time lies between two instants.

SLA deadlines count working time, not wall time. ``AroundTheClock`` is the
"24x7" calendar (plain arithmetic); ``BusinessCalendar`` counts only working
hours in a time zone, skipping public holidays and honouring make-up working
days (调休). All inputs must be timezone-aware; all results are in UTC.

Business calendar file (TOML)::

    name = "cn-workdays"              # optional, defaults to the file name
    timezone = "Asia/Shanghai"        # IANA zone; hours are local wall time
    makeup_hours = "monday"           # optional: whose hours make-up days use
    holidays = ["2026-01-01"]         # closed all day (TOML dates also accepted)
    makeup_workdays = ["2026-01-04"]  # normally closed days that are worked
    valid_through = "2026-12-31"      # optional: the last day the lists are known for;
                                      # default: 31 Dec of the last year with a holiday

Working days (``add_working_days``): on a business calendar ``P2D`` means two
working days ending at the same working time. Received Friday 3 April 2026
at 17:30 before the Qingming holiday (4-6 April): day one is Tuesday 7, day two
Wednesday 8, so the due time is Wednesday 17:30. A start outside working hours
counts from where the working time stands: Saturday noon is Friday's closing
time, so ``P1D`` from it ends at the next working day's closing time.

    [hours]                           # a missing day is closed
    monday = ["09:00", "18:00"]       # one interval ...
    tuesday = [["09:00", "12:00"], ["13:00", "18:00"]]  # ... or several
    # "24:00" may end an interval (open until midnight).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

AROUND_THE_CLOCK = "24x7"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ZERO = timedelta(0)
_DAY = timedelta(days=1)

# Working hours of one day: (start, end) offsets from local midnight, in wall-clock time.
Span = tuple[timedelta, timedelta]


class CalendarError(ValueError):
    """A business calendar is malformed or unusable."""


def as_utc(value: datetime, what: str = "datetime") -> datetime:
    """Return ``value`` in UTC; naive datetimes are refused (their instant is unknown)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _check_work(work: timedelta) -> None:
    if work < _ZERO:
        raise ValueError(f"working time must not be negative, got {work}")


@runtime_checkable
class Calendar(Protocol):
    """A clock that counts working time."""

    @property
    def name(self) -> str:
        """The name policies use to refer to this calendar."""
        ...

    def add(self, start: datetime, work: timedelta) -> datetime:
        """Return the instant (UTC) at which ``work`` of working time has elapsed from ``start``."""
        ...

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time between two instants; zero if ``end <= start``."""
        ...

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Return the instant ``days`` working days after ``start``, at the same working time."""
        ...

    def valid_through(self) -> date | None:
        """The last day the calendar's special days are known for (None: no end)."""
        ...


@dataclass(frozen=True)
class AroundTheClock:
    """The "24x7" calendar: every second is a working second."""

    name: str = AROUND_THE_CLOCK

    def add(self, start: datetime, work: timedelta) -> datetime:
        """Return ``start + work`` in UTC."""
        _check_work(work)
        # Converting first matters: adding to a zoned datetime is wall-clock arithmetic.
        return as_utc(start, "start") + work

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Return ``start`` plus ``days`` whole days (every day is a working day)."""
        return as_utc(start, "start") + days * _DAY

    def valid_through(self) -> date | None:
        """The last day the calendar is known for: None, it never runs out."""
        return None

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return ``end - start`` (never negative)."""
        return max(as_utc(end, "end") - as_utc(start, "start"), _ZERO)


@dataclass(frozen=True)
class BusinessCalendar:
    """Working hours per weekday in a time zone, with holidays and make-up working days.

    ``weekly`` holds seven tuples of spans, Monday first. A holiday is closed all
    day; a make-up working day gets the hours of weekday ``makeup_hours``
    (Monday by default). Each day is computed in local wall time and each
    interval converted to UTC separately, so DST changes shorten or lengthen
    the affected interval exactly as a wall clock would.
    """

    name: str
    timezone: ZoneInfo
    weekly: tuple[tuple[Span, ...], ...] = field(repr=False)
    holidays: frozenset[date] = field(default=frozenset(), repr=False)
    makeup_workdays: frozenset[date] = field(default=frozenset(), repr=False)
    makeup_hours: int = 0
    known_through: date | None = None

    def __post_init__(self) -> None:
        if len(self.weekly) != 7:
            raise CalendarError(f"calendar {self.name!r}: weekly hours need 7 days")
        # Without weekly hours, add() could never finish once the special days run out.
        if not any(self.weekly):
            raise CalendarError(f"calendar {self.name!r}: no working hours on any weekday")
        if not 0 <= self.makeup_hours < 7:
            raise CalendarError(f"calendar {self.name!r}: makeup_hours must be a weekday")
        for day_name, spans in zip(WEEKDAYS, self.weekly, strict=True):
            _check_spans(spans, f"calendar {self.name!r}: hours.{day_name}")
        if not self.weekly[self.makeup_hours] and self.makeup_workdays:
            raise CalendarError(
                f"calendar {self.name!r}: makeup_hours: {WEEKDAYS[self.makeup_hours]} has no hours"
            )
        both = self.holidays & self.makeup_workdays
        if both:
            raise CalendarError(
                f"calendar {self.name!r}: both holiday and make-up workday: {sorted(both)}"
            )

    def spans(self, day: date) -> tuple[Span, ...]:
        """Return the working hours of a local calendar day."""
        if day in self.holidays:
            return ()
        if day in self.makeup_workdays:
            return self.weekly[self.makeup_hours]
        return self.weekly[day.weekday()]

    def intervals(self, day: date) -> list[tuple[datetime, datetime]]:
        """Return the working intervals of a local day as UTC instants."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=self.timezone)
        result = []
        for begin, end in self.spans(day):
            # Same-tzinfo addition is wall-clock arithmetic: 09:00 stays 09:00 across DST.
            a, b = _wall_to_utc(midnight + begin), _wall_to_utc(midnight + end)
            if a < b:  # an interval inside a DST gap never happens on the wall clock
                result.append((a, b))
        return result

    def valid_through(self) -> date | None:
        """The last local day whose holidays are known (None: the calendar lists none)."""
        if self.known_through is not None:
            return self.known_through
        listed = self.holidays | self.makeup_workdays
        return date(max(listed).year, 12, 31) if listed else None

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Return the instant ``days`` working days after ``start``, at the same working time.

        The working time of ``start`` is how far its working day had gone (a
        start outside the hours stands where the last working day stopped); the
        result is that far into the ``days``-th following working day, or its
        closing time if that day is shorter.
        """
        if days < 0:
            raise ValueError(f"working days must not be negative, got {days}")
        cursor = as_utc(start, "start")
        if days == 0:
            return cursor
        day = cursor.astimezone(self.timezone).date()
        limit = len(self.holidays) + 8 * (days + 1)
        # The working day the start belongs to: the latest day opened at or before it.
        steps = 0
        while not (self.intervals(day) and self.intervals(day)[0][0] <= cursor):
            day -= _DAY
            steps += 1
            if steps > limit:
                raise CalendarError(f"calendar {self.name!r}: no working time before {start}")
        opened = self.intervals(day)
        offset = sum((min(b, cursor) - a for a, b in opened if a < cursor), _ZERO)
        found = 0
        steps = 0
        while found < days:
            day += _DAY
            steps += 1
            if steps > limit:
                raise CalendarError(f"calendar {self.name!r}: no working day after {day}")
            if self.intervals(day):
                found += 1
        target = self.intervals(day)
        length = sum((b - a for a, b in target), _ZERO)
        return self.add(target[0][0], min(offset, length))

    def add(self, start: datetime, work: timedelta) -> datetime:
        """Return the instant (UTC) at which ``work`` of working time has elapsed from ``start``.

        Walks day by day, so the cost is proportional to the number of calendar
        days spanned, not to the amount of time.
        """
        _check_work(work)
        cursor = as_utc(start, "start")
        if work == _ZERO:
            return cursor
        remaining = work
        day = cursor.astimezone(self.timezone).date()
        idle_days = 0
        # At most six closed weekdays in a row plus every listed holiday: beyond that
        # something is wrong (e.g. all hours lost to DST) and we would loop forever.
        idle_limit = len(self.holidays) + 8
        while True:
            worked = False
            for a, b in self.intervals(day):
                if b <= cursor:
                    continue
                a = max(a, cursor)
                if remaining <= b - a:
                    return a + remaining
                remaining -= b - a
                worked = True
            idle_days = 0 if worked else idle_days + 1
            if idle_days > idle_limit:
                raise CalendarError(f"calendar {self.name!r}: no working time after {day}")
            day += _DAY

    def working_time(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time between two instants; zero if ``end <= start``."""
        lo, hi = as_utc(start, "start"), as_utc(end, "end")
        total = _ZERO
        if hi <= lo:
            return total
        day = lo.astimezone(self.timezone).date()
        last = hi.astimezone(self.timezone).date()
        while day <= last:
            for a, b in self.intervals(day):
                overlap = min(b, hi) - max(a, lo)
                if overlap > _ZERO:
                    total += overlap
            day += _DAY
        return total


def _wall_to_utc(wall: datetime) -> datetime:
    """Return the UTC instant of a local wall time.

    A repeated wall time (clocks turned back) means its first occurrence. A wall
    time skipped by a jump forward means the jump itself: an interval starting
    at 02:30 on a day the clocks go 02:00 → 03:00 starts at 03:00.
    """
    first = wall.replace(fold=0).astimezone(UTC)
    second = wall.replace(fold=1).astimezone(UTC)
    if second >= first:
        return first
    # In a gap the two readings straddle the jump; zoneinfo transitions fall on whole
    # seconds, so bisecting the POSIX timestamp finds it exactly in a few steps.
    zone = wall.tzinfo
    after = first.astimezone(zone).utcoffset()
    lo, hi = int(second.timestamp()), int(first.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def _check_spans(spans: Sequence[Span], where: str) -> None:
    previous_end = _ZERO
    for begin, end in spans:
        if not _ZERO <= begin < end <= _DAY:
            raise CalendarError(f"{where}: interval must satisfy 00:00 <= start < end <= 24:00")
        if begin < previous_end:
            raise CalendarError(f"{where}: intervals must be in order and must not overlap")
        previous_end = end


def _parse_clock(text: Any, where: str) -> timedelta:
    if not isinstance(text, str):
        raise CalendarError(f"{where}: expected a time like '09:00', got {text!r}")
    hours, sep, minutes = text.partition(":")
    if not (sep and hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise CalendarError(f"{where}: expected a time like '09:00', got {text!r}")
    value = timedelta(hours=int(hours), minutes=int(minutes))
    if int(minutes) >= 60 or value > _DAY:
        raise CalendarError(f"{where}: not a time of day: {text!r}")
    return value


def _parse_day_hours(raw: Any, where: str) -> tuple[Span, ...]:
    if not isinstance(raw, list):
        raise CalendarError(f"{where}: expected [start, end] or a list of them")
    # A single ["09:00", "18:00"] pair is accepted as shorthand for [["09:00", "18:00"]].
    pairs = [raw] if raw and all(isinstance(item, str) for item in raw) else raw
    spans = []
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2:
            raise CalendarError(f"{where}: expected [start, end], got {pair!r}")
        spans.append((_parse_clock(pair[0], where), _parse_clock(pair[1], where)))
    spans_t = tuple(spans)
    _check_spans(spans_t, where)
    return spans_t


def _parse_dates(raw: Any, where: str) -> frozenset[date]:
    if not isinstance(raw, list):
        raise CalendarError(f"{where}: expected a list of dates")
    days = set()
    for item in raw:
        if isinstance(item, date) and not isinstance(item, datetime):
            days.add(item)
            continue
        try:
            days.add(date.fromisoformat(item))
        except (TypeError, ValueError):
            raise CalendarError(f"{where}: not a date (YYYY-MM-DD): {item!r}") from None
    return frozenset(days)


def _optional_date(raw: Any, where: str) -> date | None:
    if raw is None:
        return None
    days = _parse_dates([raw], where)
    return next(iter(days))


def _weekday(raw: Any, where: str) -> int:
    if raw not in WEEKDAYS:
        raise CalendarError(f"{where}: expected one of {', '.join(WEEKDAYS)}, got {raw!r}")
    return WEEKDAYS.index(raw)


_CALENDAR_KEYS = {
    "name",
    "timezone",
    "makeup_hours",
    "holidays",
    "makeup_workdays",
    "hours",
    "valid_through",
}


def load_calendar(path: Path) -> BusinessCalendar:
    """Load a business calendar from a TOML file (format in the module docstring)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CalendarError(f"{path}: cannot read calendar: {exc}") from exc
    unknown = sorted(set(data) - _CALENDAR_KEYS)
    if unknown:
        raise CalendarError(f"{path}: {unknown[0]}: unknown key")
    for key in ("timezone", "hours"):
        if key not in data:
            raise CalendarError(f"{path}: {key}: missing")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name or name == AROUND_THE_CLOCK:
        raise CalendarError(f"{path}: name: must be a non-empty string other than '24x7'")
    try:
        zone = ZoneInfo(data["timezone"])
    except (ZoneInfoNotFoundError, TypeError, ValueError):
        raise CalendarError(f"{path}: timezone: unknown time zone {data['timezone']!r}") from None
    hours = data["hours"]
    if not isinstance(hours, dict):
        raise CalendarError(f"{path}: hours: expected a table of weekdays")
    for day_name in hours:
        _weekday(day_name, f"{path}: hours.{day_name}")
    weekly = tuple(_parse_day_hours(hours.get(d, []), f"{path}: hours.{d}") for d in WEEKDAYS)
    try:
        return BusinessCalendar(
            name=name,
            timezone=zone,
            weekly=weekly,
            holidays=_parse_dates(data.get("holidays", []), f"{path}: holidays"),
            makeup_workdays=_parse_dates(
                data.get("makeup_workdays", []), f"{path}: makeup_workdays"
            ),
            makeup_hours=_weekday(data.get("makeup_hours", "monday"), f"{path}: makeup_hours"),
            known_through=_optional_date(data.get("valid_through"), f"{path}: valid_through"),
        )
    except CalendarError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise CalendarError(f"{path}: {exc}") from exc


def load_calendars(paths: Iterable[Path]) -> dict[str, Calendar]:
    """Load several calendar files, plus the built-in "24x7"; names must be unique."""
    calendars: dict[str, Calendar] = {AROUND_THE_CLOCK: AroundTheClock()}
    for path in sorted(paths):
        calendar = load_calendar(path)
        if calendar.name in calendars:
            raise CalendarError(f"{path}: name: duplicate calendar {calendar.name!r}")
        calendars[calendar.name] = calendar
    return calendars
