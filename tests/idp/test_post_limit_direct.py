"""The sign-in POSTs' limit counted directly (issue 11, ``idp.ratelimit.post_limit``),
attacked: it must be Flask-Limiter's very counter (the same strategy, byte for byte the
same storage key, so a count begun on one path goes on on the other), refuse with the
decorator's 429 page (both languages, the same headers), keep the key on the client
address (a forged X-Forwarded-For changes nothing without a trusted proxy, S27), never
count a GET, and leave everything it does not handle (a failing store, headers, filters,
breach callbacks, application limits) to the decorator, unchanged (D4)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask, g, request
from flask.testing import FlaskClient
from flask_limiter.errors import RateLimitExceeded
from werkzeug.test import TestResponse

import idp.ratelimit
from idp.ratelimit import VIEWS_ONLY, limiter
from tests.at_once import at_once
from tests.helpers import create_account
from tests.support.catalogue import french
from tests.support.records import limiter_states
from tests.support.screens import csrf, sign_in

LIMITED = "You have made too many requests in a short time. Wait a few minutes and try again."
WRONG = {"username": "nobody", "password": "wrong password"}
DIRECT = idp.ratelimit.counts_directly
CHECKED = "test_limiter_checked"


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """``watch()``, once the app is made (its hooks are the limiter's own methods): the
    path of each request Flask-Limiter's decorator checks from then on."""
    def start() -> list[str]:
        seen: list[str] = []
        original = limiter._check_request_limit

        def spy(*args: Any, **kwargs: Any) -> None:
            if not g.get(CHECKED):  # the decorator retries itself after a store failure
                seen.append(request.path)
                setattr(g, CHECKED, True)
            original(*args, **kwargs)

        monkeypatch.setattr(limiter, "_check_request_limit", spy)
        return seen
    return start


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """``use(decorator=True)``: every POST through Flask-Limiter's decorator (as before
    this change); ``use(decorator=False)``: the direct count again, where it applies."""
    def switch(*, decorator: bool) -> None:
        monkeypatch.setattr(idp.ratelimit, "counts_directly",
                            (lambda _config: False) if decorator else DIRECT)
    return switch


@pytest.fixture
def limiter_state() -> Iterator[None]:
    """The limiter is one object for the whole run: what a test teaches it (its store
    dead, counts in its fallback memory) must not reach the next test."""
    yield
    limiter._storage_dead = False
    fallback = getattr(limiter, "_fallback_storage", None)
    if fallback is not None:
        fallback.reset()


def stored(limiter_url: str) -> dict[str, int]:
    """Every counter in the limiter's store, by its exact key."""
    if limiter_url.startswith("redis"):
        store = redis.Redis.from_url(limiter_url)
        return {key.decode(): int(store.get(key) or 0) for key in store.keys("*")}
    return dict(limiter.storage.storage)  # type: ignore[attr-defined]


def posts(client: FlaskClient, count: int, path: str = "/signin",
          form: dict[str, str] | None = None, **headers: str) -> list[TestResponse]:
    token = csrf(client, path)
    data = {"csrf_token": token, **(WRONG if form is None else form)}
    return [client.post(path, data=data, headers=headers) for _ in range(count)]


def _page(response: TestResponse) -> str:
    """The body without what differs between any two responses (a CSP nonce)."""
    return re.sub(r'nonce="[^"]*"', 'nonce=""', response.get_data(as_text=True))


def _headers(response: TestResponse) -> list[tuple[str, str]]:
    return sorted((name, re.sub(r"'nonce-[^']*'", "'nonce-'", value))
                  for name, value in response.headers if name != "Set-Cookie")


@pytest.mark.parametrize("language", ["en", "fr"])
def test_s27_the_direct_count_refuses_with_the_decorators_page(
        make_app, use, watch, language):
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    checks = watch()
    lean = posts(app.test_client(), 3, **{"Accept-Language": language})
    assert [a.status_code for a in lean] == [401, 401, 429]
    assert checks == [], "the decorator ran"
    limiter.reset()
    use(decorator=True)
    before = posts(app.test_client(), 3, **{"Accept-Language": language})
    assert [a.status_code for a in before] == [401, 401, 429] and len(checks) == 3
    assert _page(lean[2]) == _page(before[2])
    assert _headers(lean[2]) == _headers(before[2])
    assert lean[2].headers["Retry-After"] == "60"
    body = lean[2].get_data(as_text=True)
    assert f'lang="{language}"' in body
    wording = LIMITED if language == "en" else french(LIMITED)
    assert wording and wording in body
    if language == "fr":
        assert LIMITED not in body


def test_the_direct_count_leaves_no_limiter_state_behind(make_app):
    app = make_app()
    seen = limiter_states(app)
    posts(app.test_client(), 1)
    assert seen == [None, None], "the decorator's request state"  # the GET, the POST


def test_s27_both_paths_write_byte_for_byte_the_same_counter(make_app, limiter_url, use):
    app = make_app(rate_limit={"signin_per_ip": "5/minute;50/hour"})
    posts(app.test_client(), 1)
    direct = stored(limiter_url)
    limiter.reset()
    use(decorator=True)
    posts(app.test_client(), 1)
    decorated = stored(limiter_url)
    assert direct == decorated
    assert direct, "nothing was counted"
    assert all("127.0.0.1/auth.sign_in:ip.signin" in key for key in direct), direct
    assert len(direct) == 2, direct  # one counter per item, the hour's counted too


@pytest.mark.parametrize("decorator_first", [False, True],
                         ids=["direct-then-decorator", "decorator-then-direct"])
def test_s27_a_count_begun_on_one_path_goes_on_on_the_other(make_app, use, decorator_first):
    """A deploy, or a store outage, switching paths gives nobody a fresh allowance."""
    app = make_app(rate_limit={"signin_per_ip": "3/minute"})
    client = app.test_client()
    use(decorator=decorator_first)
    assert [a.status_code for a in posts(client, 2)] == [401, 401]
    use(decorator=not decorator_first)
    assert [a.status_code for a in posts(client, 2)] == [401, 429]


@pytest.mark.parametrize("decorator", [False, True], ids=["direct", "decorator"])
def test_s27_every_item_of_the_limit_string_holds(make_app, use, decorator):
    """``10/minute;3/hour``: the hour's item is breached first (Retry-After: its window);
    a count that read only the first item would let all ten through."""
    app = make_app(rate_limit={"signin_per_ip": "10/minute;3/hour"})
    use(decorator=decorator)
    answers = posts(app.test_client(), 5)
    assert [a.status_code for a in answers] == [401, 401, 401, 429, 429]
    assert answers[3].headers["Retry-After"] == "3600"


def test_s27_a_forged_forwarded_for_does_not_change_the_key(make_app, limiter_url, watch):
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    checks = watch()
    client = app.test_client()
    token = csrf(client, "/signin")
    answers = [client.post("/signin", data={"csrf_token": token, **WRONG},
                           headers={"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    keys = list(stored(limiter_url))
    assert keys and all("/127.0.0.1/" in f"/{key}" for key in keys), keys
    assert not any("203.0.113" in key for key in keys)
    assert checks == []


def test_s27_a_trusted_proxys_forwarded_for_is_the_key(make_app, limiter_url):
    """The control of the test above: behind one trusted proxy the forwarded address is
    the client's, and each has its own count."""
    app = make_app(rate_limit={"signin_per_ip": "2/minute", "trusted_proxies": 1})
    client = app.test_client()
    token = csrf(client, "/signin")
    answers = [client.post("/signin", data={"csrf_token": token, **WRONG},
                           headers={"X-Forwarded-For": f"203.0.113.{n}"}) for n in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert sum("203.0.113." in key for key in stored(limiter_url)) == 3


def test_s27_viewing_the_page_never_counts(make_app, limiter_url, watch):
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    checks = watch()
    client = app.test_client()
    for _ in range(5):
        assert client.get("/signin").status_code == 200
    assert stored(limiter_url) == {}
    assert [a.status_code for a in posts(client, 3)] == [401, 401, 429]
    assert client.get("/signin").status_code == 200
    assert checks == []


def test_s27_the_second_factor_post_is_counted_directly(make_app, watch):
    app = make_app(rate_limit={"second_factor_per_ip": "2/minute"})
    checks = watch()
    create_account(app, "alice")
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 303
    answers = posts(client, 3, "/2fa/challenge", {"code": "000000"})
    assert [LIMITED in a.get_data(as_text=True) for a in answers] == [False, False, True]
    assert answers[2].status_code == 429 and answers[2].headers["Retry-After"] == "60"
    assert checks == []
    for _ in range(3):
        assert client.get("/2fa/challenge").status_code == 200  # the page still shows


def test_s27_concurrent_posts_share_the_allowance_exactly(make_app):
    """Ten POSTs at once against ``4/minute``: four pass (to a wrong password's 401),
    six are refused; the store's count is atomic, as the decorator's."""
    app = make_app(rate_limit={"signin_per_ip": "4/minute"})
    clients = [app.test_client() for _ in range(10)]
    forms = [{"csrf_token": csrf(client, "/signin"), "username": f"nobody{n}",
              "password": "wrong password"} for n, client in enumerate(clients)]
    codes = at_once(10, lambda n: clients[n].post("/signin", data=forms[n]).status_code)
    assert sorted(codes) == [401] * 4 + [429] * 6


def _fail(*_args: Any, **_kwargs: Any) -> bool:
    raise redis.ConnectionError("the store is down")


@pytest.mark.parametrize("decorator", [False, True], ids=["direct", "decorator"])
def test_d4_a_store_failing_during_the_count_falls_back_to_memory(
        make_app, use, watch, monkeypatch, limiter_state, decorator):
    """Today's behaviour: the store marked dead, the request counted in memory, the
    limit still held, no 5xx; from then on the decorator counts (and checks the store's
    recovery)."""
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    checks = watch()
    use(decorator=decorator)
    monkeypatch.setattr(limiter._limiter, "hit", _fail)
    monkeypatch.setattr(limiter._storage, "check", lambda: False)  # and not back yet
    answers = posts(app.test_client(), 3)
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert limiter._storage_dead
    assert len(checks) == 3, "the decorator did not take over"


@pytest.mark.parametrize("decorator", [False, True], ids=["direct", "decorator"])
def test_d4_without_the_fallback_a_failing_store_fails_as_before(
        make_app, use, monkeypatch, limiter_state, decorator):
    """The direct count swallows nothing the decorator would not: with the fallback off
    the failure reaches the error page (503), on both paths alike."""
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    use(decorator=decorator)
    monkeypatch.setattr(limiter, "_in_memory_fallback_enabled", False)
    monkeypatch.setattr(limiter._limiter, "hit", _fail)
    assert [a.status_code for a in posts(app.test_client(), 2)] == [503, 503]
    assert not limiter._storage_dead


def test_d4_a_store_found_dead_is_left_to_the_decorator(make_app, watch, monkeypatch,
                                                         limiter_state):
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    checks = watch()
    limiter._storage_dead = True
    monkeypatch.setattr(limiter, "_Limiter__last_check_backend", 10**12)  # no recovery check
    assert [a.status_code for a in posts(app.test_client(), 3)] == [401, 401, 429]
    assert len(checks) == 3


def _headers_on(monkeypatch: pytest.MonkeyPatch, _app: Flask) -> None:
    monkeypatch.setattr(limiter, "_headers_enabled", True)


def _on_breach(monkeypatch: pytest.MonkeyPatch, _app: Flask) -> None:
    monkeypatch.setattr(limiter, "_on_breach", lambda _limit: None)


def _every_breach(monkeypatch: pytest.MonkeyPatch, _app: Flask) -> None:
    monkeypatch.setattr(limiter, "_fail_on_first_breach", False)


def _application_limit(_monkeypatch: pytest.MonkeyPatch, app: Flask) -> None:
    app.config[VIEWS_ONLY] = False


@pytest.mark.parametrize("configure", [_headers_on, _on_breach, _every_breach,
                                       _application_limit],
                         ids=["headers", "on-breach", "every-breach", "application-limit"])
def test_what_the_direct_count_does_not_handle_goes_to_the_decorator(
        make_app, watch, monkeypatch, configure):
    app = make_app(rate_limit={"signin_per_ip": "2/minute"})
    checks = watch()
    configure(monkeypatch, app)
    answers = posts(app.test_client(), 3)
    assert [a.status_code for a in answers] == [401, 401, 429]
    assert checks.count("/signin") == (4 if configure is _application_limit else 3)  # + GET
    if configure is _headers_on:
        assert answers[0].headers["X-RateLimit-Limit"] == "2"


def test_a_request_filter_still_exempts_the_post(make_app, watch, monkeypatch):
    app = make_app(rate_limit={"signin_per_ip": "1/minute"})
    checks = watch()
    monkeypatch.setattr(limiter, "_request_filters", [lambda: True])
    assert [a.status_code for a in posts(app.test_client(), 3)] == [401, 401, 401]
    assert len(checks) == 3


def test_a_limit_string_that_does_not_parse_fails_as_before(make_app, use):
    app = make_app()
    app.config["CLEF_RATE_LIMITS"] = {**app.config["CLEF_RATE_LIMITS"],
                                      "signin_per_ip": "often"}
    client = app.test_client()
    token = csrf(client, "/signin")
    direct = client.post("/signin", data={"csrf_token": token, **WRONG}).status_code
    use(decorator=True)
    assert client.post("/signin", data={"csrf_token": token, **WRONG}).status_code == direct


def test_a_breach_is_the_decorators_exception(make_app):
    """``idp.errors`` answers ``RateLimitExceeded``; the direct count raises exactly it,
    with the breached item (Retry-After is read from it)."""
    app = make_app(rate_limit={"signin_per_ip": "1/minute"})
    raised: list[BaseException] = []

    @app.errorhandler(RateLimitExceeded)
    def keep(error: RateLimitExceeded):
        raised.append(error)
        return "refused", 429

    posts(app.test_client(), 2)
    assert len(raised) == 1 and str(raised[0].limit.limit) == "1 per 1 minute"


def test_d4_redis_killed_after_a_direct_count_goes_on_in_memory(make_app, watch, limiter_state):
    """A real Redis, counted in directly, then killed: no 5xx, the decorator takes over
    with its in-memory count (which starts afresh, as it always has), the limit held."""
    from tests.faults.own_services import OwnRedis
    server = OwnRedis()
    try:
        app = make_app(rate_limit={"storage_url": server.url, "signin_per_ip": "3/minute"})
        checks = watch()
        client = app.test_client()
        assert [a.status_code for a in posts(client, 1)] == [401]
        assert checks == [] and redis.Redis.from_url(server.url).keys("*")
        server.kill()
        answers = posts(client, 4)
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert limiter._storage_dead and len(checks) == 4
    finally:
        server.kill()
