"""How much time a policy grants: ISO 8601 durations read as working time.

A duration with a day part on a business calendar means *working days*
(``P2D``: two working days, ending at the same working time), its time part
working hours. ``Allowance`` keeps the two apart; it is also a ``timedelta``
(days counted as 24 hours), which is exactly its meaning on "24x7".
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import isodate

from services.complaints.domain.calendar import Calendar

_DAYS_PER_YEAR = 366
_DAYS_PER_MONTH = 31
_WEEK_OR_DAYS = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?$")


class DurationError(ValueError):
    """A duration cannot be read or computed."""


class Allowance(timedelta):
    """A duration of ``working_days`` whole working days plus ``time`` of working hours."""

    working_days: int
    time: timedelta

    def __new__(cls, working_days: int, time: timedelta) -> Allowance:
        """Build it from its two parts."""
        value = super().__new__(cls, days=working_days, seconds=time.total_seconds())
        value.working_days = working_days
        value.time = time
        return value

    def __reduce__(self) -> Any:
        return (Allowance, (self.working_days, self.time))


def parse(text: Any, where: str, *, calendar_units: bool = False) -> timedelta:
    """Parse a positive ISO 8601 duration; years/months only with ``calendar_units``.

    A duration with days (``P2D``, ``P1DT4H``, ``P1W``) is an ``Allowance``; one
    of hours, minutes and seconds only is a plain ``timedelta``.
    """
    if not isinstance(text, str):
        raise DurationError(f"{where}: expected an ISO 8601 duration string, got {text!r}")
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError) as exc:
        raise DurationError(f"{where}: not an ISO 8601 duration: {text!r} ({exc})") from None
    if isinstance(value, isodate.Duration):
        if not calendar_units:
            raise DurationError(
                f"{where}: {text!r} uses years or months, which have no fixed length; "
                "use days or hours (e.g. P30D)"
            )
        days = float(value.years) * _DAYS_PER_YEAR + float(value.months) * _DAYS_PER_MONTH
        value = value.tdelta + timedelta(days=days)
    if value <= timedelta(0):
        raise DurationError(f"{where}: duration must be positive, got {text!r}")
    if calendar_units:
        return value
    date_part, _, time_part = text.partition("T")
    found = _WEEK_OR_DAYS.match(date_part)
    if found is None or not (found.group(1) or found.group(2)):
        return value
    days = int(found.group(1) or 0) * 7 + int(found.group(2) or 0)
    time = isodate.parse_duration("PT" + time_part) if time_part else timedelta(0)
    return Allowance(days, time)


def due(calendar: Calendar, start: datetime, allowed: timedelta) -> datetime:
    """The instant at which ``allowed`` has elapsed from ``start`` on ``calendar``."""
    if isinstance(allowed, Allowance):
        after_days = calendar.add_working_days(start, allowed.working_days)
        return calendar.add(after_days, allowed.time)
    return calendar.add(start, allowed)


def text(value: timedelta) -> str:
    """The duration as a policy writes it: ``P2D``, ``PT24H``, ``P1DT4H``."""
    days = value.working_days if isinstance(value, Allowance) else 0
    rest = value.time if isinstance(value, Allowance) else value
    seconds = rest.total_seconds()
    hours, remainder = divmod(int(seconds), 3600)
    minutes, secs = divmod(remainder, 60)
    fraction = seconds - int(seconds)
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    if secs or fraction:
        clock += f"{secs + fraction:g}S"
    out = "P" + (f"{days}D" if days else "")
    if clock:
        out += "T" + clock
    return out if out != "P" else "PT0S"
