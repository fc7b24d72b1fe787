"""Issue 11: the common code exchange answered in front of Flask (idp.oidc.code_endpoint,
called by the token layer of idp.oidc.token_endpoint).

The layer must answer an exchange exactly as the token view does (status line, every
header in order, the JSON body byte for byte: with the token generator made
deterministic, the same code exchanged through the layer and, reset, through Flask gives
the same bytes, the RS256 ID token included), and hand every other request to Flask
unchanged, with nothing written first but, for a request whose client authenticated, its
one count against the limit (S41): a replayed code still revokes what its first use
issued (S32), another client's code, a wrong redirect URI (S31), a wrong or missing
verifier (S34), an expired code, an ended or revoked session or account (D10), a rotated
secret, a removed client, a malformed or huge body, a NUL byte (S28), the limit reached
and its store down, the database down all get what Flask answered before."""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from flask import Flask
from joserfc import jwt
from sqlalchemy import delete, select, update
from sqlalchemy.exc import OperationalError

from idp import audit, metrics
from idp.models import REVOKED, Account, WebSession
from idp.oidc.models import AuthorizationCode, OAuthToken
from idp.oidc.token_request import decoded
from idp.oidc.tokens import token_hash
from idp.ratelimit import limiter
from tests.helpers import create_account, csrf
from tests.oidc.conftest import CALLBACK, Flow, full_flow, sign_in_through
from tests.oidc.rp import RelyingParty, Request, register_client, s256
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

CODE = "authorization_code"


@pytest.fixture
def through_flask(app: Flask) -> Iterator[Callable[[bool], None]]:
    """``through_flask(True)``: the layer answers nothing (the token view's answers)."""
    switch = switch_of(layer_of(app))
    yield switch
    switch(False)


@pytest.fixture
def portal(app: Flask) -> RelyingParty:
    return trusted_portal(app)


@pytest.fixture
def flow(app: Flask, portal: RelyingParty) -> Flow:
    """A first sign-in and exchange (through Flask: it reads the client and opens the
    signing key), the browser still signed in."""
    create_account(app, "alice")
    return full_flow(portal)


@pytest.fixture
def live_store() -> Iterator[None]:
    yield
    limiter._storage_dead = False


def new_code(portal: RelyingParty, flow: Flow, **extra: str | None) -> tuple[str, Request]:
    req = Request()
    return sign_in_through(portal, flow.browser, req, **extra)["code"], req


def exchange(portal: RelyingParty, code: str, req: Request, auth: str = "basic") -> Any:
    return portal.token(portal.app.test_client(), {
        "grant_type": CODE, "code": code, "redirect_uri": portal.redirect_uri,
        "code_verifier": req.verifier}, auth=auth)


def encoded_body(portal: RelyingParty, code: str, req: Request) -> str:
    """The body as most HTTP libraries write it: the redirect URI percent-encoded."""
    return urlencode({"grant_type": CODE, "code": code, "redirect_uri": portal.redirect_uri,
                      "code_verifier": req.verifier}, quote_via=quote, safe="")


def unused(app: Flask, code: str) -> None:
    """The code as it was before its exchange: unused, nothing issued from it."""
    with app.extensions["clef"].session_factory() as db:
        db.execute(delete(OAuthToken).where(OAuthToken.code_hash == token_hash(code)))
        db.execute(update(AuthorizationCode).where(AuthorizationCode.code_hash == token_hash(code))
                   .values(used_at=None))
        db.commit()


def used(app: Flask, code: str) -> bool:
    with app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(AuthorizationCode).where(
            AuthorizationCode.code_hash == token_hash(code))).one()
        return row.used_at is not None


def issued_from(app: Flask, code: str) -> list[OAuthToken]:
    with app.extensions["clef"].session_factory() as db:
        return list(db.scalars(select(OAuthToken).where(OAuthToken.code_hash == token_hash(code))))


@pytest.fixture
def fixed_tokens(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """The token generator made deterministic; calling the result starts it over (the
    tokens made before, from elsewhere in the sequence)."""
    state = {"n": 5000}

    def token_urlsafe(nbytes: int | None = None) -> str:
        state["n"] += 1
        return f"fixed-token-{state['n']:04d}".ljust(43, "x")

    fake = types.SimpleNamespace(token_urlsafe=token_urlsafe, token_hex=lambda n=16: "f" * 32)
    monkeypatch.setattr("idp.oidc.tokens.secrets", fake)

    def restart() -> None:
        state["n"] = 0
    return restart


def both_ways(app: Flask, portal: RelyingParty, code: str, through_flask: Any,
              restart: Callable[[], None], send: Callable[[], Any]) -> tuple[Any, Any]:
    """``send`` through Flask, then, the code reset, through the layer."""
    through_flask(True)
    restart()
    slow = send()
    through_flask(False)
    unused(app, code)
    restart()
    fast = send()
    return fast, slow


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_issue11_a_code_exchange_is_answered_byte_for_byte_as_the_view(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask,
        fixed_tokens, auth) -> None:  # type: ignore[no-untyped-def]
    code, req = new_code(portal, flow)
    handed = witness.handed
    fast, slow = both_ways(app, portal, code, through_flask, fixed_tokens,
                           lambda: exchange(portal, code, req, auth))
    assert slow.status_code == 200, slow.get_data(as_text=True)
    assert witness.handed == handed + 1, "the second answered in front of Flask"
    assert exactly(fast) == exactly(slow)
    assert list(fast.get_json()) == ["access_token", "expires_in", "id_token", "refresh_token",
                                     "scope", "token_type"]
    assert fast.headers["Cache-Control"] == "no-store" and "Set-Cookie" not in fast.headers


def test_issue11_the_encoded_redirect_uri_and_no_nonce(app: Flask, portal: RelyingParty, flow: Flow,
                                                     witness: Witness, through_flask,
                                                     fixed_tokens) -> None:  # type: ignore[no-untyped-def]
    req = Request(nonce=None)
    code = sign_in_through(portal, flow.browser, req)["code"]
    handed = witness.handed
    body = encoded_body(portal, code, req)
    assert "%3A%2F%2F" in body
    auth = {"Authorization": basic(portal.client_id, portal.secret or "")}
    fast, slow = both_ways(app, portal, code, through_flask, fixed_tokens,
                           lambda: post(app, body, auth))
    assert slow.status_code == 200 and witness.handed == handed + 1
    assert exactly(fast) == exactly(slow)
    claims = jwt.decode(fast.get_json()["id_token"], portal.jwks(app.test_client())).claims
    assert "nonce" not in claims


def test_issue11_an_es256_id_token_has_the_views_header_and_claims(
        app: Flask, flow: Flow, witness: Witness, through_flask, fixed_tokens) -> None:  # type: ignore[no-untyped-def]
    """ES256 signatures are random: the header and the claims are compared."""
    client_id, secret = register_client(app, "--name", "EC", "--redirect-uri", CALLBACK,
                                        "--trusted", "--alg", "ES256")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    exchange(portal, "warm-the-copy-and-the-key", Request())
    first, req = new_code(portal, flow)
    full = exchange(portal, first, req)  # through Flask: opens the ES256 key
    assert full.status_code == 200
    code, req = new_code(portal, flow)
    handed = witness.handed
    fast, slow = both_ways(app, portal, code, through_flask, fixed_tokens,
                           lambda: exchange(portal, code, req))
    assert witness.handed == handed + 1 and fast.status_code == 200
    keys = portal.jwks(app.test_client())
    decoded_fast = jwt.decode(fast.get_json()["id_token"], keys, algorithms=["ES256"])
    decoded_slow = jwt.decode(slow.get_json()["id_token"], keys, algorithms=["ES256"])
    assert decoded_fast.header == decoded_slow.header and decoded_fast.header["alg"] == "ES256"
    assert list(decoded_fast.claims.items()) == list(decoded_slow.claims.items())


def test_issue11_round_trips_of_an_exchange_in_front_of_flask(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask,
        backend: str) -> None:  # type: ignore[no-untyped-def]
    """SQLite: the view's statements, the claim and the INSERT in one transaction, one
    commit. PostgreSQL: the two as one statement in autocommit, one round trip where the
    view takes four (``Tokens.exchange_code_on``). Neither reads the client row (this
    process's copy) or the signing key (open)."""
    engine = app.extensions["clef"].engine
    slow_code, slow_req = new_code(portal, flow)
    fast_code, fast_req = new_code(portal, flow)
    through_flask(True)
    with round_trips(engine) as slow:
        assert exchange(portal, slow_code, slow_req).status_code == 200
    through_flask(False)
    handed = witness.handed
    with round_trips(engine) as fast:
        assert exchange(portal, fast_code, fast_req).status_code == 200
    assert witness.handed == handed
    assert slow.summary() == (2, 1, 1, 0), slow.log
    if backend == "postgresql":
        assert fast.summary() == (1, 0, 0, 0), fast.log
        assert fast.statements[0].startswith("WITH claimed AS (UPDATE oauth_codes")
        assert "INSERT INTO oauth_tokens" in fast.statements[0]
    else:
        assert fast.summary() == slow.summary(), (fast.log, slow.log)
        assert fast.statements == slow.statements
    print(f"\nexchange round trips (statements, begins, commits, rollbacks): {fast.summary()}")
    assert not [s for s in fast.statements if s.upper().startswith("SELECT")]


def test_issue11_s32_a_replayed_code_revokes_what_its_first_use_issued(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    code, req = new_code(portal, flow)
    handed = witness.handed
    first = exchange(portal, code, req)
    assert first.status_code == 200 and witness.handed == handed
    replay = exchange(portal, code, req)
    assert witness.handed == handed + 1
    assert replay.status_code == 400 and replay.get_json()["error"] == "invalid_grant"
    assert len(audit_events(app, audit.OIDC_CODE_REUSED)) == 1
    assert all(row.revoked_at is not None for row in issued_from(app, code))
    bearer = {"Authorization": f"Bearer {first.get_json()['access_token']}"}
    assert app.test_client().get("/userinfo", headers=bearer).status_code == 401


def test_issue11_s32_one_code_sent_20_times_at_once_one_wins_and_reuse_revokes(
        app: Flask, portal: RelyingParty, flow: Flow) -> None:
    """The race of tests/oidc/test_races.py with the client's copy and the key warm, so
    every racer starts in front of Flask: one claim wins, each loser writes nothing
    there and the view, claiming again, sees the reuse and takes back the winner's
    tokens (committed with the claim before any loser's claim could fail)."""
    from tests.oidc.test_races import ATTEMPTS, at_once

    code, req = new_code(portal, flow)
    responses = at_once(app, lambda client: portal.exchange(client, code, req))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (ATTEMPTS - 1), statuses
    assert {r.get_json()["error"] for r in responses if r.status_code == 400} == {"invalid_grant"}
    assert len(audit_events(app, audit.OIDC_CODE_REUSED)) == ATTEMPTS - 1
    rows = issued_from(app, code)
    assert len(rows) == 1 and rows[0].revoked_at is not None


def test_issue11_another_clients_code_is_refused_and_kept(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    other_id, other_secret = register_client(app, "--name", "Other", "--redirect-uri", CALLBACK,
                                             "--trusted")
    other = RelyingParty(app, other_id, other_secret, CALLBACK)
    exchange(other, "warm-the-copy", Request())
    code, req = new_code(portal, flow)
    handed = witness.handed
    refused = exchange(other, code, req)
    assert witness.handed == handed + 1
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert not used(app, code) and not audit_events(app, audit.OIDC_CODE_REUSED)
    assert exchange(portal, code, req).status_code == 200


def refusal_cases(portal: RelyingParty) -> list[tuple[str, Callable[[str, Request], dict[str, str]]]]:
    good = lambda code, req: {"grant_type": CODE, "code": code,  # noqa: E731
                              "redirect_uri": portal.redirect_uri, "code_verifier": req.verifier}
    return [
        ("wrong redirect_uri", lambda c, r: {**good(c, r), "redirect_uri": CALLBACK + "/other"}),
        ("no redirect_uri", lambda c, r: {k: v for k, v in good(c, r).items() if k != "redirect_uri"}),
        ("wrong verifier", lambda c, r: {**good(c, r), "code_verifier": "v" * 64}),
        ("short verifier", lambda c, r: {**good(c, r), "code_verifier": "v" * 42}),
        ("no verifier", lambda c, r: {k: v for k, v in good(c, r).items() if k != "code_verifier"}),
        ("the challenge as verifier", lambda c, r: {**good(c, r), "code_verifier": s256(r.verifier)}),
    ]


def test_issue11_s31_s34_a_wrong_redirect_uri_or_verifier_gets_the_views_answer(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask) -> None:  # type: ignore[no-untyped-def]
    """Each handed on with nothing written by the layer; the view refuses it and keeps
    the code used (S32), so the right request after it is a reuse."""
    for name, make in refusal_cases(portal):
        codes = [new_code(portal, flow) for _ in range(2)]
        handed = witness.handed
        fast = portal.token(app.test_client(), make(*codes[0]))
        assert witness.handed == handed + 1, name
        through_flask(True)
        slow = portal.token(app.test_client(), make(*codes[1]))
        through_flask(False)
        assert exactly(fast) == exactly(slow), name
        assert fast.status_code == 400, name
        assert used(app, codes[0][0]) and not issued_from(app, codes[0][0]), name
        assert exchange(portal, *codes[0]).status_code == 400, name


def test_issue11_plain_pkce_and_no_challenge_go_to_the_view(make_app) -> None:  # type: ignore[no-untyped-def]
    """A portal opted out of PKCE (``--pkce optional``) exchanging a code without a
    challenge, and a code whose challenge is plain (made here: /authorize refuses it):
    the layer answers neither; the view answers both."""
    app = make_app()
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "Legacy", "--redirect-uri", CALLBACK,
                                        "--trusted", "--pkce", "optional")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    flow = full_flow(portal)
    layer = layer_of(app)
    seen = Witness(layer)
    layer.app = seen
    req = Request()
    code = sign_in_through(portal, flow.browser, req, code_challenge=None,
                           code_challenge_method=None)["code"]
    handed = seen.handed
    legacy = portal.token(app.test_client(), {"grant_type": CODE, "code": code,
                                              "redirect_uri": CALLBACK})
    assert legacy.status_code == 200 and seen.handed == handed + 1
    code, req = new_code(portal, flow)
    with app.extensions["clef"].session_factory() as db:
        db.execute(update(AuthorizationCode).where(AuthorizationCode.code_hash == token_hash(code))
                   .values(code_challenge=req.verifier, code_challenge_method="plain"))
        db.commit()
    handed = seen.handed
    plain = exchange(portal, code, req)
    assert seen.handed == handed + 1  # whatever the view answers (here: Authlib's plain check)
    assert plain.status_code == 200 and used(app, code)


def test_issue11_an_expired_code_is_the_views_400(app: Flask, portal: RelyingParty, flow: Flow,
                                                   witness: Witness, clock) -> None:  # type: ignore[no-untyped-def]
    code, req = new_code(portal, flow)
    clock.advance(seconds=app.extensions["clef"].settings.oidc.code_lifetime_seconds + 1)
    handed = witness.handed
    refused = exchange(portal, code, req)
    assert witness.handed == handed + 1
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant"
    assert not issued_from(app, code)


def test_issue11_d10_a_code_whose_session_ended_gets_nothing(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness) -> None:
    """Signed out (the code dropped with the session), the session expired with the code
    kept (the claim's SQL decides), the account revoked with the code kept."""
    code, req = new_code(portal, flow)
    flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})
    assert exchange(portal, code, req).status_code == 400
    for end in ("expired", "revoked"):
        browser = app.test_client()
        req = Request()
        code = sign_in_through(portal, browser, req)["code"]
        with app.extensions["clef"].session_factory() as db:
            if end == "expired":
                past = app.extensions["clef"].clock.now() - timedelta(seconds=1)
                db.execute(update(WebSession).where(WebSession.account_id.is_not(None))
                           .values(expires_at=past))
            else:
                db.execute(update(Account).values(status=REVOKED))
            db.commit()
        handed = witness.handed
        refused = exchange(portal, code, req)
        assert witness.handed == handed + 1, end
        assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_grant", end
        assert not issued_from(app, code), end
        if end == "expired":
            with app.extensions["clef"].session_factory() as db:
                db.execute(update(WebSession).values(expires_at=None))
                db.commit()


def test_issue11_a_secret_rotated_on_another_instance(app: Flask, portal: RelyingParty, flow: Flow,
                                                      make_app, witness: Witness) -> None:  # type: ignore[no-untyped-def]
    code, req = new_code(portal, flow)
    result = run_cli(make_app(), "clients", "rotate-secret", portal.client_id)
    assert result.exit_code == 0, result.output
    new_secret = result.output.split()[-1]
    old = exchange(portal, code, req)  # the copy here still has the old secret
    assert old.status_code == 401 and old.get_json()["error"] == "invalid_client"
    assert not used(app, code) and not audit_events(app, audit.OIDC_CODE_REUSED)
    renewed = exchange(RelyingParty(app, portal.client_id, new_secret, CALLBACK), code, req)
    assert renewed.status_code == 200, renewed.get_data(as_text=True)


def test_issue11_a_client_removed_on_another_instance_gets_nothing(
        app: Flask, portal: RelyingParty, flow: Flow, make_app, witness: Witness) -> None:  # type: ignore[no-untyped-def]
    code, req = new_code(portal, flow)
    assert run_cli(make_app(), "clients", "remove", portal.client_id).exit_code == 0
    handed = witness.handed
    refused = exchange(portal, code, req)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    assert witness.handed == handed + 1
    assert not audit_events(app, audit.OIDC_CODE_REUSED) and not issued_from(app, code)


def test_issue11_a_public_client_and_a_key_not_open_go_to_the_view(
        app: Flask, flow: Flow, portal: RelyingParty, witness: Witness) -> None:
    public_id, _ = register_client(app, "--name", "App", "--redirect-uri", CALLBACK, "--public",
                                   "--trusted")
    public = RelyingParty(app, public_id, None, CALLBACK)
    for rp, handed_on in ((public, 1), ("a new worker", 1), (portal, 0)):
        if rp == "a new worker":  # no key open yet: the view opens it
            app.extensions["clef.oidc"].signing_keys._opened.clear()
            rp = portal
        assert isinstance(rp, RelyingParty)
        code, req = new_code(rp, flow)
        handed = witness.handed
        assert exchange(rp, code, req).status_code == 200
        assert witness.handed == handed + handed_on


def test_issue11_unusual_exchanges_go_to_flask_unchanged(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask) -> None:  # type: ignore[no-untyped-def]
    """Each is handed on (nothing written in front of Flask) and answered as the view
    answers it, from a fresh code each way."""
    secret = portal.secret or ""
    good = {"Authorization": basic(portal.client_id, secret)}
    form = "grant_type=authorization_code&code={code}&redirect_uri={uri}&code_verifier={verifier}"
    unusual: list[tuple[str, dict[str, str], dict[str, Any]]] = [
        (form, {"Authorization": "Basic !!!"}, {}),
        (form, {"Authorization": basic("unknown", secret)}, {}),
        (form, {"Authorization": basic(portal.client_id, "x" * 43)}, {}),
        (form, {"Authorization": basic(portal.client_id, "%41" + secret)}, {}),
        (form + "&extra=1", good, {}),
        (form + "&scope=openid", good, {}),
        (form + "&code=other", good, {}),
        (form + "&redirect_uri={uri}", good, {}),
        (form + f"&client_id={portal.client_id}&client_secret={secret}", good, {}),
        (form + f"&client_id={portal.client_id}", {}, {}),
        (form.replace("&code_verifier={verifier}", ""), good, {}),
        (form.replace("{code}", "{code}%00"), good, {}),
        (form.replace("{uri}", "{uri}%00"), good, {}),
        (form.replace("{uri}", "{uri}\x00"), good, {}),
        (form.replace("{uri}", "{uri}%20"), good, {}),
        (form.replace("{uri}", "{uri}+"), good, {}),
        (form.replace("{uri}", "{uri}%C3%A9"), good, {}),
        (form.replace("{uri}", "{uri}%zz"), good, {}),
        (form.replace("{uri}", "https%3A//portal.example/callback%23x"), good, {}),
        (form.replace("{uri}", "https:%2F%2Fportal%2Eexample%2Fcallback"), good, {}),  # equal
        (form.replace("authorization_code", "authorization%5Fcode"), good, {}),
        (form + "&" + "a" * 5000, good, {}),
        (form, {**good, "User-Agent": "portal\x00lib"}, {}),
        (form, {**good, "Host": "evil.example@127.0.0.1"}, {}),
        (form, {**good, "Transfer-Encoding": "chunked"}, {}),
        (form, good, {"query_string": "code=other"}),
        (form, good, {"content_type": "application/json"}),
        (form, good, {"base_url": "http://idp.example"}),  # plain http to a remote host
    ]
    for template, headers, extra in unusual:
        answers = []
        for slow in (False, True):
            code, req = new_code(portal, flow)
            body = template.replace("{code}", code).replace("{uri}", CALLBACK) \
                .replace("{verifier}", req.verifier)
            ask = {"data": body, "headers": headers,
                   "content_type": "application/x-www-form-urlencoded", **extra}
            through_flask(slow)
            before = witness.handed
            answers.append(exactly(app.test_client().post("/token", **ask)))
            through_flask(False)
            if not slow and "portal%2Eexample" not in body:
                assert witness.handed == before + 1, (body, headers, extra)
        fast, slow_answer = answers
        if fast[0].startswith("200"):
            assert slow_answer[0] == fast[0], (template, headers, extra)
            assert list(json.loads(fast[1])) == list(json.loads(slow_answer[1]))
        else:
            assert fast == slow_answer, (template, headers, extra)


def test_issue11_the_layer_reads_a_redirect_uri_as_werkzeug_reads_it() -> None:
    """``token_request.decoded`` against the form parser Werkzeug uses (``parse_qsl``):
    where the layer reads a value, it reads what Flask reads."""
    values = ["https%3A%2F%2Fportal.example%2Fcallback", "https://portal.example/cb?x=1;y=2",
              "https://p.example/%7Euser", "https://p.example/a%2Bb", "https://p.example/%25",
              "a%2fb%3a", "https://p.example/!$'()*,=@", "x%41y", "%7E"]
    for value in values:
        read = decoded(value)
        assert read is not None, value
        assert dict(parse_qsl(f"v={value}", keep_blank_values=True,
                              errors="werkzeug.url_quote")) == {"v": read}
    for refused in ["a+b", "a%20b", "a%00", "%C3%A9", "%zz", "a%2", "a b", "a#b", "a[b]", "",
                    "a%0Ab", "\x00"]:
        assert decoded(refused) is None, refused


def test_issue11_s41_the_limit_counts_each_exchange_once(make_app, live_store) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit={"token_per_client": "3/minute"})
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK, "--trusted")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    flow = full_flow(portal)  # 1, through Flask
    layer = layer_of(app)
    seen = Witness(layer)
    layer.app = seen
    code, req = new_code(portal, flow)
    handed = seen.handed
    assert exchange(portal, code, req).status_code == 200 and seen.handed == handed  # 2
    bad = exchange(portal, code, req)  # 3: a replay, counted in front, handed on, not again
    assert bad.status_code == 400 and seen.handed == handed + 1
    code, req = new_code(portal, flow)
    handed = seen.handed
    refused = exchange(portal, code, req)  # 4: over the limit, counted in front
    assert seen.handed == handed + 1
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert refused.headers["Cache-Control"] == "no-store"
    assert not used(app, code), "the refused request used nothing up"


def test_issue11_d4_the_limit_store_down_leaves_the_count_to_the_view(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, monkeypatch,
        live_store) -> None:  # type: ignore[no-untyped-def]
    code, req = new_code(portal, flow)
    calls: list[Any] = []

    def down(*args: Any, **kwargs: Any) -> bool:
        calls.append(args)
        raise ConnectionError("the store is down")

    monkeypatch.setattr(limiter.limiter, "hit", down)
    handed = witness.handed
    answered = exchange(portal, code, req)
    assert answered.status_code == 200, answered.get_data(as_text=True)
    assert witness.handed == handed + 1 and calls, "the layer tried the store, then handed it on"
    assert limiter._storage_dead, "the view counted it with the in-memory fallback"


def test_issue11_the_database_down_is_flasks_json_503(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, through_flask,
        monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    code, req = new_code(portal, flow)
    engine = app.extensions["clef"].engine

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

    monkeypatch.setattr(engine, "connect", refused)
    monkeypatch.setattr(engine, "begin", refused)
    handed = witness.handed
    fast = exchange(portal, code, req)
    assert witness.handed == handed + 1
    through_flask(True)
    slow = exchange(portal, code, req)
    assert exactly(fast) == exactly(slow)
    assert fast.status_code == 503 and fast.headers["Retry-After"] == "30"
    assert fast.headers["Content-Type"] == "application/json"
    assert b"refused" not in fast.get_data()
    assert "database unavailable for a code exchange in front of Flask" in caplog.text
    assert "Traceback" not in caplog.text


def test_issue11_a_failure_after_the_claim_writes_nothing(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, monkeypatch,
        caplog, backend: str) -> None:  # type: ignore[no-untyped-def]
    """SQLite: a bug while signing rolls the claim back, and the view exchanges the code.
    PostgreSQL (the code used by the one statement before signing): the tokens stored
    are revoked, and the view answers as for a used code (tests/oidc/
    test_issue11_code_one_statement.py)."""
    if backend == "postgresql":
        pytest.skip("the one statement: tests/oidc/test_issue11_code_one_statement.py")
    layer = layer_of(app)

    def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(layer.exchanger, "_id_token", broken)
    code, req = new_code(portal, flow)
    handed = witness.handed
    answer = exchange(portal, code, req)
    assert witness.handed == handed + 1 and answer.status_code == 200
    assert len(issued_from(app, code)) == 1
    assert "code exchange failed in front of Flask" in caplog.text


def test_issue11_counted_and_timed(app: Flask, portal: RelyingParty, flow: Flow,
                                   witness: Witness) -> None:
    issued = metrics.TOKENS.labels(CODE)
    timed = metrics.LATENCY.labels("oidc.token", "POST")
    before = issued._value.get(), sum(bucket.get() for bucket in timed._buckets)
    code, req = new_code(portal, flow)
    assert exchange(portal, code, req).status_code == 200
    after = issued._value.get(), sum(bucket.get() for bucket in timed._buckets)
    assert after == (before[0] + 1, before[1] + 1)


def test_issue11_behind_a_trusted_proxy(make_app) -> None:  # type: ignore[no-untyped-def]
    """Inside ProxyFix: the forwarded scheme is the one Authlib's transport rule sees; a
    NUL in the forwarded address meets the input guard (S28)."""
    app = make_app(rate_limit={"trusted_proxies": 1})
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK, "--trusted")
    portal = RelyingParty(app, client_id, secret, CALLBACK)
    flow = full_flow(portal)
    layer = layer_of(app)
    seen = Witness(layer)
    layer.app = seen
    auth = {"Authorization": basic(client_id, secret or "")}
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    code, req = new_code(portal, flow)
    handed = seen.handed
    answered = post(app, encoded_body(portal, code, req), {**auth, **forwarded},
                    base_url="http://idp.example")
    assert answered.status_code == 200 and seen.handed == handed
    code, req = new_code(portal, flow)
    handed = seen.handed
    nul = post(app, encoded_body(portal, code, req), {**auth, "X-Forwarded-For": "10.0.0.1\x00"})
    assert seen.handed == handed + 1
    assert nul.status_code == 400 and nul.get_json()["error"] == "invalid_request"
    plain = post(app, encoded_body(portal, code, req), {**auth, "X-Forwarded-Proto": "http"},
                 base_url="http://idp.example")
    assert seen.handed == handed + 2 and plain.status_code != 200  # Authlib's rule: not over http
    assert exchange(portal, code, req).status_code == 200


@pytest.mark.parametrize("host", INVALID_HOSTS)
def test_s17_a_code_exchange_with_a_host_werkzeug_finds_invalid_is_refused_as_flask_refuses_it(
        app: Flask, portal: RelyingParty, flow: Flow, through_flask, host: str) -> None:
    req = Request()
    code = sign_in_through(portal, flow.browser, req)["code"]
    headers = {"Authorization": basic(portal.client_id, portal.secret or ""), "Host": host}
    body = (f"grant_type=authorization_code&code={code}"
            f"&redirect_uri={quote(CALLBACK, safe='')}&code_verifier={req.verifier}")
    refused_as_flask_refuses(app, through_flask, body, headers)
