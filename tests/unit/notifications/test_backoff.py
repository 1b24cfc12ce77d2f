"""Exponential backoff with jitter: growth, cap and spread."""

from __future__ import annotations

import random

from services.kernel.backoff import Backoff


def test_bounds_double_per_attempt_up_to_the_cap() -> None:
    backoff = Backoff(base=1.0, maximum=10.0)
    assert [backoff.bound(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_delay_stays_within_the_upper_half_of_the_bound() -> None:
    backoff = Backoff(base=2.0, maximum=60.0, rng=random.Random(7))
    for attempt in range(1, 12):
        bound = backoff.bound(attempt)
        for _ in range(50):
            assert bound / 2 <= backoff.delay(attempt) <= bound


def test_jitter_spreads_retries_of_messages_that_failed_together() -> None:
    backoff = Backoff(base=8.0, maximum=60.0, rng=random.Random(1))
    delays = {round(backoff.delay(3), 3) for _ in range(20)}
    assert len(delays) > 15


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert Backoff(base=1.0, maximum=5.0).bound(10_000) == 5.0
