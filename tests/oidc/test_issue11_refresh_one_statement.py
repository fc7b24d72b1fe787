"""A refresh on PostgreSQL is one statement (issue 11, ``Tokens.rotate_refresh``: the
claim and the successor's INSERT as a data-modifying CTE, in autocommit), attacked: the
successor it writes is the row the two-statement path writes (family, sign-in facts,
limits to the microsecond, the family's absolute limit held), and a request whose
``scope`` parameter Authlib still has to check after the claim never takes it (a
refused scope must leave the refresh token unused). On SQLite the same tests hold the
two-statement path to the same answers."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from idp.oidc.models import OAuthToken
from idp.oidc.tokens import token_hash
from tests.oidc.conftest import full_flow
from tests.oidc.rp import RelyingParty
from tests.oidc.test_token_statements import _statements


def _refresh(portal: RelyingParty, token: str, **extra: str):
    return portal.token(portal.app.test_client(),
                        {"grant_type": "refresh_token", "refresh_token": token, **extra})


def _row(app, refresh_token: str) -> OAuthToken:
    with app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(refresh_token))).one()
        db.expunge(row)
        return row


def _set_family_limit(app, refresh_token: str, until) -> None:
    with app.extensions["clef"].session_factory() as db:
        db.execute(update(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(refresh_token)).values(
            family_expires_at=until))
        db.commit()


def test_the_successor_carries_the_family_and_its_limits(portal, alice, clock):
    flow = full_flow(portal)
    parent = _row(portal.app, flow.tokens["refresh_token"])
    response = _refresh(portal, flow.tokens["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    child = _row(portal.app, body["refresh_token"])
    assert child.access_token_hash == token_hash(body["access_token"])
    carried = ("client_id", "account_id", "scope", "family", "code_hash", "sid",
               "auth_time", "amr", "acr", "family_expires_at")
    assert {n: getattr(child, n) for n in carried} == {n: getattr(parent, n) for n in carried}
    now = clock.now()
    settings = portal.app.extensions["clef"].settings.oidc
    assert child.issued_at == now and child.rotated_at is None and child.revoked_at is None
    assert child.access_expires_at == now + timedelta(seconds=settings.access_token_lifetime_seconds)
    assert child.refresh_expires_at == now + timedelta(minutes=settings.refresh_idle_minutes)
    assert body["expires_in"] == settings.access_token_lifetime_seconds
    assert _row(portal.app, flow.tokens["refresh_token"]).rotated_at == now


def test_the_successor_never_outlives_its_family(portal, alice, clock):
    flow = full_flow(portal)
    family_ends = clock.now() + timedelta(minutes=1, microseconds=7)
    _set_family_limit(portal.app, flow.tokens["refresh_token"], family_ends)
    response = _refresh(portal, flow.tokens["refresh_token"])
    assert response.status_code == 200, response.get_data(as_text=True)
    child = _row(portal.app, response.get_json()["refresh_token"])
    assert child.refresh_expires_at == family_ends and child.family_expires_at == family_ends


def test_a_refused_scope_leaves_the_refresh_token_unused(portal, alice):
    """Authlib checks a ``scope`` parameter after the claim: such a request takes the
    transaction, whose refusal rolls the claim back (the one statement would have
    committed it already)."""
    flow = full_flow(portal)
    refused = _refresh(portal, flow.tokens["refresh_token"], scope="openid admin")
    assert refused.status_code == 400 and refused.get_json()["error"] == "invalid_scope"
    assert _row(portal.app, flow.tokens["refresh_token"]).rotated_at is None
    narrower, seen, commits = _statements(portal.app, lambda: _refresh(
        portal, flow.tokens["refresh_token"], scope="openid"))
    assert narrower.status_code == 200, narrower.get_data(as_text=True)
    token_statements = [s for s in seen if "oauth_tokens" in s]
    assert (len(token_statements), commits) == (2, 1), seen  # the claim, the INSERT, a commit
    assert narrower.get_json()["scope"] == "openid"


def test_the_answer_is_the_token_stored(portal, alice):
    """The one statement stores a token made before Authlib asks for one: the answer
    must be that very token (its access token works, its refresh token rotates)."""
    flow = full_flow(portal)
    body = _refresh(portal, flow.tokens["refresh_token"]).get_json()
    server = portal.app.test_client()
    assert server.get("/userinfo", headers={
        "Authorization": f"Bearer {body['access_token']}"}).status_code == 200
    assert _refresh(portal, body["refresh_token"]).status_code == 200
