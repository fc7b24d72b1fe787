"""Issue 11: the common refresh answered in front of Flask (idp.oidc.token_endpoint).

The layer must answer a refresh exactly as the token view does (status line, every
header in order, the JSON body's keys in order; the tokens themselves are random), and
hand every other request to Flask unchanged, with nothing done first but, for a request
whose client authenticated, its one count against the limit (S41): a replayed token
still revokes its family (S40), another client's token, a wrong or rotated secret, a
removed client, an ended session (D10), a malformed header, a huge body, a NUL byte
(S28), a forged Host (S17), the limit reached and its store down all get what Flask
answered before, counted once."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from idp import audit, metrics
from idp.oidc.models import OAuthToken
from idp.oidc.token_endpoint import TokenEndpoint, token_endpoint_in_front
from idp.oidc.tokens import token_hash
from idp.ratelimit import VIEWS_ONLY, limiter
from tests.helpers import create_account, csrf
from tests.oidc.conftest import CALLBACK, Flow, full_flow, sign_in_through
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.oidc.token_layer import (
    INVALID_HOSTS,
    Witness,
    basic,
    exactly,
    layer_of,
    post,
    refused_as_flask_refuses,
    switch_of,
    trusted_portal,
)
from tests.perf.round_trips import round_trips
from tests.support.app import run_cli
from tests.support.records import audit_events

REFRESH = "refresh_token"


@pytest.fixture
def through_flask(app: Flask) -> Iterator[Callable[[bool], None]]:
    """``through_flask(True)``: the layer answers nothing (the token view's answers);
    the requests still pass the witness."""
    switch = switch_of(layer_of(app))
    yield switch
    switch(False)


@pytest.fixture
def portal(app: Flask) -> RelyingParty:
    return trusted_portal(app)


@pytest.fixture
def flow(app: Flask, portal: RelyingParty) -> Flow:
    create_account(app, "alice")
    return full_flow(portal)


@pytest.fixture
def live_store() -> Iterator[None]:
    yield
    limiter._storage_dead = False


def refresh(portal: RelyingParty, token: str, auth: str = "basic") -> Any:
    return portal.token(portal.app.test_client(), {"grant_type": REFRESH, "refresh_token": token},
                        auth=auth)


def shape(response: Any) -> tuple[str, list[tuple[str, str]], list[tuple[str, Any]]]:
    """Status, every header in order, the body's keys in order with the random tokens
    masked."""
    body = json.loads(response.get_data())
    masked = [(k, "*" if k in ("access_token", REFRESH) else v) for k, v in body.items()]
    return response.status, response.headers.to_wsgi_list(), masked


def revoked(app: Flask, token: str) -> bool:
    with app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(token))).one()
        return row.revoked_at is not None


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_issue11_a_refresh_is_answered_as_the_token_view_answers_it(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask, auth) -> None:
    through_flask(True)
    slow = refresh(portal, flow.tokens[REFRESH], auth)
    assert slow.status_code == 200, slow.get_data(as_text=True)
    through_flask(False)
    handed = witness.handed
    fast = refresh(portal, slow.get_json()[REFRESH], auth)
    assert witness.handed == handed, "answered in front of Flask"
    assert shape(fast) == shape(slow)
    assert fast.headers["Cache-Control"] == "no-store" and fast.headers["Pragma"] == "no-cache"
    assert fast.headers["X-Frame-Options"] == "DENY" and "Set-Cookie" not in fast.headers
    assert list(fast.get_json()) == ["access_token", "expires_in", REFRESH, "scope", "token_type"]
    # the new tokens work: the access token at UserInfo, the refresh token once more
    assert app.test_client().get("/userinfo", headers={
        "Authorization": f"Bearer {fast.get_json()['access_token']}"}).status_code == 200
    again = refresh(portal, fast.get_json()[REFRESH], auth)
    assert again.status_code == 200 and witness.handed == handed
    assert revoked(app, flow.tokens[REFRESH]) is False  # rotated, not revoked


def test_issue11_round_trips_of_a_refresh_in_front_of_flask(app: Flask, portal: RelyingParty,
                                                            flow: Flow, witness: Witness) -> None:
    """As on the Flask path: PostgreSQL, the claim and its successor as one statement in
    autocommit (no BEGIN, COMMIT or ROLLBACK); SQLite, the claim and the INSERT in one
    transaction. No client row read (this process's copy)."""
    with round_trips(app.extensions["clef"].engine) as trips:
        assert refresh(portal, flow.tokens[REFRESH]).status_code == 200
    if app.extensions["clef"].engine.dialect.name == "postgresql":
        assert trips.summary() == (1, 0, 0, 0), trips.log
    else:
        assert trips.summary() == (2, 1, 1, 0), trips.log
    assert not [s for s in trips.statements if s.upper().startswith("SELECT")]
    assert witness.handed == 0


def rotated(app: Flask, token: str) -> bool:
    with app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(token))).one()
        return row.rotated_at is not None


def test_issue11_s40_a_replayed_refresh_token_still_revokes_its_family(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    first = refresh(portal, flow.tokens[REFRESH])
    assert first.status_code == 200 and witness.handed == 0
    replay = refresh(portal, flow.tokens[REFRESH])
    assert witness.handed == 1
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert len(audit_events(app, audit.OIDC_REFRESH_REUSED)) == 1
    assert revoked(app, first.get_json()[REFRESH])
    assert refresh(portal, first.get_json()[REFRESH]).status_code == 400


def test_issue11_another_clients_refresh_token_is_refused_and_revokes_nothing(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    other_id, other_secret = register_client(app, "--name", "Other", "--redirect-uri", CALLBACK)
    other = RelyingParty(app, other_id, other_secret, CALLBACK)
    refresh(other, "warm-the-copy")
    refused = refresh(other, flow.tokens[REFRESH])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert not revoked(app, flow.tokens[REFRESH])
    assert refresh(portal, flow.tokens[REFRESH]).status_code == 200


def test_issue11_s41_a_wrong_secret_is_flasks_401(app: Flask, portal: RelyingParty, flow: Flow,
                                                 witness: Witness, through_flask) -> None:
    wrong = RelyingParty(app, portal.client_id, "x" * 43, CALLBACK)
    for auth in ("basic", "post"):
        fast = refresh(wrong, flow.tokens[REFRESH], auth)
        through_flask(True)
        slow = refresh(wrong, flow.tokens[REFRESH], auth)
        through_flask(False)
        assert exactly(fast) == exactly(slow)
        assert fast.status_code == 401 and fast.get_json()["error"] == "invalid_client"
    assert witness.handed == 4  # each handed on, as was the view's own answer
    assert refresh(portal, flow.tokens[REFRESH]).status_code == 200


def test_issue11_a_secret_rotated_on_another_instance(app: Flask, portal: RelyingParty,
                                                      flow: Flow, make_app, witness: Witness) -> None:
    result = run_cli(make_app(), "clients", "rotate-secret", portal.client_id)
    assert result.exit_code == 0, result.output
    new_secret = result.output.split()[-1]
    old = refresh(portal, flow.tokens[REFRESH])  # the copy here still has the old secret
    assert old.status_code == 401 and old.get_json()["error"] == "invalid_client"
    assert not revoked(app, flow.tokens[REFRESH])
    assert not audit_events(app, audit.OIDC_REFRESH_REUSED)
    renewed = refresh(RelyingParty(app, portal.client_id, new_secret, CALLBACK), flow.tokens[REFRESH])
    assert renewed.status_code == 200, renewed.get_data(as_text=True)


def test_issue11_a_client_removed_on_another_instance_gets_nothing(
        app: Flask, portal: RelyingParty, flow: Flow, make_app, witness: Witness) -> None:
    assert run_cli(make_app(), "clients", "remove", portal.client_id).exit_code == 0
    refused = refresh(portal, flow.tokens[REFRESH])
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert witness.handed == 1
    assert not audit_events(app, audit.OIDC_REFRESH_REUSED)


def test_issue11_d10_a_refresh_after_the_session_ended_revokes_the_family(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})
    before = witness.handed  # the two requests of the signing out
    refused = refresh(portal, flow.tokens[REFRESH])
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert witness.handed == before + 1
    assert revoked(app, flow.tokens[REFRESH])


def test_issue11_unusual_refreshes_go_to_flask_unchanged(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask) -> None:
    """Each is handed on (nothing counted, nothing claimed) and answered as the view
    answers it; none uses the token up, so the last refresh still works."""
    current = [flow.tokens[REFRESH]]
    good = {"Authorization": basic(portal.client_id, portal.secret or "")}
    form = "grant_type=refresh_token&refresh_token={token}"
    token = "{token}"
    secret = portal.secret or ""
    unusual: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        (form, {"Authorization": "Basic !!!"}, {}),
        (form, {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, {}),
        (form, {"Authorization": "Basic"}, {}),
        (form, {"Authorization": "Basic " + base64.b64encode(b"\xff:\xfe").decode()}, {}),
        (form, {"Authorization": "Bearer x"}, {}),
        (form, {"Authorization": basic("unknown", secret)}, {}),
        (form, {"Authorization": basic(portal.client_id, "%41" + secret)}, {}),
        (form + "&scope=openid", good, {}),  # a scope: the view's rule
        (form + "&scope=openid%20email", good, {}),
        (form + "&extra=1", good, {}),
        (form + "&refresh_token=other", good, {}),  # repeated
        (form + f"&client_id={portal.client_id}&client_secret={secret}", good, {}),  # both
        (f"grant_type=refresh_token&refresh_token={token}&client_id={portal.client_id}", {}, {}),
        ("grant_type=refresh_token", good, {}),
        (f"grant_type=authorization_code&code={token}", good, {}),
        (f"grant_type=refresh_token&refresh_token={token}%00", good, {}),
        (f"grant_type=refresh_token&refresh_token={token}\x00", good, {}),
        (f"grant_type=refresh+token&refresh_token={token}", good, {}),
        (form + "&" + "a" * 5000, good, {}),  # a body over the layer's bound
        (form, {**good, "User-Agent": "portal\x00lib"}, {}),
        (form, {**good, "Host": "evil.example\x00"}, {}),
        (form, {**good, "Host": "evil.example@127.0.0.1"}, {}),
        (form, {**good, "Host": "a b<script>"}, {}),
        (form, {**good, "Transfer-Encoding": "chunked"}, {}),
        (form, good, {"query_string": "scope=openid"}),
        (form, good, {"content_type": "application/x-www-form-urlencoded; charset=utf-8"}),
        (form, good, {"content_type": "application/json"}),
        (form, good, {"content_type": "multipart/form-data"}),
        (form, good, {"method": "PUT"}),
    ]
    for template, headers, extra in unusual:
        body = template.replace("{token}", current[0])
        method = extra.pop("method", "POST")
        ask = {"data": body, "headers": headers,
               "content_type": "application/x-www-form-urlencoded", **extra}
        before = witness.handed
        fast = app.test_client().open("/token", method=method, **ask)
        assert witness.handed == before + 1, (body, headers, extra)
        if fast.status_code != 200:
            through_flask(True)
            slow = app.test_client().open("/token", method=method, **ask)
            through_flask(False)
            assert exactly(fast) == exactly(slow), (body, headers, extra)
        else:
            current[0] = fast.get_json()[REFRESH]  # e.g. a scope the token has: the view's 200
    assert refresh(portal, current[0]).status_code == 200


def test_issue11_s28_a_nul_byte_still_meets_the_input_guard(
        app: Flask, portal: RelyingParty, flow: Flow) -> None:
    headers = {"Authorization": basic(portal.client_id, portal.secret or ""),
               "User-Agent": "portal\x00lib"}
    form = f"grant_type=refresh_token&refresh_token={flow.tokens[REFRESH]}"
    for body, head in ((form, headers), (form + "%00", {"Authorization": headers["Authorization"]})):
        refused = post(app, body, head)
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_request"
    assert refresh(portal, flow.tokens[REFRESH]).status_code == 200


def test_issue11_s17_a_forged_host_gets_flasks_400(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(service={"trusted_hosts": ["idp.example"]})
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK, "--trusted")
    layer_of(app)
    auth = {"Authorization": basic(client_id, secret or "")}
    for host in ("evil.example", "idp.example.evil.example"):
        forged = post(app, "grant_type=refresh_token&refresh_token=x", {**auth, "Host": host})
        assert forged.status_code == 400, host
        assert b"invalid_grant" not in forged.get_data()


def test_issue11_a_plain_http_request_to_a_remote_host_is_left_to_authlib(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask) -> None:
    """Authlib refuses OAuth over plain http except to a loopback host: so does the
    layer, by handing such a request on."""
    ask = {"headers": {"Authorization": basic(portal.client_id, portal.secret or "")},
           "base_url": "http://idp.example"}
    body = f"grant_type=refresh_token&refresh_token={flow.tokens[REFRESH]}"
    fast = post(app, body, **ask)
    assert witness.handed == 1 and fast.status_code != 200
    through_flask(True)
    assert exactly(fast) == exactly(post(app, body, **ask))


def test_issue11_s41_the_limit_counts_each_refresh_once(make_app, live_store) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit={"token_per_client": "4/minute"})
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK, "--trusted")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    flow = full_flow(portal)  # the exchange: 1
    layer = layer_of(app)
    seen = Witness(layer)
    layer.app = seen
    first = refresh(portal, flow.tokens[REFRESH])  # 2, answered in front
    assert first.status_code == 200 and seen.handed == 0
    bad = refresh(portal, "not-a-token")  # 3, counted in front, handed on, not counted again
    assert bad.status_code == 400 and seen.handed == 1
    # 4: through Flask, which counts it: a failed request made the view forget its copy
    # of the client (idp.oidc.token_limit.forget_request_clients), read again here
    second = refresh(portal, first.get_json()[REFRESH])
    assert second.status_code == 200 and seen.handed == 2
    third = refresh(portal, second.get_json()[REFRESH])  # 5: over the limit, in front
    assert seen.handed == 3
    refused = third
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert refused.headers["Cache-Control"] == "no-store"
    # the refused request used nothing up
    assert not rotated(app, third_token := second.get_json()[REFRESH]), third_token


def test_issue11_the_429_is_the_one_the_view_gives(make_app, live_store) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit={"token_per_client": "1/minute"})
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK, "--trusted")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    refresh(portal, "warm-the-copy")  # 1 (through Flask: no copy yet)
    fast = refresh(portal, "x")
    layer = layer_of(app)
    original = layer._servable
    layer._servable = lambda environ: False  # type: ignore[method-assign]
    try:
        slow = refresh(portal, "x")
    finally:
        layer._servable = original  # type: ignore[method-assign]
    assert fast.status_code == 429 and exactly(fast) == exactly(slow)


def test_issue11_d4_the_limit_store_down_leaves_the_count_to_the_view(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, monkeypatch,
        live_store) -> None:  # type: ignore[no-untyped-def]
    calls: list[Any] = []

    def down(*args: Any, **kwargs: Any) -> bool:
        calls.append(args)
        raise ConnectionError("the store is down")

    monkeypatch.setattr(limiter.limiter, "hit", down)
    renewed = refresh(portal, flow.tokens[REFRESH])
    assert renewed.status_code == 200, renewed.get_data(as_text=True)
    assert witness.handed == 1 and calls, "the layer tried the store, then handed it on"
    assert limiter._storage_dead, "the view counted it with the in-memory fallback"


def test_issue11_counted_and_timed(app: Flask, portal: RelyingParty, flow: Flow,
                                   witness: Witness) -> None:
    issued = metrics.TOKENS.labels(REFRESH)
    timed = metrics.LATENCY.labels("oidc.token", "POST")
    before = issued._value.get(), sum(bucket.get() for bucket in timed._buckets)
    assert refresh(portal, flow.tokens[REFRESH]).status_code == 200
    refresh(portal, "nope")  # refused by the view: timed there, not issued
    after = issued._value.get(), sum(bucket.get() for bucket in timed._buckets)
    assert after == (before[0] + 1, before[1] + 2)
    assert witness.handed == 1


def test_issue11_a_failure_in_front_of_flask_is_logged_and_flask_answers(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, monkeypatch,
        caplog, live_store) -> None:  # type: ignore[no-untyped-def]
    layer = layer_of(app)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(layer.refresher, "rotate", broken)
    answer = refresh(portal, flow.tokens[REFRESH])
    assert witness.handed == 1 and answer.status_code == 200
    assert "refresh failed in front of Flask" in caplog.text


def test_issue11_not_installed_while_a_default_rate_limit_applies(app: Flask) -> None:
    inner = layer_of(app).app
    config = dict(app.config)
    config[VIEWS_ONLY] = False
    assert token_endpoint_in_front(config, app.extensions, inner, None, None, None) is inner
    config[VIEWS_ONLY] = True
    assert isinstance(token_endpoint_in_front(config, app.extensions, inner, None, None, None),
                      TokenEndpoint)


def test_issue11_s25_hsts_on_the_layers_answers_over_https(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(service={"base_url": "https://idp.example"})
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK, "--trusted")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    browser, req = app.test_client(), Request()
    code = sign_in_through(portal, browser, req)["code"]
    tokens = portal.exchange(browser, code, req).get_json()  # (its issuer is not the tests')
    layer = layer_of(app)
    seen = Witness(layer)
    layer.app = seen
    auth = {"Authorization": basic(client_id, secret or "")}

    def ask(token: str) -> Any:
        return app.test_client().post("/token", base_url="https://idp.example", headers=auth,
                                      data={"grant_type": REFRESH, "refresh_token": token})

    layer._servable = lambda environ: False  # type: ignore[method-assign]
    slow = ask(tokens[REFRESH])
    del layer._servable
    fast = ask(slow.get_json()[REFRESH])
    assert seen.handed == 1 and fast.status_code == 200
    assert shape(fast) == shape(slow)
    assert fast.headers["Strict-Transport-Security"].startswith("max-age=")


def test_issue11_the_database_down_is_flasks_503(app: Flask, portal: RelyingParty, flow: Flow,
                                                 witness: Witness, through_flask, monkeypatch,
                                                 caplog) -> None:  # type: ignore[no-untyped-def]
    """The claim cannot be made: handed to Flask, which answers its own 503 (its page,
    no trace), the request counted once."""
    engine = app.extensions["clef"].engine

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(engine, "connect", refused)
    monkeypatch.setattr(engine, "begin", refused)
    fast = refresh(portal, flow.tokens[REFRESH])
    assert witness.handed == 1
    through_flask(True)
    slow = refresh(portal, flow.tokens[REFRESH])
    assert exactly(fast) == exactly(slow)
    assert fast.status_code == 503 and fast.headers["Retry-After"] == "30"
    assert b"refused" not in fast.get_data() and b"Operational" not in fast.get_data()
    assert "database unavailable for a refresh in front of Flask" in caplog.text
    assert "Traceback" not in caplog.text


def test_issue11_behind_a_trusted_proxy(make_app) -> None:  # type: ignore[no-untyped-def]
    """Inside ProxyFix: the forwarded scheme and address are the ones Flask sees; a NUL
    in the forwarded address meets the input guard (S28)."""
    app = make_app(rate_limit={"trusted_proxies": 1})
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK, "--trusted")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    flow = full_flow(portal)
    layer = layer_of(app)
    seen = Witness(layer)
    layer.app = seen
    auth = {"Authorization": basic(client_id, secret or "")}
    body = {"grant_type": REFRESH, "refresh_token": flow.tokens[REFRESH]}
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    renewed = app.test_client().post("/token", headers={**auth, **forwarded}, data=body,
                                     base_url="http://idp.example")
    assert renewed.status_code == 200 and seen.handed == 0
    body["refresh_token"] = renewed.get_json()[REFRESH]
    nul = app.test_client().post("/token", headers={**auth, "X-Forwarded-For": "10.0.0.1\x00"},
                                 data=body)
    assert seen.handed == 1
    assert nul.status_code == 400 and nul.get_json()["error"] == "invalid_request"
    plain = app.test_client().post("/token", data=body, base_url="http://idp.example",
                                   headers={**auth, "X-Forwarded-Proto": "http"})
    assert seen.handed == 2 and plain.status_code != 200  # Authlib's rule: not over http


@pytest.mark.parametrize("host", INVALID_HOSTS)
def test_s17_a_refresh_with_a_host_werkzeug_finds_invalid_is_refused_as_flask_refuses_it(
        app: Flask, portal: RelyingParty, flow: Flow, through_flask, host: str) -> None:
    headers = {"Authorization": basic(portal.client_id, portal.secret or ""), "Host": host}
    body = f"grant_type=refresh_token&refresh_token={flow.tokens['refresh_token']}"
    refused_as_flask_refuses(app, through_flask, body, headers)


def test_s17_an_https_refresh_to_port_zero_is_refused_as_flask_refuses_it(
        app: Flask, portal: RelyingParty, flow: Flow, through_flask) -> None:
    """Over https too (a deployment behind TLS): ``Host: idp.example:0``."""
    headers = {"Authorization": basic(portal.client_id, portal.secret or ""),
               "Host": "idp.example:0"}
    body = f"grant_type=refresh_token&refresh_token={flow.tokens['refresh_token']}"
    refused_as_flask_refuses(app, through_flask, body, headers, base_url="https://idp.example")
