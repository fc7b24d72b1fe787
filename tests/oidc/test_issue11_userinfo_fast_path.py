"""Issue 11: UserInfo answered in front of Flask (idp.oidc.userinfo_endpoint).

The layer must answer exactly what the Flask view answers (status line, body and every
header, in order: the S25 security headers and ``no-store`` included), for every shape of
Authorization header, and leave to Flask each request it must not answer (another
method, a query, a body, a NUL byte for the input guard, S28; a forged Host, S17). Its
one read keeps every refusal (S43, D10: revoked, expired, another kind of token, an
ended or idle session, a revoked account), a database that is down is a JSON 503 (never
a trace), and each answer is timed under ``oidc.userinfo``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update
from sqlalchemy.exc import OperationalError
from werkzeug.test import Client

from idp import metrics
from idp.oidc.models import OAuthToken
from idp.oidc.published import PublishedDocuments
from idp.oidc.userinfo_endpoint import UserInfoEndpoint, userinfo_in_front
from idp.ratelimit import VIEWS_ONLY
from tests.helpers import create_account, csrf, run_cli
from tests.oidc.conftest import CALLBACK, Flow, full_flow
from tests.oidc.rp import RelyingParty, register_client
from tests.oidc.test_issue11_static_documents import counted

DEAD_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"


@pytest.fixture
def flow(app: Flask) -> Flow:
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "Portal", "--redirect-uri", CALLBACK,
                                        "--trusted")
    return full_flow(RelyingParty(app, client_id, secret, CALLBACK))


def layer_of(app: Flask) -> UserInfoEndpoint:
    outer = app.wsgi_app
    assert isinstance(outer, PublishedDocuments)
    assert isinstance(outer.app, UserInfoEndpoint), "UserInfo goes through Flask"
    return outer.app


class Witness:
    """Counts the requests the layer hands on to Flask."""

    def __init__(self, app: Flask) -> None:
        self.layer = layer_of(app)
        self.inner = self.layer.app
        self.handed = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.handed += 1
        return self.inner(environ, start_response)


@pytest.fixture
def witness(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Witness]:
    seen = Witness(app)
    monkeypatch.setattr(seen.layer, "app", seen)
    yield seen


def flask_only(app: Flask) -> Client:
    """A client of the same app without the layer: what the Flask view answers."""
    layer = layer_of(app)
    inner = layer.app.inner if isinstance(layer.app, Witness) else layer.app
    return Client(inner)


def exactly(response: Any) -> tuple[str, bytes, list[tuple[str, str]]]:
    return response.status, response.get_data(), response.headers.to_wsgi_list()


def authorization(value: str) -> dict[str, str]:
    return {"Authorization": value}


def asks(flow: Flow) -> list[tuple[str, dict[str, Any]]]:
    """Requests the layer answers itself: (method, test-client arguments)."""
    token = flow.tokens["access_token"]
    good = authorization(f"Bearer {token}")
    return [
        ("GET", {"headers": good}),
        ("POST", {"headers": good}),
        ("POST", {"headers": good, "content_type": "application/x-www-form-urlencoded"}),
        ("GET", {"headers": authorization(f"bearer {token}")}),
        ("GET", {"headers": authorization(f"BEARER  {token}")}),
        ("GET", {"headers": authorization(f"Bearer\t{token}")}),
        ("GET", {"headers": authorization(f"Bearer\u00a0{token}")}),  # str.split's whitespace
        ("GET", {"headers": authorization(f"Bearer {token} ")}),
        ("GET", {"headers": authorization(f" Bearer {token}")}),
        ("GET", {"headers": {**good, "Cookie": "clef_session=" + "x" * 43,
                             "Accept-Language": "fr", "Origin": "https://portal.example"}}),
        ("GET", {"headers": {**good, "Host": "elsewhere.example:8443"}}),
        ("GET", {"headers": {**good, "Host": "a b<script>"}}),
        ("GET", {"headers": {**good, "Host": "idp\x00.example"}}),
        ("GET", {"headers": {**good, "X-Forwarded-Host": "evil.example",
                             "X-Forwarded-Proto": "https", "X-Forwarded-For": "10.0.0.1"}}),
        ("GET", {}),
        ("POST", {}),
        ("GET", {"headers": authorization("")}),
        ("GET", {"headers": authorization("Bearer")}),
        ("GET", {"headers": authorization("Bearer ")}),
        ("GET", {"headers": authorization("Basic YTpi")}),
        ("GET", {"headers": authorization(f"Token {token}")}),
        ("GET", {"headers": authorization("Bearer nope")}),
        ("GET", {"headers": authorization("Bearer a b")}),
        ("GET", {"headers": authorization("Bearer " + "A" * 100_000)}),
        ("GET", {"headers": authorization("Bearer \u00e9\u00e8\u00ff")}),
        ("GET", {"headers": authorization("Bearer a\x7fb")}),
        ("GET", {"headers": authorization(f"Bearer {token}\x00")}),
        ("GET", {"headers": authorization(f"Bearer {token[:-1]}")}),
        ("GET", {"headers": authorization(f"Bearer {flow.tokens['refresh_token']}")}),
        ("GET", {"headers": authorization(f"Bearer {flow.tokens['id_token']}")}),
        ("GET", {"headers": [("Authorization", f"Bearer {token}"), ("Authorization", "Bearer x")]}),
        ("GET", {"headers": [("Authorization", "Bearer x"), ("Authorization", f"Bearer {token}")]}),
    ]


def test_issue11_the_layer_answers_what_the_flask_view_answers(app: Flask, flow: Flow,
                                                              witness: Witness) -> None:
    fast, slow = app.test_client(), flask_only(app)
    statuses = set()
    for method, ask in asks(flow):
        answered = fast.open("/userinfo", method=method, **ask)
        expected = slow.open("/userinfo", method=method, **ask)
        assert exactly(answered) == exactly(expected), (method, ask.get("headers"))
        statuses.add(answered.status_code)
    assert witness.handed == 0, "every one of these is answered in front of Flask"
    assert statuses == {200, 401}


def test_issue11_unusual_requests_go_to_flask_unchanged(app: Flask, flow: Flow,
                                                       witness: Witness) -> None:
    token = flow.tokens["access_token"]
    good = authorization(f"Bearer {token}")
    fast, slow = app.test_client(), flask_only(app)
    unusual: list[tuple[str, dict[str, Any]]] = [
        ("GET", {"headers": good, "query_string": "x=1"}),
        ("GET", {"query_string": f"access_token={token}"}),
        ("POST", {"data": {"access_token": token}}),
        ("POST", {"headers": good, "data": {"a": "1"}}),
        ("POST", {"headers": good, "data": b"{}", "content_type": "application/json"}),
        ("POST", {"headers": good, "data": b"a=\x00", "content_type": "multipart/form-data"}),
        ("POST", {"headers": {**good, "Transfer-Encoding": "chunked"}, "data": b""}),
        ("GET", {"headers": good, "content_type": "text/plain"}),
        ("HEAD", {"headers": good}),
        ("OPTIONS", {"headers": {"Origin": "https://portal.example",
                                 "Access-Control-Request-Method": "GET"}}),
        ("PUT", {"headers": good}),
        ("get", {"headers": good}),
        ("GET", {"headers": {**good, "User-Agent": "portal\x00lib"}}),
        ("GET", {"headers": {**good, "X-Forwarded-For": "10.0.0.1\x00"}}),
    ]
    for method, ask in unusual:
        before = witness.handed
        answered = fast.open("/userinfo", method=method, **ask)
        assert witness.handed == before + 1, (method, ask)
        assert exactly(answered) == exactly(slow.open("/userinfo", method=method, **ask))
    assert fast.get("/userinfo/", headers=good).status_code == 404  # not the layer's path


def test_issue11_s28_a_nul_byte_still_meets_the_input_guard(app: Flask, flow: Flow) -> None:
    good = authorization(f"Bearer {flow.tokens['access_token']}")
    refused = app.test_client().get("/userinfo", headers={**good, "User-Agent": "portal\x00lib"})
    assert refused.status_code == 400
    assert refused.get_json()["error"] == "invalid_request"
    assert refused.headers["Cache-Control"] == "no-store"


def test_issue11_s28_a_nul_byte_in_the_forwarded_address_behind_a_proxy(make_app) -> None:  # type: ignore[no-untyped-def]
    """Behind a trusted proxy, X-Forwarded-For becomes the client address the guard reads."""
    app = make_app(rate_limit={"trusted_proxies": 1})
    layer_of(app)
    refused = app.test_client().get("/userinfo", headers={
        "Authorization": "Bearer x", "X-Forwarded-For": "10.0.0.1\x00"})
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_request"


def test_issue11_s17_a_forged_host_gets_flasks_400(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(service={"trusted_hosts": ["idp.example"]})
    client = app.test_client()
    layer_of(app)
    trusted = client.get("/userinfo", headers={"Host": "idp.example"})
    assert trusted.status_code == 401 and "WWW-Authenticate" in trusted.headers
    for host in ("evil.example", "idp.example.evil.example", "idp.example\x00"):
        forged = client.get("/userinfo", headers={"Host": host, "Authorization": "Bearer x"})
        assert forged.status_code == 400, host
        assert "WWW-Authenticate" not in forged.headers and b"evil" not in forged.get_data()


def test_issue11_one_statement_no_transaction_no_session(app: Flask, flow: Flow) -> None:
    bearer = authorization(f"Bearer {flow.tokens['access_token']}")
    client = app.test_client()
    client.set_cookie("clef_session", "x" * 43)
    for method in ("GET", "POST"):
        with counted(app) as statements:
            answer = client.open("/userinfo", method=method, headers=bearer)
        assert answer.status_code == 200 and "Set-Cookie" not in answer.headers
        assert answer.get_json()["sub"] == flow.claims["sub"]
        assert len(statements) == 1 and statements[0].lstrip().upper().startswith("SELECT")


def test_issue11_s43_refused_as_soon_as_revoked(app: Flask, flow: Flow) -> None:
    bearer = authorization(f"Bearer {flow.tokens['access_token']}")
    client = app.test_client()
    assert client.get("/userinfo", headers=bearer).status_code == 200
    with app.extensions["clef"].session_factory() as db:
        db.execute(update(OAuthToken).values(revoked_at=app.extensions["clef"].clock.now()))
        db.commit()
    refused = client.get("/userinfo", headers=bearer)
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "invalid_token"


def test_issue11_d10_refused_once_the_sign_in_session_ends(app: Flask, flow: Flow) -> None:
    bearer = authorization(f"Bearer {flow.tokens['access_token']}")
    client = app.test_client()
    assert client.get("/userinfo", headers=bearer).status_code == 200
    flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})
    assert client.get("/userinfo", headers=bearer).get_json()["error"] == "invalid_token"


def test_issue11_d10_refused_once_the_session_idled_out_before_any_purge(app: Flask, flow: Flow,
                                                                          clock) -> None:  # type: ignore[no-untyped-def]
    bearer = authorization(f"Bearer {flow.tokens['access_token']}")
    client = app.test_client()
    assert client.get("/userinfo", headers=bearer).status_code == 200
    clock.advance(seconds=app.extensions["clef"].sessions.idle.total_seconds())
    assert client.get("/userinfo", headers=bearer).status_code == 401


def test_issue11_s43_refused_once_expired_or_the_account_revoked(app: Flask, flow: Flow,
                                                                  clock) -> None:  # type: ignore[no-untyped-def]
    bearer = authorization(f"Bearer {flow.tokens['access_token']}")
    client = app.test_client()
    assert client.get("/userinfo", headers=bearer).status_code == 200
    assert run_cli(app, "users", "revoke", "alice", "--reason", "other").exit_code == 0
    assert client.get("/userinfo", headers=bearer).status_code == 401


def test_issue11_s43_a_refresh_token_is_no_access_token(app: Flask, flow: Flow) -> None:
    for value in (flow.tokens["refresh_token"], flow.tokens["id_token"]):
        refused = app.test_client().get("/userinfo", headers=authorization(f"Bearer {value}"))
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')


def test_issue11_the_database_down_is_a_json_503_on_both_paths(app: Flask, flow: Flow, witness: Witness,
                                                             monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    engine = app.extensions["clef"].engine

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(engine, "connect", refused)
    bearer = authorization(f"Bearer {flow.tokens['access_token']}")
    fast = app.test_client().get("/userinfo", headers=bearer)
    assert witness.handed == 0, "answered in front of Flask, without a second attempt"
    slow = flask_only(app).get("/userinfo", headers=bearer)
    assert exactly(fast) == exactly(slow)
    assert fast.status_code == 503 and fast.headers["Retry-After"] == "30"
    assert fast.get_json()["error"] == "temporarily_unavailable"
    assert fast.headers["Cache-Control"] == "no-store"
    assert fast.headers["X-Frame-Options"] == "DENY"
    assert b"Operational" not in fast.get_data() and b"refused" not in fast.get_data()
    assert "database unavailable: answered 503" in caplog.text
    assert not [r for r in caplog.records if r.getMessage() == "unhandled error"]


def test_issue11_an_unreachable_database_is_a_json_503(make_app, caplog) -> None:  # type: ignore[no-untyped-def]
    app = make_app(database={"url": DEAD_DATABASE})
    answer = app.test_client().get("/userinfo", headers=authorization("Bearer anything"))
    assert answer.status_code == 503 and answer.get_json()["error"] == "temporarily_unavailable"
    assert b"psycopg" not in answer.get_data() and b"Traceback" not in answer.get_data()
    assert "database unavailable: answered 503" in caplog.text


def test_issue11_a_failure_in_front_of_flask_is_logged_and_flask_answers(
        app: Flask, flow: Flow, witness: Witness, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr("idp.oidc.userinfo_endpoint.read_bearer", broken)
    with caplog.at_level(logging.ERROR):
        answer = app.test_client().get(
            "/userinfo", headers=authorization(f"Bearer {flow.tokens['access_token']}"))
    assert witness.handed == 1
    assert answer.status_code == 200  # the view's own read (BearerValidator) was not broken
    assert "UserInfo failed in front of Flask" in caplog.text


def test_issue11_timed_under_its_endpoint_name(app: Flask, flow: Flow, witness: Witness) -> None:
    bearer = authorization(f"Bearer {flow.tokens['access_token']}")
    for method in ("GET", "POST"):
        child = metrics.LATENCY.labels("oidc.userinfo", method)
        before = sum(bucket.get() for bucket in child._buckets)
        app.test_client().open("/userinfo", method=method, headers=bearer)
        app.test_client().open("/userinfo", method=method)
        assert sum(bucket.get() for bucket in child._buckets) == before + 2
    assert witness.handed == 0


def test_issue11_not_installed_while_a_default_rate_limit_applies(app: Flask) -> None:
    """Flask-Limiter's hook applies a default or application limit to every request:
    UserInfo then goes through Flask."""
    inner = layer_of(app).app
    protector = app.extensions["clef.oidc.protector"]
    app.config[VIEWS_ONLY] = False
    assert userinfo_in_front(app, inner, protector, False, None, None) is inner
    app.config[VIEWS_ONLY] = True
    assert isinstance(userinfo_in_front(app, inner, protector, False, None, None), UserInfoEndpoint)


def test_issue11_s25_hsts_on_the_layers_answers_over_https(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(service={"base_url": "https://idp.example"})
    layer_of(app)
    fast = app.test_client().get("/userinfo", headers=authorization("Bearer x"),
                                 base_url="https://idp.example")
    slow = flask_only(app).get("/userinfo", headers=authorization("Bearer x"),
                               base_url="https://idp.example")
    assert exactly(fast) == exactly(slow)
    assert fast.headers["Strict-Transport-Security"].startswith("max-age=")
