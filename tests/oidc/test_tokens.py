"""Refresh tokens (S40), RFC 7009 revocation and RFC 7662 introspection, pairwise
subjects (S45, J13), signing keys and their rotation (S36, S42)."""

from __future__ import annotations

import base64
import json
from base64 import urlsafe_b64decode
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from idp import audit
from idp.oidc.models import AuthorizationCode, OAuthClient, OAuthToken, SigningKey
from tests.helpers import audit_events, create_account, run_cli
from tests.oidc.conftest import CALLBACK, full_flow
from tests.oidc.rp import RelyingParty, register_client


def refresh(portal: RelyingParty, browser, token: str):
    return portal.token(browser, {"grant_type": "refresh_token", "refresh_token": token})


def test_refresh_tokens_rotate_and_a_reused_one_revokes_the_family_S40(app, portal, alice):
    flow = full_flow(portal)
    first = flow.tokens["refresh_token"]
    second = refresh(portal, flow.browser, first)
    assert second.status_code == 200
    rotated = second.get_json()
    assert rotated["refresh_token"] != first and rotated["access_token"] != flow.tokens["access_token"]
    bearer = {"Authorization": "Bearer " + rotated["access_token"]}
    assert flow.browser.get("/userinfo", headers=bearer).status_code == 200

    reused = refresh(portal, flow.browser, first)  # the old one again: theft suspected
    assert reused.status_code == 400 and reused.get_json()["error"] == "invalid_grant"
    assert flow.browser.get("/userinfo", headers=bearer).status_code == 401
    assert refresh(portal, flow.browser, rotated["refresh_token"]).status_code == 400
    assert audit.OIDC_REFRESH_REUSED in [e.tag for e in audit_events(app)]


def test_refresh_tokens_are_bound_to_their_client_S40(app, portal, alice):
    flow = full_flow(portal)
    other_id, other_secret = register_client(app, "--name", "Other", "--redirect-uri",
                                             "https://other.example/cb", "--trusted")
    other = RelyingParty(app, other_id, other_secret, "https://other.example/cb")
    assert refresh(other, flow.browser, flow.tokens["refresh_token"]).status_code == 400
    assert refresh(portal, flow.browser, flow.tokens["refresh_token"]).status_code == 200


def test_refresh_tokens_die_idle_and_absolutely_S40(app, portal, alice, clock):
    """The portal's server refreshes on its own (no browser cookie): each refresh token
    dies after the idle time, the chain after the absolute time. The person keeps using
    Clef meanwhile: a refresh token never outlives its sign-in session (D10)."""
    settings = app.extensions["clef"].settings.oidc
    idle = app.extensions["clef"].settings.session.idle_minutes
    server = app.test_client()
    flow = full_flow(portal)
    clock.advance(minutes=settings.refresh_idle_minutes)
    assert refresh(portal, server, flow.tokens["refresh_token"]).status_code == 400

    flow = full_flow(portal)
    current = flow.tokens["refresh_token"]
    step = timedelta(minutes=min(settings.refresh_idle_minutes, idle) - 1)
    used = timedelta(0)
    while used + step < timedelta(hours=settings.refresh_absolute_hours):
        clock.advance(seconds=step.total_seconds())
        used += step
        assert flow.browser.get("/").status_code in (200, 302)  # the person is active
        response = refresh(portal, server, current)
        assert response.status_code == 200, used
        current = response.get_json()["refresh_token"]
    clock.advance(seconds=step.total_seconds())
    assert refresh(portal, server, current).status_code == 400


def test_revocation_ends_the_whole_grant_RFC7009(app, portal, alice):
    flow = full_flow(portal)
    response = portal.token(flow.browser, {"token": flow.tokens["refresh_token"],
                                           "token_type_hint": "refresh_token"})
    revoke = flow.browser.post("/revoke", data={"token": flow.tokens["refresh_token"]},
                               headers=_basic(portal))
    assert revoke.status_code == 200
    bearer = {"Authorization": "Bearer " + flow.tokens["access_token"]}
    assert flow.browser.get("/userinfo", headers=bearer).status_code == 401
    assert refresh(portal, flow.browser, flow.tokens["refresh_token"]).status_code == 400
    assert response.status_code == 400  # the token endpoint is not the revocation one
    unauthenticated = flow.browser.post("/revoke", data={"token": flow.tokens["access_token"]})
    assert unauthenticated.status_code == 401


def _basic(rp: RelyingParty) -> dict[str, str]:
    raw = f"{rp.client_id}:{rp.secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def test_introspection_for_the_owning_client_only_RFC7662(app, portal, alice):
    flow = full_flow(portal)
    answer = flow.browser.post("/introspect", data={"token": flow.tokens["access_token"]},
                               headers=_basic(portal)).get_json()
    assert answer["active"] is True and answer["sub"] == flow.claims["sub"]
    assert answer["client_id"] == portal.client_id and answer["scope"] == "openid"
    other_id, other_secret = register_client(app, "--name", "Other", "--redirect-uri",
                                             "https://other.example/cb")
    other = RelyingParty(app, other_id, other_secret, "https://other.example/cb")
    theirs = flow.browser.post("/introspect", data={"token": flow.tokens["access_token"]},
                               headers=_basic(other))
    assert theirs.status_code in (400, 401, 403) or theirs.get_json() == {"active": False}
    flow.browser.post("/revoke", data={"token": flow.tokens["access_token"]}, headers=_basic(portal))
    after = flow.browser.post("/introspect", data={"token": flow.tokens["access_token"]},
                              headers=_basic(portal)).get_json()
    assert after == {"active": False}


# --- subjects -------------------------------------------------------------------------


def test_subjects_are_pairwise_per_sector_S45_J13(app, alice):
    a_id, a_secret = register_client(app, "--name", "A", "--redirect-uri", "https://a.example/cb",
                                     "--trusted")
    a2_id, a2_secret = register_client(app, "--name", "A again", "--redirect-uri",
                                       "https://a.example/other", "--trusted")
    b_id, b_secret = register_client(app, "--name", "B", "--redirect-uri", "https://b.example/cb",
                                     "--trusted")
    browser = app.test_client()
    subs = {}
    for name, cid, secret, uri in (("a", a_id, a_secret, "https://a.example/cb"),
                                   ("a2", a2_id, a2_secret, "https://a.example/other"),
                                   ("b", b_id, b_secret, "https://b.example/cb")):
        flow = full_flow(RelyingParty(app, cid, secret, uri), browser)
        subs[name] = (flow.claims["sub"], flow.claims["sid"])
    assert subs["a"][0] == subs["a2"][0]  # one sector, one subject
    assert subs["a"][0] != subs["b"][0]  # another sector cannot link the person
    assert subs["a"][1] != subs["b"][1]  # nor the session


def test_a_public_subject_when_registered_so(app):
    create_account(app, "alice")
    create_account(app, "bob")
    p_id, p_secret = register_client(app, "--name", "P", "--redirect-uri", "https://p.example/cb",
                                     "--trusted", "--subject", "public")
    q_id, q_secret = register_client(app, "--name", "Q", "--redirect-uri", "https://q.example/cb",
                                     "--trusted", "--subject", "public")
    p = full_flow(RelyingParty(app, p_id, p_secret, "https://p.example/cb"))
    q = full_flow(RelyingParty(app, q_id, q_secret, "https://q.example/cb"))
    bob = full_flow(RelyingParty(app, p_id, p_secret, "https://p.example/cb"), username="bob")
    assert p.claims["sub"] == q.claims["sub"] != bob.claims["sub"]


# --- keys -----------------------------------------------------------------------------


def test_es256_per_client_S36(app, alice):
    cid, secret = register_client(app, "--name", "EC", "--redirect-uri", "https://ec.example/cb",
                                  "--trusted", "--alg", "ES256")
    flow = full_flow(RelyingParty(app, cid, secret, "https://ec.example/cb"))
    header = jwt.decode(flow.tokens["id_token"], KeySet.import_key_set(
        flow.browser.get("/jwks").get_json()), algorithms=["ES256"]).header
    assert header["alg"] == "ES256" and header["kid"].startswith("es256-")


def test_alg_none_and_tampered_tokens_do_not_verify_S36(portal, alice):
    flow = full_flow(portal)
    head, body, signature = flow.tokens["id_token"].split(".")
    tampered = f"{head}.{body[:-2]}AA.{signature}"
    keys = KeySet.import_key_set(flow.browser.get("/jwks").get_json())
    for token in (tampered, f"{head}.{body}."):
        with pytest.raises(JoseError):
            jwt.decode(token, keys, algorithms=["RS256", "ES256"])


def test_key_rotation_publishes_first_and_keeps_old_keys_until_their_tokens_expire_S42(
    app, portal, alice, clock
):
    settings = app.extensions["clef"].settings.oidc
    before = full_flow(portal)
    old_kid = jwt.decode(before.tokens["id_token"], KeySet.import_key_set(
        before.browser.get("/jwks").get_json())).header["kid"]
    result = run_cli(app, "keys", "rotate")
    assert result.exit_code == 0, result.output
    published = {k["kid"] for k in before.browser.get("/jwks").get_json()["keys"]}
    assert old_kid in published and len(published) == 4  # the next keys are already out
    still_old = full_flow(portal)  # not active yet: the old key still signs
    assert _kid(still_old) == old_kid

    clock.advance(minutes=settings.key_publish_lead_minutes)
    after = full_flow(portal)
    assert _kid(after) != old_kid
    keys = KeySet.import_key_set(after.browser.get("/jwks").get_json())
    jwt.decode(still_old.tokens["id_token"], keys)  # tokens from before still verify
    clock.advance(seconds=settings.id_token_lifetime_seconds)
    remaining = {k["kid"] for k in after.browser.get("/jwks").get_json()["keys"]}
    assert old_kid not in remaining and len(remaining) == 2


def _kid(flow) -> str:
    head = flow.tokens["id_token"].split(".")[0]
    return str(json.loads(urlsafe_b64decode(head + "==="))["kid"])


def test_signing_keys_and_client_secrets_are_not_stored_in_clear(app, portal, alice):
    full_flow(portal)
    db = app.extensions["clef"].session_factory()
    try:
        for key in db.scalars(select(SigningKey)):
            assert '"d"' not in key.private_jwk and "-----BEGIN" not in key.private_jwk
        client = db.scalars(select(OAuthClient)).first()
        assert portal.secret not in (client.secret_hash or "")
        for token in db.scalars(select(OAuthToken)):
            assert len(token.access_token_hash) == 64
    finally:
        db.close()
    assert CALLBACK


def test_the_worker_drops_dead_codes_and_tokens_but_keeps_live_ones(app, portal, alice, clock):
    flow = full_flow(portal)
    server = app.test_client()
    settings = app.extensions["clef"].settings.oidc

    def count(model) -> int:
        db = app.extensions["clef"].session_factory()
        try:
            return len(db.scalars(select(model)).all())
        finally:
            db.close()

    assert run_cli(app, "oidc", "deliver").exit_code == 0
    assert count(OAuthToken) == 1 and count(AuthorizationCode) == 1  # both still live
    clock.advance(seconds=settings.code_lifetime_seconds)
    run_cli(app, "oidc", "deliver")
    assert count(AuthorizationCode) == 0 and count(OAuthToken) == 1
    assert refresh(portal, server, flow.tokens["refresh_token"]).status_code == 200
    clock.advance(minutes=settings.refresh_idle_minutes)
    run_cli(app, "oidc", "deliver")
    assert count(OAuthToken) == 0


def test_without_signing_keys_the_first_token_makes_them_S36_S42(app, portal, alice):
    """Test databases start with keys made once per run (tests/conftest.py); a real one
    starts empty, and the first token makes and keeps one key per algorithm."""
    db = app.extensions["clef"].session_factory()
    try:
        seeded = set(db.scalars(select(SigningKey.kid)))
        db.execute(SigningKey.__table__.delete())
        db.commit()
    finally:
        db.close()
    flow = full_flow(portal)  # the ID token verifies against the published keys
    db = app.extensions["clef"].session_factory()
    try:
        made = {key.kid: key.alg for key in db.scalars(select(SigningKey))}
    finally:
        db.close()
    assert sorted(made.values()) == ["ES256", "RS256"] and not seeded & set(made)
    assert _kid(flow) in made


def _writes_during(app, action) -> list[str]:
    """The INSERT, UPDATE and DELETE statements (and commits) sent while ``action`` runs."""
    from sqlalchemy import event

    engine = app.extensions["clef"].engine
    seen: list[str] = []

    def statement(_conn, _cursor, text, *_args):
        if text.lstrip().split(" ", 1)[0].upper() in ("INSERT", "UPDATE", "DELETE"):
            seen.append(text)

    def commit(_conn):
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        action()
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)
    return seen


def test_i10_get_jwks_never_writes(app):
    """GET /jwks is open to anyone: it reads the published keys and writes nothing,
    not even on a database without keys (they are made by ``clef db upgrade``)."""
    db = app.extensions["clef"].session_factory()
    db.execute(SigningKey.__table__.delete())
    db.commit()
    db.close()
    answers = []
    assert _writes_during(app, lambda: answers.append(app.test_client().get("/jwks"))) == []
    assert answers[0].status_code == 200 and answers[0].get_json() == {"keys": []}


def test_i10_db_upgrade_makes_the_signing_keys(app):
    db = app.extensions["clef"].session_factory()
    db.execute(SigningKey.__table__.delete())
    db.commit()
    result = run_cli(app, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert {row.alg for row in db.scalars(select(SigningKey))} == {"RS256", "ES256"}
    db.close()
    keys = app.test_client().get("/jwks").get_json()["keys"]
    assert {key["kty"] for key in keys} == {"RSA", "EC"}
