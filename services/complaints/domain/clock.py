"""Time as the domain sees it: injectable, so tests need not sleep for hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time, timezone-aware."""

    def now(self) -> datetime:
        """The current instant."""
        ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)


class ShiftedClock:
    """The real time moved by an adjustable offset: a test can jump forward."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def advance(self, delta: timedelta) -> None:
        """Jump forward by `delta`."""
        self.offset += delta

    def now(self) -> datetime:
        """The current instant, shifted."""
        return datetime.now(UTC) + self.offset
