"""The token endpoint's limit counted by one direct call to the limiter's strategy
(issue 11, ``idp.oidc.token_limit.limited``), attacked: it must be the decorator's very
counter (same store, key and scope, so requests counted either way add up and a deploy
or a store outage switching paths gives nobody a fresh budget), refuse with 429 and
Retry-After, count per portal and per address as before, and leave a dead store to the
decorator's in-memory fallback (tests/faults/test_redis_down.py kills Redis)."""

from __future__ import annotations

import pytest

from idp.oidc import token_limit
from idp.ratelimit import limiter
from tests.oidc.conftest import CALLBACK
from tests.oidc.rp import RelyingParty, register_client
from tests.support.records import limiter_states

BOGUS = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": CALLBACK}


def _portal(app) -> RelyingParty:
    client_id, secret = register_client(app, "--name", "Portal", "--redirect-uri", CALLBACK)
    return RelyingParty(app, client_id, secret, CALLBACK)


SHORTCUT = token_limit._shortcut_applies


@pytest.fixture
def use(monkeypatch):
    """``use(decorator=True)``: every request through Flask-Limiter's decorator;
    ``use(decorator=False)``: the shortcut again, where it applies."""
    def switch(*, decorator: bool) -> None:
        monkeypatch.setattr(token_limit, "_shortcut_applies",
                            (lambda: False) if decorator else SHORTCUT)
    return switch


def test_the_shortcut_skips_flask_limiters_request_state(make_app):
    app = make_app()
    seen = limiter_states(app)
    assert app.test_client().post("/token", data=BOGUS).status_code == 401
    assert seen == [None], "the decorator ran"


@pytest.mark.parametrize("decorator_first", [False, True],
                         ids=["direct-then-decorator", "decorator-then-direct"])
def test_both_paths_count_on_one_counter_per_address(make_app, use, decorator_first):
    app = make_app(rate_limit={"token_per_ip": "3/minute"})
    server = app.test_client()
    use(decorator=decorator_first)
    assert [server.post("/token", data=BOGUS).status_code for _ in range(2)] == [401, 401]
    use(decorator=not decorator_first)
    answers = [server.post("/token", data=BOGUS) for _ in range(2)]
    assert [a.status_code for a in answers] == [401, 429]
    assert answers[1].headers["Retry-After"] == "60"


def test_both_paths_count_on_one_counter_per_portal(make_app, use):
    app = make_app(rate_limit={"token_per_ip": "2/minute", "token_per_client": "3/minute"})
    portal = _portal(app)
    server = app.test_client()
    assert [portal.token(server, BOGUS).status_code for _ in range(2)] == [400, 400]
    use(decorator=True)
    assert [portal.token(server, BOGUS).status_code for _ in range(2)] == [400, 429]
    # the address's own budget was not spent by the portal's requests
    assert [server.post("/token", data=BOGUS).status_code for _ in range(3)] == [401, 401, 429]


def test_a_refused_request_says_when_to_retry_and_counts_nothing_else(make_app):
    app = make_app(rate_limit={"token_per_ip": "1/minute"})
    server = app.test_client()
    assert server.post("/token", data=BOGUS).status_code == 401
    refused = server.post("/token", data=BOGUS)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert not limiter._storage_dead
