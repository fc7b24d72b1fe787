"""Keeps a test that counts up to a small per-minute limit inside one limiter window.

The limiter's sliding-window counter (``idp.ratelimit``, the ``limits`` library) keeps
its windows on the epoch's minutes and rounds the last window's weighted count down. Two
requests just before a minute turns fill a "2/minute" limit, and a third just after it
is let through: the two weigh 1.99, rounded down to 1. A test that counts to such a limit
in a few hundred milliseconds therefore fails on the rare run that straddles that instant
(seen once in ``make test``). The service behaves as the strategy documents; the tests
wait, when fewer than ``margin`` seconds remain of the current minute, for the next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from limits import RateLimitItemPerMinute, parse_many

# The time a counting test may take after it starts counting (an app test: well under a
# second; one through real servers: a few seconds).
MARGIN_SECONDS = 3.0
# A limit this large is the tests' way of saying "no limit": nothing counts up to it.
COUNTED_BELOW = 1000


def counts_to_a_minute_limit(settings: Mapping[str, Any]) -> bool:
    """Whether ``[rate_limit]`` overrides hold a per-minute limit a test may count up to."""
    for name, value in settings.items():
        if name == "storage_url" or not isinstance(value, str):
            continue
        for item in parse_many(value):
            if isinstance(item, RateLimitItemPerMinute) and item.amount < COUNTED_BELOW:
                return True
    return False


def clear_of_minute_edge(margin: float = MARGIN_SECONDS, now: Callable[[], float] = time.time,
                         sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait for the next minute when fewer than ``margin`` seconds remain of this one;
    returns the seconds waited."""
    left = 60.0 - now() % 60.0
    if left >= margin:
        return 0.0
    waited = left + 0.05
    sleep(waited)
    return waited
