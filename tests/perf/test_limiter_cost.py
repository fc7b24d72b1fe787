"""The rate limits cost little per request (issue 11) and still hold (D4, S27).

The in-memory store started a timer thread on nearly every limited request and the
moving window read each window a second time for ``X-RateLimit`` headers; now a sweep
runs inline once a second, the sliding-window counter is one store call per limit, and
only a refused request is told when to retry; the sign-in POSTs' limit is counted
directly on the limiter's strategy, without Flask-Limiter's per-request machinery."""

from __future__ import annotations

import cProfile
import pstats
import threading

import pytest
from limits.storage import memory

import idp.ratelimit
from idp.ratelimit import SweptMemoryStorage, configured, post_limit

DIRECT = idp.ratelimit.counts_directly


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


# Python calls of a whole POST to a view limited as the sign-in POSTs are
# (idp.ratelimit.post_limit, the default "30/minute;300/hour": two items, two store calls
# either way) on the in-memory store, the view itself answering at once: through
# Flask-Limiter's decorator (its resolution of the view's limits, its request state, its
# after-request hook and teardown) as before, and counted directly on its strategy.
# Measured in the app's WSGI callable: 895 -> 561; the budget keeps a small margin. (The
# sign-in steps themselves, with a session and the real views:
# tests/perf/test_step_calls.py, -397 and -396.)
DIRECT_BUDGET = 600


def _post_calls(app, monkeypatch, *, decorator: bool) -> int:
    monkeypatch.setattr(idp.ratelimit, "counts_directly",
                        (lambda _config: False) if decorator else DIRECT)
    client = app.test_client()
    assert client.post("/limited-probe").status_code == 200  # warm
    profile = cProfile.Profile()
    inner = app.wsgi_app

    def counted(environ, start_response):  # the app's WSGI callable only
        profile.enable()
        try:
            return list(inner(environ, start_response))
        finally:
            profile.disable()

    monkeypatch.setattr(app, "wsgi_app", counted)
    try:
        assert client.post("/limited-probe").status_code == 200
    finally:
        monkeypatch.setattr(app, "wsgi_app", inner)
    return int(pstats.Stats(profile).total_calls)  # type: ignore[attr-defined]


def test_a_limited_post_is_counted_directly_at_a_fraction_of_the_cost(
        make_app, limiter_url, monkeypatch):
    if limiter_url != "memory://":
        pytest.skip("the in-memory store only (Redis's client calls vary with its state)")
    app = make_app()
    app.config["WTF_CSRF_ENABLED"] = False

    def probe() -> str:
        return "the view"

    limited = post_limit(configured("signin_per_ip"), scope="ip.probe")(probe)
    app.add_url_rule("/limited-probe", "probe", limited, methods=["POST"])
    direct = _post_calls(app, monkeypatch, decorator=False)
    decorated = _post_calls(app, monkeypatch, decorator=True)
    print({"direct": direct, "decorator": decorated})
    assert direct <= DIRECT_BUDGET, direct
    assert decorated - direct > 250, (decorated, direct)  # the cut itself
