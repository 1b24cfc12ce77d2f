"""Per-token rate limiting: a token that floods a service gets 429 and `Retry-After`.

A token bucket per bearer token, in the process's memory: each replica
limits on its own, which bounds the damage one stolen or runaway token can
do without a shared store on the request path.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time

from services.kernel.problems import Problem


class RateLimiter:
    """Token buckets keyed by the hash of the bearer token."""

    def __init__(self, per_second: float, burst: int, max_buckets: int = 100_000) -> None:
        self.per_second = per_second
        self.burst = burst
        self.max_buckets = max_buckets
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, token: str) -> None:
        """Take one request from the token's bucket, or raise a 429 problem."""
        if self.per_second <= 0:
            return
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) >= self.max_buckets and key not in self._buckets:
                self._buckets.clear()  # Bounded memory: forgetting buckets only forgives.
            level, last = self._buckets.get(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.per_second)
            if level < 1.0:
                self._buckets[key] = (level, now)
                wait = math.ceil((1.0 - level) / self.per_second)
                raise Problem(
                    429,
                    "Too Many Requests",
                    "This token sent too many requests; slow down.",
                    headers={"Retry-After": str(max(wait, 1))},
                )
            self._buckets[key] = (level - 1.0, now)
