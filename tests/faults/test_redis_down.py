"""Redis down (issue 9, faults; D4, S27): every per-address limiter goes on enforcing
its limit, counted in the process's memory, so none fails open to "unlimited" and none
fails closed into an outage; nothing answers 5xx; the sign-in lockout, kept in the
database, keeps locking; and when Redis is back the shared count is used again. Each
test runs a redis-server of its own and kills it (tests.faults.own_services)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from idp.ratelimit import limiter
from tests.faults.own_services import OwnRedis
from tests.helpers import GOOD_PASSWORD, create_account, csrf, sign_in


@pytest.fixture
def own_redis() -> Iterator[OwnRedis]:
    server = OwnRedis()
    try:
        yield server
    finally:
        server.kill()
        # The limiter is one object for every app of the test run; what it learnt here
        # (Redis dead, counts in its memory) must not reach the next test. Flask-Limiter
        # has no public reset for either, hence its private attributes.
        limiter._storage_dead = False
        fallback = getattr(limiter, "_fallback_storage", None)
        if fallback is not None:
            fallback.reset()


@pytest.fixture
def redis_app(make_app: Callable[..., Flask], own_redis: OwnRedis) -> Callable[..., Flask]:
    def build(**limits: str) -> Flask:
        return make_app(rate_limit={"storage_url": own_redis.url, **limits})

    return build


# (setting, path, form) for every limiter; the CSRF token is added per request.
LIMITERS: list[tuple[str, str, dict[str, str]]] = [
    ("signin_per_ip", "/signin", {"username": "nobody", "password": "wrong password"}),
    ("register_per_ip", "/register", {"username": "x"}),
    ("email_code_per_ip", "/register/email/resend", {}),
    ("second_factor_per_ip", "/2fa/challenge", {"code": "000000"}),
    ("token_per_ip", "/token", {"grant_type": "authorization_code", "code": "nothing"}),
    ("forgot_username_per_ip", "/forgot-username", {"email": "not an address"}),
    ("forgot_username_per_address", "/forgot-username", {"email": "someone@example.org"}),
    ("forgot_password_per_ip", "/forgot-password", {"username": "nobody"}),
]


# Limits checked only once the password step is passed (the decorator sits inside it).
AFTER_PASSWORD = {"/register/email/resend", "/2fa/challenge"}


LIMITED = "You have made too many requests in a short time"


def _post_three(app: Flask, path: str, form: dict[str, Any]) -> list[tuple[int, bool]]:
    """Three posts; for each, its status and whether the limiter refused it (its page,
    not a view's own 429 such as "a code was sent a moment ago")."""
    client = app.test_client()
    if path in AFTER_PASSWORD:
        create_account(app, "alice", email_address="alice@example.org")
        assert sign_in(client, "alice").status_code == 303
    token = csrf(client, "/signin")
    answers = [client.post(path, data={"csrf_token": token, **form}) for _ in range(3)]
    return [(a.status_code, LIMITED in a.get_data(as_text=True)) for a in answers]


@pytest.mark.parametrize(("setting", "path", "form"), LIMITERS, ids=[s for s, _p, _f in LIMITERS])
def test_every_limiter_still_limits_with_redis_down_D4_S27(redis_app, own_redis, setting, path,
                                                           form):
    app = redis_app(**{setting: "2/minute"})
    own_redis.kill()
    answers = _post_three(app, path, form)
    assert all(status < 500 for status, _limited in answers), answers
    assert [limited for _status, limited in answers] == [False, False, True], answers
    assert answers[2][0] == 429


def test_sign_in_and_its_lockout_work_with_redis_down_D4(redis_app, own_redis):
    app = redis_app(signin_per_ip="1000/minute")
    create_account(app, "alice")
    own_redis.kill()
    assert sign_in(app.test_client(), "alice").status_code == 303  # the password step passes
    client = app.test_client()
    threshold = app.extensions["clef"].settings.lockout.threshold
    for _ in range(threshold):
        assert sign_in(client, "alice", "not the password").status_code == 401
    locked = sign_in(client, "alice", GOOD_PASSWORD)
    assert locked.status_code == 429 and "Too many attempts" in locked.get_data(as_text=True)


def test_the_shared_count_is_used_again_once_redis_is_back_S27(redis_app, own_redis, monkeypatch):
    app = redis_app(forgot_password_per_ip="5/minute")
    own_redis.kill()
    assert not _post_three(app, "/forgot-password", {"username": "nobody"})[-1][1]
    own_redis.start()
    # Flask-Limiter asks Redis again after a growing wait; make the wait over now.
    monkeypatch.setattr(limiter, "_Limiter__last_check_backend", 0)
    answers = _post_three(app, "/forgot-password", {"username": "nobody"})
    assert not any(limited for _status, limited in answers), answers  # counted afresh in Redis
    keys = redis.Redis.from_url(own_redis.url).keys("*")
    assert keys, "nothing was counted in Redis after it came back"
