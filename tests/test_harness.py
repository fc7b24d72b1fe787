"""The test harness's own shortcuts build what the libraries would."""

from __future__ import annotations

from typing import Any

import limits.storage.memory
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from werkzeug.routing import IntegerConverter

from tests.support import rule_builders
from tests.support.limit_windows import clear_of_minute_edge, counts_to_a_minute_limit


def test_shared_url_builders_build_what_werkzeug_compiles_for_every_rule(app: Any) -> None:
    """Every rule of a test app, built through the shared builder and through one Werkzeug
    compiles for it afresh, with and without an unknown argument (the query string), gives
    the same URL."""
    values_for = {IntegerConverter: 7}
    rules = list(app.url_map.iter_rules())
    assert len(rules) > 40
    for rule in rules:
        values = {name: values_for.get(type(rule._converters[name]), "a b/é")
                  for name in rule.arguments if name not in (rule.defaults or {})}
        for append_unknown, extra in ((False, {}), (True, {"next": "/x?y=1"})):
            fresh = rule_builders._compile_builder(rule, append_unknown).__get__(rule, None)
            shared = rule._build_unknown if append_unknown else rule._build
            assert shared(**values, **extra) == fresh(**values, **extra), rule.rule


def test_a_second_app_reuses_the_compiled_builders(make_app: Any) -> None:
    """A second app's rules use the very builders of the first (what saves the time)."""
    first, second = make_app(), make_app()
    built = {(r.endpoint, r.rule): r._build.__func__ for r in first.url_map.iter_rules()}
    assert all(r._build.__func__ is built[r.endpoint, r.rule] for r in second.url_map.iter_rules())


class _Clock:
    """A stand-in for the ``time`` module as the limiter's memory storage reads it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


def test_a_third_request_passes_a_two_a_minute_limit_just_after_the_minute_turns(
        monkeypatch: Any) -> None:
    """Why counting tests keep clear of a minute's edge: the sliding-window counter rounds
    the last window's weighted count down, so two hits just before the minute turns let
    a third through just after it (and refuse it a second earlier)."""
    clock = _Clock(6_000_000 * 60 + 59.8)
    monkeypatch.setattr(limits.storage.memory, "time", clock)
    counter = SlidingWindowCounterRateLimiter(MemoryStorage())
    two = RateLimitItemPerMinute(2)
    assert counter.hit(two, "edge") and counter.hit(two, "edge")
    clock.now += 0.1
    assert not counter.hit(two, "edge")  # still the same minute
    clock.now += 0.2
    assert counter.hit(two, "edge")  # the next one: the two weigh just under 2, rounded to 1


def test_limit_overrides_that_a_test_counts_up_to() -> None:
    assert counts_to_a_minute_limit({"signin_per_ip": "2/minute"})
    assert counts_to_a_minute_limit({"storage_url": "memory://", "x": "5/minute;50/hour"})
    assert not counts_to_a_minute_limit({"signin_per_ip": "10000/minute"})
    assert not counts_to_a_minute_limit({"forgot_username_per_address": "3/hour;10/day"})
    assert not counts_to_a_minute_limit({"storage_url": "memory://", "trusted_proxies": 1})


def test_a_counting_test_waits_for_the_next_minute_only_near_the_edge() -> None:
    slept: list[float] = []
    assert clear_of_minute_edge(3.0, now=lambda: 120.0 + 30.0, sleep=slept.append) == 0.0
    assert clear_of_minute_edge(3.0, now=lambda: 120.0 + 57.5, sleep=slept.append) == 2.55
    assert slept == [2.55]
