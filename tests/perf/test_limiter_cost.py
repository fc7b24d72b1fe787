"""The rate limits cost little per request (issue 11) and still hold (D4, S27).

The in-memory store started a timer thread on nearly every limited request and the
moving window read each window a second time for ``X-RateLimit`` headers; now a sweep
runs inline once a second, the sliding-window counter is one store call per limit, and
only a refused request is told when to retry."""

from __future__ import annotations

import threading

import pytest
from limits.storage import memory

from idp.ratelimit import SweptMemoryStorage


def test_limited_requests_start_no_thread(make_app, limiter_url, monkeypatch):
    if limiter_url != "memory://":
        pytest.skip("the in-memory store only")
    app = make_app(rate_limit={"token_per_ip": "100/minute"})
    made: list[object] = []

    class CountedTimer(threading.Timer):
        def __init__(self, *args: object, **kwargs: object) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(memory.threading, "Timer", CountedTimer)
    client = app.test_client()
    bogus = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": "http://x/cb"}
    for _ in range(20):
        assert client.post("/token", data=bogus).status_code == 401
    assert made == [], "a timer thread per request"


def test_the_swept_store_drops_expired_keys(monkeypatch):
    """Memory stays bounded without the timer: expired counters go at the next sweep."""
    store = SweptMemoryStorage()
    store.incr("ip:1", expiry=1)
    assert store.get("ip:1") == 1
    clock = [memory.time.time() + 5]
    monkeypatch.setattr(memory.time, "time", lambda: clock[0])
    store.next_sweep = 0.0  # the second has passed
    store.incr("ip:2", expiry=60)
    assert "ip:1" not in store.storage and store.get("ip:2") == 1


def test_s27_a_refused_request_says_when_to_retry(make_app):
    app = make_app(rate_limit={"token_per_ip": "3/minute"})
    client = app.test_client()
    bogus = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": "http://x/cb"}
    answers = [client.post("/token", data=bogus) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [401] * 3
    refused = answers[3]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert not [name for name, _ in answers[0].headers if name.startswith("X-RateLimit")]
