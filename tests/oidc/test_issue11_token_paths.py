"""The token paths in few statements (issue 11), attacked: a refresh token or a code is
claimed by one ``UPDATE ... RETURNING`` that carries its client, limits, account and
sign-in session (D10); UserInfo is one SELECT. Each test abuses one condition folded
into those statements and checks what the folded check must still refuse, and what it
must leave unchanged (S32, S40, S43, D10)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from idp import audit
from idp.models import REVOKED, Account, WebSession
from idp.oidc.liveness import has_live_session
from idp.oidc.models import AuthorizationCode, OAuthToken
from idp.oidc.tokens import token_hash
from tests.oidc.conftest import full_flow, sign_in_through
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.oidc.test_token_statements import _statements, exchange_statements, refresh_statements
from tests.support.records import audit_events


def _refresh(portal: RelyingParty, client, token: str):
    return portal.token(client, {"grant_type": "refresh_token", "refresh_token": token})


def _row(app, token: str) -> OAuthToken:
    with app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(token))).one()
        db.expunge(row)
        return row


def _family_revoked(app, token: str) -> bool:
    family = _row(app, token).family
    with app.extensions["clef"].session_factory() as db:
        rows = db.scalars(select(OAuthToken).where(OAuthToken.family == family)).all()
        return all(r.revoked_at is not None for r in rows)


def _write(app, statement) -> None:
    with app.extensions["clef"].session_factory() as db:
        db.execute(statement)
        db.commit()


def _userinfo(client, access_token: str) -> int:
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access_token}"}).status_code


def _other_portal(app) -> RelyingParty:
    other_id, other_secret = register_client(app, "--name", "Other", "--redirect-uri",
                                             "https://other.example/cb", "--trusted")
    return RelyingParty(app, other_id, other_secret, "https://other.example/cb")


def test_issue11_refresh_is_two_statements_userinfo_one_exchange_two(portal, alice, backend):
    """The counts the issue asks for: a refresh is the claim and the INSERT, one commit
    (the client from this process's copy, its revision checked by the claim: was 3
    statements with the client's SELECT); UserInfo one SELECT and no commit; an
    exchange the same two (the signing key's kid is known from memory), one commit; on
    PostgreSQL each of the two is one statement in autocommit, no commit."""
    server = portal.app.test_client()
    flow = full_flow(portal)
    req = Request()
    params = sign_in_through(portal, flow.browser, req)
    response, seen, commits = _statements(portal.app, lambda: portal.exchange(server, params["code"], req))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (len(seen), commits) == exchange_statements(backend), seen  # PostgreSQL: 1, 0
    assert "id_token" in response.get_json()
    response, seen, commits = _statements(
        portal.app, lambda: _refresh(portal, server, flow.tokens["refresh_token"]))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (len(seen), commits) == refresh_statements(backend), seen  # PostgreSQL: 1, 0
    access = response.get_json()["access_token"]
    answer, seen, commits = _statements(portal.app, lambda: server.get(
        "/userinfo", headers={"Authorization": f"Bearer {access}"}))
    assert answer.status_code == 200 and commits == 0 and len(seen) == 1, seen
    assert answer.get_json()["sub"] == flow.claims["sub"]


def test_s40_another_clients_refresh_token_changes_nothing(app, portal, alice):
    flow = full_flow(portal)
    token = flow.tokens["refresh_token"]
    answer = _refresh(_other_portal(app), app.test_client(), token)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    row = _row(app, token)
    assert row.rotated_at is None and row.revoked_at is None
    assert _refresh(portal, app.test_client(), token).status_code == 200


def test_s40_an_expired_refresh_token_changes_nothing(app, portal, alice, clock):
    flow = full_flow(portal)
    token = flow.tokens["refresh_token"]
    clock.advance(minutes=app.extensions["clef"].settings.oidc.refresh_idle_minutes)
    assert _refresh(portal, app.test_client(), token).status_code == 400
    row = _row(app, token)
    assert row.rotated_at is None and row.revoked_at is None
    assert not audit_events(app, audit.OIDC_REFRESH_REUSED)


def test_s40_a_reused_refresh_token_revokes_its_family_and_is_audited(app, portal, alice):
    flow = full_flow(portal)
    token = flow.tokens["refresh_token"]
    newer = _refresh(portal, app.test_client(), token).get_json()
    assert _refresh(portal, app.test_client(), token).status_code == 400
    assert _family_revoked(app, token)
    assert _userinfo(app.test_client(), newer["access_token"]) == 401
    assert len(audit_events(app, audit.OIDC_REFRESH_REUSED)) == 1


def test_d7_a_revoked_accounts_tokens_are_refused_even_before_they_are_revoked(app, portal, alice):
    """Only the account's status changes (the tokens are not revoked with it here): the
    claim and the UserInfo look-up still refuse them, and the refresh token stays
    unused."""
    flow = full_flow(portal)
    _write(app, update(Account).where(Account.username == "alice").values(status=REVOKED))
    assert _refresh(portal, app.test_client(), flow.tokens["refresh_token"]).status_code == 400
    assert _row(app, flow.tokens["refresh_token"]).rotated_at is None
    assert _userinfo(app.test_client(), flow.tokens["access_token"]) == 401


@pytest.mark.parametrize("how", ["absolute", "idle", "gone"])
def test_d10_tokens_of_a_dead_session_are_refused_and_the_family_revoked(app, portal, alice,
                                                                         clock, how):
    """The session is past its absolute limit, past its idle limit (its row not purged
    yet), or its row is gone without the provider being told: UserInfo refuses the
    access token, a refresh is refused and revokes the family (D10)."""
    flow = full_flow(portal)
    now = clock.now()
    idle = app.extensions["clef"].settings.session.idle_minutes
    sessions = update(WebSession).where(WebSession.account_id.is_not(None))
    if how == "absolute":
        _write(app, sessions.values(expires_at=now))
    elif how == "idle":
        _write(app, sessions.values(last_seen_at=now - timedelta(minutes=idle)))
    else:
        from sqlalchemy import delete
        _write(app, delete(WebSession).where(WebSession.account_id.is_not(None)))
    assert _userinfo(app.test_client(), flow.tokens["access_token"]) == 401
    assert _refresh(portal, app.test_client(), flow.tokens["refresh_token"]).status_code == 400
    assert _family_revoked(app, flow.tokens["refresh_token"])


def test_d10_the_sql_liveness_agrees_with_the_session_store_at_its_limits(app, alice, clock):
    """``live_session`` (SQL) is the negation of ``SessionStore.is_expired`` (Python),
    to the microsecond, at the idle and the absolute limit."""
    flow = full_flow_session(app)
    store = app.extensions["clef"].sessions
    now = clock.now()
    tick = timedelta(microseconds=1)
    cases = [dict(last_seen_at=now - store.idle), dict(last_seen_at=now - store.idle + tick),
             dict(expires_at=now), dict(expires_at=now + tick), dict(expires_at=None)]
    with app.extensions["clef"].session_factory() as db:
        record = db.scalars(select(WebSession).where(WebSession.id == flow)).one()
        sid = record.data["oidc.sid"]
        for values in cases:
            record.last_seen_at, record.expires_at = now, now + timedelta(hours=1)
            for name, value in values.items():
                setattr(record, name, value)
            db.commit()
            db.refresh(record)
            assert has_live_session(db, store, sid, record.account_id, now) \
                == (not store.is_expired(record, now)), values
        assert not has_live_session(db, store, "", record.account_id, now)
        assert not has_live_session(db, store, sid, record.account_id + 1, now)


def full_flow_session(app) -> str:
    """A signed-in session that has been used with a portal: its row's id."""
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri",
                                        "https://p.example/cb", "--trusted")
    full_flow(RelyingParty(app, client_id, secret, "https://p.example/cb"))
    with app.extensions["clef"].session_factory() as db:
        rows = [r for r in db.scalars(select(WebSession)) if "oidc.sid" in (r.data or {})]
        assert len(rows) == 1
        return rows[0].id


def test_s32_a_code_of_another_client_changes_nothing(app, portal, alice):
    req = Request()
    params = sign_in_through(portal, app.test_client(), req)
    other = _other_portal(app)
    answer = other.exchange(app.test_client(), params["code"], req, redirect_uri=portal.redirect_uri)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    assert portal.exchange(app.test_client(), params["code"], req).status_code == 200
    assert not audit_events(app, audit.OIDC_CODE_REUSED)


def test_s32_a_code_refused_for_its_verifier_stays_used(app, portal, alice):
    """The claim comes before Authlib's PKCE and redirect_uri checks: a code presented
    with a wrong verifier is used up all the same, so the right one is a reuse."""
    req = Request()
    params = sign_in_through(portal, app.test_client(), req)
    wrong = portal.exchange(app.test_client(), params["code"], req, code_verifier="x" * 50)
    assert wrong.status_code == 400
    assert portal.exchange(app.test_client(), params["code"], req).status_code == 400
    assert len(audit_events(app, audit.OIDC_CODE_REUSED)) == 1


def test_s32_a_reused_code_takes_back_its_tokens(app, portal, alice):
    req = Request()
    params = sign_in_through(portal, app.test_client(), req)
    won = portal.exchange(app.test_client(), params["code"], req).get_json()
    assert portal.exchange(app.test_client(), params["code"], req).status_code == 400
    assert _userinfo(app.test_client(), won["access_token"]) == 401
    assert _refresh(portal, app.test_client(), won["refresh_token"]).status_code == 400
    with app.extensions["clef"].session_factory() as db:
        code = db.get(AuthorizationCode, token_hash(params["code"]))
        assert code is not None and code.reused_at is not None


@pytest.mark.parametrize("how", ["expired", "session", "account"])
def test_d10_a_dead_code_is_refused_and_not_taken_as_a_reuse(app, portal, alice, clock, how):
    req = Request()
    params = sign_in_through(portal, app.test_client(), req)
    if how == "expired":
        clock.advance(seconds=app.extensions["clef"].settings.oidc.code_lifetime_seconds)
    elif how == "session":
        _write(app, update(WebSession).where(WebSession.account_id.is_not(None))
               .values(expires_at=clock.now()))
    else:
        _write(app, update(Account).where(Account.username == "alice").values(status=REVOKED))
    answer = portal.exchange(app.test_client(), params["code"], req)
    assert answer.status_code == 400 and answer.get_json()["error"] == "invalid_grant"
    assert not audit_events(app, audit.OIDC_CODE_REUSED)


def test_a_huge_or_malformed_token_is_a_clean_4xx(app, portal, alice):
    full_flow(portal)
    assert _refresh(portal, app.test_client(), "x" * 100_000).status_code == 413
    for value in ("x" * 8_000, "\x00\u00e9\U0001f600", "%00", ""):
        assert _refresh(portal, app.test_client(), value).status_code == 400
        assert _userinfo(app.test_client(), value) in (400, 401)


def test_issue11_a_session_cookie_sent_to_the_portal_endpoints_is_not_read(portal, alice, backend):
    """/token, /userinfo, /revoke and /introspect are called by portals' servers with
    their own credentials: a person's session cookie sent along is neither looked up
    (the same counts as without it) nor lends its session (a cookie alone is no bearer
    token, and the session is not touched)."""
    flow = full_flow(portal)
    browser = flow.browser  # holds the signed-in person's session cookie
    assert browser.get("/account").status_code == 200
    response, seen, commits = _statements(
        portal.app, lambda: _refresh(portal, browser, flow.tokens["refresh_token"]))
    # the claim and the INSERT (the client from this process's copy; was 3)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert (len(seen), commits) == refresh_statements(backend), seen
    assert not any("web_sessions" in statement.split(" WHERE")[0] for statement in seen), seen
    access = response.get_json()["access_token"]
    answer, seen, commits = _statements(portal.app, lambda: browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {access}"}))
    assert answer.status_code == 200 and commits == 0 and len(seen) == 1, seen
    answer, seen, commits = _statements(portal.app, lambda: browser.get("/userinfo"))
    assert answer.status_code == 401 and commits == 0 and not seen, seen
    assert "Set-Cookie" not in answer.headers
    # The person's session is still theirs, unchanged by these calls.
    assert browser.get("/account").status_code == 200
