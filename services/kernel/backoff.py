"""Exponential backoff with jitter: when a failed attempt is tried again.

Used by the dispatcher (a failed message) and the feed consumer (the feed
service unreachable).

Full jitter (a uniform delay between zero and the exponential bound) spreads
retries of many attempts that failed together, e.g. while an SMTP server was
down, so they do not all return at the same instant.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Delays after the n-th failed attempt: up to base·2^(n-1), capped at `maximum`."""

    base: float
    maximum: float
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def bound(self, attempt: int) -> float:
        """The largest delay after failed attempt number `attempt` (1-based)."""
        exponent = min(max(attempt - 1, 0), 62)
        return float(min(self.maximum, self.base * (2**exponent)))

    def delay(self, attempt: int) -> float:
        """A jittered delay after failed attempt number `attempt`: in [bound/2, bound]."""
        # Half fixed, half random: retries still spread out, yet never come back at once.
        bound = self.bound(attempt)
        return bound / 2 + self.rng.uniform(0, bound / 2)
