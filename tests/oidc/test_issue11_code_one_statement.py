"""A code exchange on PostgreSQL is one statement (issue 11, ``Tokens.exchange_code_on``:
the claim, the request's checks against the code and the tokens' INSERT as data-modifying
CTEs, in autocommit), attacked; on SQLite the same tests hold the transaction's path
(claim, checks, INSERT, ID token, commit) to the same answers.

- the tokens it stores are the row the view stores (a new family, the sign-in facts,
  every limit to the microsecond), and the answer is those very tokens;
- every check Authlib makes after its claim is in the statement's SQL, each alone: a
  code whose scope is not ``openid``, whose challenge method is ``plain`` though the
  challenge is the verifier's S256, whose challenge is the S256 of a verifier Authlib
  refuses (too short), whose redirect URI differs: nothing written in front of Flask,
  the view's answer;
- the code is used before the ID token is signed: a signature that fails after the
  statement leaves no usable token (revoked there, and by the view's S32 even when that
  revocation fails too) and the client a JSON ``invalid_grant``, never a 500;
- one code sent 20 times at once (exactly one 200, the rest ``invalid_grant``, the
  winner's tokens revoked), another client's code, a wrong verifier, an ended session:
  tests/oidc/test_issue11_code_fast_path.py, on both databases, with this path.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from idp import audit
from idp.oidc.models import AuthorizationCode, OAuthToken
from idp.oidc.tokens import token_hash
from tests.oidc import test_issue11_code_fast_path as fast_path
from tests.oidc.conftest import Flow
from tests.oidc.rp import RelyingParty, s256
from tests.oidc.test_issue11_code_fast_path import exchange, issued_from, new_code, used
from tests.oidc.token_layer import Witness, layer_of
from tests.support.records import audit_events

# The code exchange's fixtures: a trusted portal, a first sign-in, the switch that sends a
# request through Flask (the witness of what the layer hands on is tests/oidc/conftest's).
portal, flow, through_flask = fast_path.portal, fast_path.flow, fast_path.through_flask

# What the stored token takes from its code and its request's time (not its random parts).
_COMPARED = ("client_id", "account_id", "scope", "sid", "auth_time", "amr", "acr", "issued_at",
             "access_expires_at", "refresh_expires_at", "family_expires_at", "rotated_at",
             "revoked_at")


def _set_code(app: Flask, code: str, **values: Any) -> None:
    with app.extensions["clef"].session_factory() as db:
        db.execute(update(AuthorizationCode).where(
            AuthorizationCode.code_hash == token_hash(code)).values(**values))
        db.commit()


def _stored(app: Flask, code: str) -> OAuthToken:
    rows = issued_from(app, code)
    assert len(rows) == 1
    return rows[0]


def test_the_tokens_stored_are_the_views(app: Flask, portal: RelyingParty, flow: Flow,
                                         witness: Witness, through_flask, clock) -> None:  # type: ignore[no-untyped-def]
    """The same code facts and the same clock each way: the same row but for the
    random parts; the family new each time, never another code's."""
    slow_code, slow_req = new_code(portal, flow)
    fast_code, fast_req = new_code(portal, flow)
    through_flask(True)
    slow = exchange(portal, slow_code, slow_req)
    through_flask(False)
    handed = witness.handed
    fast = exchange(portal, fast_code, fast_req)
    assert slow.status_code == fast.status_code == 200 and witness.handed == handed
    slow_row, fast_row = _stored(app, slow_code), _stored(app, fast_code)
    assert {n: getattr(fast_row, n) for n in _COMPARED} == \
        {n: getattr(slow_row, n) for n in _COMPARED}
    body = fast.get_json()
    assert fast_row.access_token_hash == token_hash(body["access_token"])
    assert fast_row.refresh_token_hash == token_hash(body["refresh_token"])
    assert fast_row.code_hash == token_hash(fast_code)
    assert fast_row.family != slow_row.family and len(fast_row.family) == 32
    settings = app.extensions["clef"].settings.oidc
    now = clock.now()
    assert fast_row.issued_at == now and fast_row.revoked_at is None
    assert fast_row.refresh_expires_at == now + timedelta(minutes=settings.refresh_idle_minutes)
    assert fast_row.family_expires_at == now + timedelta(hours=settings.refresh_absolute_hours)
    assert used(app, fast_code)
    server = app.test_client()
    assert server.get("/userinfo", headers={
        "Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    refreshed = portal.token(server, {"grant_type": "refresh_token",
                                      "refresh_token": body["refresh_token"]})
    assert refreshed.status_code == 200, refreshed.get_data(as_text=True)


@pytest.mark.parametrize("change", ["scope", "plain method", "short verifier", "redirect_uri"])
def test_each_check_after_the_claim_is_in_the_statement(app: Flask, portal: RelyingParty,
                                                        flow: Flow, witness: Witness,
                                                        change: str) -> None:
    """Each code below fails exactly one of the checks the statement carries in SQL (or,
    the verifier's shape, makes before it): the layer writes nothing and hands it on; the
    view refuses it (400) and keeps the code used (S32)."""
    code, req = new_code(portal, flow)
    verifier = req.verifier
    if change == "scope":
        _set_code(app, code, scope="openid profile")
    elif change == "plain method":  # the right S256 challenge, named plain
        _set_code(app, code, code_challenge_method="plain")
    elif change == "short verifier":  # a challenge made from a verifier Authlib refuses
        verifier = "v" * 42
        _set_code(app, code, code_challenge=s256(verifier))
    else:
        _set_code(app, code, redirect_uri=portal.redirect_uri + "/other")
    handed = witness.handed
    with app.extensions["clef"].engine.connect() as conn:
        before = conn.execute(select(OAuthToken.id)).all()
    answer = portal.token(app.test_client(), {
        "grant_type": "authorization_code", "code": code, "redirect_uri": portal.redirect_uri,
        "code_verifier": verifier})
    assert witness.handed == handed + 1, "handed on"
    if change == "scope":  # Authlib takes any scope with openid in it: the view issues
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert len(issued_from(app, code)) == 1
    else:
        assert answer.status_code == 400, answer.get_data(as_text=True)
        assert answer.get_json()["error"] in {"invalid_grant", "invalid_request"}
        assert not issued_from(app, code)
    with app.extensions["clef"].engine.connect() as conn:
        assert len(conn.execute(select(OAuthToken.id)).all()) == len(before) + (
            1 if change == "scope" else 0)
    assert used(app, code)


def _broken_signature(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any) -> Any:
        raise RuntimeError("a bug while signing")

    monkeypatch.setattr(layer_of(app).exchanger, "_id_token", broken)


def _taken_back_on_postgresql(app: Flask, code: str, answer: Any, backend: str) -> bool:
    """After a failed signature: on SQLite the view exchanged the code (200, the one
    token live; False); on PostgreSQL the answer is ``invalid_grant`` and the one token
    stored is revoked (True)."""
    rows = issued_from(app, code)
    assert len(rows) == 1
    if backend != "postgresql":
        assert answer.status_code == 200 and rows[0].revoked_at is None
        return False
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    assert rows[0].revoked_at is not None
    return True


def test_a_failed_signature_after_the_statement_leaves_nothing_usable(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, monkeypatch,
        caplog, backend: str) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: the code is used by the statement, then signing fails. The tokens
    stored are revoked and the view answers as for a used code: JSON ``invalid_grant``,
    no 500, nothing of the failure in the answer. SQLite: the transaction rolls back and
    the view exchanges the code (200), as before."""
    _broken_signature(app, monkeypatch)
    code, req = new_code(portal, flow)
    layer = layer_of(app)
    inner = layer.app
    seen_by_the_view: list[list[bool]] = []

    def view(environ: Any, start_response: Any) -> Any:
        """What was stored as the layer handed the request on (before the view's S32)."""
        seen_by_the_view.append([row.revoked_at is not None for row in issued_from(app, code)])
        return inner(environ, start_response)

    monkeypatch.setattr(layer, "app", view)
    handed = witness.handed
    answer = exchange(portal, code, req)
    assert witness.handed == handed + 1
    # PostgreSQL: stored and already revoked by the layer; SQLite: nothing (rolled back).
    assert seen_by_the_view == [[True] if backend == "postgresql" else []]
    assert "code exchange failed in front of Flask" in caplog.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Cache-Control"] == "no-store"
    if not _taken_back_on_postgresql(app, code, answer, backend):
        return
    assert b"a bug" not in answer.get_data() and used(app, code)
    # The view saw a used code: S32 (what it issued taken back, audited).
    assert len(audit_events(app, audit.OIDC_CODE_REUSED)) == 1
    # And the code stays dead: the right request again is refused.
    again = exchange(portal, code, req)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"


def test_when_the_revocation_fails_too_the_views_s32_takes_the_tokens_back(
        app: Flask, portal: RelyingParty, flow: Flow, witness: Witness, monkeypatch,
        backend: str) -> None:  # type: ignore[no-untyped-def]
    """The revocation after a failed signature failing as well (the database gone for a
    moment): the view, finding the code used, still revokes what it issued (S32)."""
    _broken_signature(app, monkeypatch)
    tokens = layer_of(app).exchanger.tokens

    def lost(*_args: Any) -> int:
        raise RuntimeError("the revocation failed too")

    monkeypatch.setattr(tokens, "revoke_from_code_on", lost)
    code, req = new_code(portal, flow)
    answer = exchange(portal, code, req)
    _taken_back_on_postgresql(app, code, answer, backend)


def test_the_statement_is_compiled_once() -> None:
    """Built once with bound values only: it has a cache key, so SQLAlchemy compiles it
    once per process, not at every exchange (issue 11)."""
    from idp.oidc.tokens import _EXCHANGE_CODE

    assert _EXCHANGE_CODE._generate_cache_key() is not None
