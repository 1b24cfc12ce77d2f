"""Deadline arithmetic for one SLA milestone: start, pause, resume, complete.

Pure values and functions: the aggregate records the results in its events
and the deadline monitor asks ``is_due_for_warning`` / ``is_due_for_breach``.
Durations are working time on a ``Calendar``; instants are stored in UTC.

A pause stops the clock: the working time consumed so far is banked in
``consumed`` and, on resume, the remainder is counted again from the resume
instant on the same calendar, so ``due_at`` moves by exactly the working time
spent paused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from services.complaints.domain import allowance
from services.complaints.domain.calendar import Calendar, as_utc

_ZERO = timedelta(0)


@dataclass(frozen=True)
class Deadline:
    """The clock of one milestone.

    ``allowed`` is the working time the policy grants and ``warning_at`` the
    fraction of it after which staff are warned. ``resumed_at`` marks the start
    of the current running stretch after a pause (None: running since
    ``started_at``); ``consumed`` is the working time used before it.
    """

    milestone: str
    started_at: datetime
    allowed: timedelta
    due_at: datetime
    warn_at: datetime
    warning_at: float
    completed_at: datetime | None = None
    warned_at: datetime | None = None
    breached_at: datetime | None = None
    paused_at: datetime | None = None
    resumed_at: datetime | None = None
    consumed: timedelta = _ZERO
    paused_for: timedelta = _ZERO  # wall-clock time spent paused, all pauses together

    @property
    def is_paused(self) -> bool:
        """True while the clock is stopped by a pause."""
        return self.paused_at is not None

    @property
    def is_completed(self) -> bool:
        """True once the milestone has been reached."""
        return self.completed_at is not None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-friendly form: ISO 8601 UTC strings and seconds."""
        return {
            "milestone": self.milestone,
            "started_at": _iso(self.started_at),
            "allowed_seconds": _seconds(self.allowed),
            "due_at": _iso(self.due_at),
            "warn_at": _iso(self.warn_at),
            "warning_at": self.warning_at,
            "completed_at": _iso(self.completed_at),
            "warned_at": _iso(self.warned_at),
            "breached_at": _iso(self.breached_at),
            "paused_at": _iso(self.paused_at),
            "resumed_at": _iso(self.resumed_at),
            "consumed_seconds": _seconds(self.consumed),
            "paused_seconds": _seconds(self.paused_for),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Deadline:
        """Rebuild a deadline from ``to_dict`` output; optional fields may be absent."""
        try:
            return cls(
                milestone=str(data["milestone"]),
                started_at=_instant(data["started_at"]),
                allowed=timedelta(seconds=data["allowed_seconds"]),
                due_at=_instant(data["due_at"]),
                warn_at=_instant(data["warn_at"]),
                warning_at=float(data["warning_at"]),
                completed_at=_optional_instant(data.get("completed_at")),
                warned_at=_optional_instant(data.get("warned_at")),
                breached_at=_optional_instant(data.get("breached_at")),
                paused_at=_optional_instant(data.get("paused_at")),
                resumed_at=_optional_instant(data.get("resumed_at")),
                consumed=timedelta(seconds=data.get("consumed_seconds", 0)),
                paused_for=timedelta(seconds=data.get("paused_seconds", 0)),
            )
        except KeyError as exc:
            raise ValueError(f"deadline: missing field {exc.args[0]!r}") from None


def start(
    milestone: str,
    started_at: datetime,
    allowed: timedelta,
    warning_at: float,
    calendar: Calendar,
) -> Deadline:
    """Start the clock of ``milestone`` at ``started_at`` with ``allowed`` working time.

    ``allowed`` may count working days (an ``Allowance``): the due time is then
    that many working days later at the same working time, and the clock holds
    the working time this amounts to, so pauses and warnings count alike.
    """
    if allowed <= _ZERO:
        raise ValueError(f"{milestone}: allowed time must be positive, got {allowed}")
    if not 0 < warning_at < 1:
        raise ValueError(f"{milestone}: warning_at must be 0 < x < 1, got {warning_at}")
    begin = as_utc(started_at, "started_at")
    due_at = allowance.due(calendar, begin, allowed)
    work = (
        calendar.working_time(begin, due_at)
        if isinstance(allowed, allowance.Allowance)
        else allowed
    )
    if work <= _ZERO:
        work = allowed  # ends where it starts on this calendar: keep the nominal length
    return Deadline(
        milestone=milestone,
        started_at=begin,
        allowed=timedelta(seconds=work.total_seconds()),
        due_at=due_at,
        warn_at=calendar.add(begin, work * warning_at),
        warning_at=warning_at,
    )


def start_until(
    milestone: str,
    started_at: datetime,
    due_at: datetime,
    warning_at: float,
    calendar: Calendar,
) -> Deadline:
    """Start a clock whose due time was set by someone else (an appeal centre's date).

    The allowed working time is what the calendar counts until `due_at`; the
    due time itself is kept exactly as given, even outside working hours.
    """
    begin = as_utc(started_at, "started_at")
    end = as_utc(due_at, "due_at")
    if end <= begin:
        raise ValueError(f"{milestone}: due time must be after the start")
    allowed = calendar.working_time(begin, end)
    if allowed <= _ZERO:
        # Due before the next working hour: all of it is the warning window's.
        return Deadline(milestone, begin, end - begin, end, begin, warning_at)
    return Deadline(
        milestone=milestone,
        started_at=begin,
        allowed=allowed,
        due_at=end,
        warn_at=min(calendar.add(begin, allowed * warning_at), end),
        warning_at=warning_at,
    )


def pause(deadline: Deadline, at: datetime, calendar: Calendar) -> Deadline:
    """Stop the clock at ``at``, banking the working time used since it last ran."""
    _require_open(deadline, "pause")
    if deadline.is_paused:
        raise ValueError(f"{deadline.milestone}: already paused")
    at = as_utc(at, "at")
    running_since = deadline.resumed_at or deadline.started_at
    if at < running_since:
        raise ValueError(f"{deadline.milestone}: cannot pause before {running_since.isoformat()}")
    return replace(
        deadline,
        paused_at=at,
        consumed=deadline.consumed + calendar.working_time(running_since, at),
    )


def resume(deadline: Deadline, at: datetime, calendar: Calendar) -> Deadline:
    """Restart the clock at ``at``; the remaining working time counts from there.

    A due or warning point already passed before the pause stays where it was,
    in the past: pausing must not undo a breach or a warning.
    """
    _require_open(deadline, "resume")
    if deadline.paused_at is None:
        raise ValueError(f"{deadline.milestone}: not paused")
    at = as_utc(at, "at")
    if at < deadline.paused_at:
        raise ValueError(f"{deadline.milestone}: cannot resume before the pause")
    used = deadline.consumed
    stood = deadline.paused_for + (at - deadline.paused_at)
    warn_work = deadline.allowed * deadline.warning_at
    return replace(
        deadline,
        paused_at=None,
        resumed_at=at,
        paused_for=stood,
        due_at=deadline.due_at
        if used >= deadline.allowed
        else calendar.add(at, deadline.allowed - used),
        warn_at=deadline.warn_at if used >= warn_work else calendar.add(at, warn_work - used),
    )


def paused_so_far(deadline: Deadline, now: datetime) -> timedelta:
    """Wall-clock time the clock has stood still, the pause under way included."""
    current = as_utc(now, "now") - deadline.paused_at if deadline.paused_at else _ZERO
    return deadline.paused_for + max(current, _ZERO)


def complete(deadline: Deadline, at: datetime) -> Deadline:
    """Record that the milestone was reached at ``at`` (paused or not)."""
    _require_open(deadline, "complete")
    return replace(deadline, completed_at=as_utc(at, "at"))


def mark_warned(deadline: Deadline, at: datetime) -> Deadline:
    """Record that the warning was raised (once per milestone)."""
    if deadline.warned_at is not None:
        raise ValueError(f"{deadline.milestone}: already warned")
    return replace(deadline, warned_at=as_utc(at, "at"))


def mark_breached(deadline: Deadline, at: datetime) -> Deadline:
    """Record that the breach was raised (once per milestone)."""
    if deadline.breached_at is not None:
        raise ValueError(f"{deadline.milestone}: already breached")
    return replace(deadline, breached_at=as_utc(at, "at"))


def is_due_for_warning(deadline: Deadline, now: datetime) -> bool:
    """True if a warning should be raised now.

    Never for a completed, paused, already warned or already breached
    deadline: a warning after the breach, or about finished work, is noise.
    """
    if deadline.is_completed or deadline.is_paused:
        return False
    if deadline.warned_at is not None or deadline.breached_at is not None:
        return False
    return as_utc(now, "now") >= deadline.warn_at


def is_due_for_breach(deadline: Deadline, now: datetime) -> bool:
    """True if a breach should be recorded now.

    A stopped clock (paused or completed) is judged at the instant it stopped:
    a milestone that was already overdue then is still a breach, even if the
    monitor only notices later; one stopped in time never is.
    """
    if deadline.breached_at is not None:
        return False
    stopped = deadline.completed_at or deadline.paused_at
    if stopped is not None:
        return stopped > deadline.due_at  # reaching the milestone exactly at due_at is on time
    return as_utc(now, "now") >= deadline.due_at


def _require_open(deadline: Deadline, action: str) -> None:
    if deadline.is_completed:
        raise ValueError(f"{deadline.milestone}: cannot {action}, already completed")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _seconds(value: timedelta) -> int | float:
    # Whole seconds stay integers in JSON; sub-second durations (e.g. PT1.5S) keep precision.
    seconds = value.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _instant(value: Any) -> datetime:
    return as_utc(datetime.fromisoformat(value), "deadline instant")


def _optional_instant(value: Any) -> datetime | None:
    return None if value is None else _instant(value)
