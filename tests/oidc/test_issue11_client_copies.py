"""The token endpoint authenticates a client from a per-process copy (issue 11:
``Clients.cached``, no SELECT of the client per request), attacked. The copy must never
matter: a secret rotated or a client removed, here or on another instance (a second
``create_app`` on the same database), takes effect at the next request; a claim refused
because the copy is stale answers ``invalid_client`` and is never taken for a reuse
(no family revoked, nothing audited); the refresh token or code stays usable with the
new secret."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask
from sqlalchemy import select

from idp import audit
from idp.oidc.models import OAuthClient, OAuthToken
from idp.oidc.tokens import token_hash
from tests.oidc.conftest import full_flow, sign_in_through
from tests.oidc.rp import RelyingParty, Request
from tests.oidc.test_token_statements import _statements
from tests.support.app import run_cli
from tests.support.records import audit_events


def _refresh(portal: RelyingParty, token: str):
    return portal.token(portal.app.test_client(),
                        {"grant_type": "refresh_token", "refresh_token": token})


def _rotate(app: Flask, client_id: str) -> str:
    """``clef clients rotate-secret`` as an administrator runs it: the new secret."""
    result = run_cli(app, "clients", "rotate-secret", client_id)
    assert result.exit_code == 0, result.output
    return result.output.split()[-1]


def _revoked(app: Flask, token: str) -> bool:
    with app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(token))).one()
        return row.revoked_at is not None


def _with_secret(portal: RelyingParty, secret: str | None) -> RelyingParty:
    return RelyingParty(portal.app, portal.client_id, secret, portal.redirect_uri)


def _refused_as_client(response) -> None:
    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["error"] == "invalid_client"


def _rotated_elsewhere(make_app: Callable[..., Flask], portal: RelyingParty) -> str:
    """Instance B rotates the secret; instance A (``portal.app``) is not told."""
    return _rotate(make_app(), portal.client_id)


def test_a_refresh_uses_the_copy_and_reads_no_client(portal, alice):
    flow = full_flow(portal)
    _response, seen, _commits = _statements(
        portal.app, lambda: _refresh(portal, flow.tokens["refresh_token"]))
    assert not [s for s in seen if "FROM oauth_clients" in s.split(" WHERE")[0]], seen


def test_a_secret_rotated_on_another_instance_refuses_the_old_one_at_once(
        portal, alice, make_app):
    flow = full_flow(portal)  # instance A holds a copy with the old secret
    new_secret = _rotated_elsewhere(make_app, portal)
    _refused_as_client(_refresh(portal, flow.tokens["refresh_token"]))
    _refused_as_client(_refresh(portal, flow.tokens["refresh_token"]))  # and again
    assert not _revoked(portal.app, flow.tokens["refresh_token"])
    assert not audit_events(portal.app, audit.OIDC_REFRESH_REUSED)
    # the refresh token was not used up by the refused attempts
    renewed = _refresh(_with_secret(portal, new_secret), flow.tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.get_data(as_text=True)


def test_a_code_exchange_with_the_old_secret_is_refused_after_a_rotation_elsewhere(
        portal, alice, make_app):
    flow = full_flow(portal)  # the exchange cached the client on instance A
    req = Request()
    code = sign_in_through(portal, flow.browser, req)["code"]
    new_secret = _rotated_elsewhere(make_app, portal)
    _refused_as_client(portal.exchange(portal.app.test_client(), code, req))
    assert not audit_events(portal.app, audit.OIDC_CODE_REUSED)
    exchanged = _with_secret(portal, new_secret).exchange(portal.app.test_client(), code, req)
    assert exchanged.status_code == 200, exchanged.get_data(as_text=True)


def test_a_used_refresh_token_and_a_stale_copy_revoke_nothing(portal, alice, make_app):
    """A token already rotated, presented with a secret rotated away since: without the
    fresh look at the client this would read as a reuse and revoke the family."""
    flow = full_flow(portal)
    first = _refresh(portal, flow.tokens["refresh_token"])
    assert first.status_code == 200
    _rotated_elsewhere(make_app, portal)
    _refused_as_client(_refresh(portal, flow.tokens["refresh_token"]))
    assert not audit_events(portal.app, audit.OIDC_REFRESH_REUSED)
    assert not _revoked(portal.app, first.get_json()["refresh_token"])


def test_a_used_code_and_a_stale_copy_revoke_nothing(portal, alice, make_app):
    """A code exchanged already, presented again with a secret rotated away since: not
    a reuse on the word of a stale copy (S32's revocation needs the client's secret)."""
    flow = full_flow(portal)
    req = Request()
    code = sign_in_through(portal, flow.browser, req)["code"]
    first = portal.exchange(portal.app.test_client(), code, req)
    assert first.status_code == 200
    _rotated_elsewhere(make_app, portal)
    _refused_as_client(portal.exchange(portal.app.test_client(), code, req))
    assert not audit_events(portal.app, audit.OIDC_CODE_REUSED)
    assert not _revoked(portal.app, first.get_json()["refresh_token"])


def test_a_client_removed_on_another_instance_gets_nothing(portal, alice, make_app):
    flow = full_flow(portal)
    result = run_cli(make_app(), "clients", "remove", portal.client_id)
    assert result.exit_code == 0, result.output
    _refused_as_client(_refresh(portal, flow.tokens["refresh_token"]))
    assert not audit_events(portal.app, audit.OIDC_REFRESH_REUSED)


def test_the_cli_rotation_here_refuses_the_old_secret_at_once(portal, alice):
    flow = full_flow(portal)
    new_secret = _rotate(portal.app, portal.client_id)
    _refused_as_client(_refresh(portal, flow.tokens["refresh_token"]))
    renewed = _refresh(_with_secret(portal, new_secret), flow.tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.get_data(as_text=True)


def test_every_change_of_a_client_bumps_its_revision(portal, alice):
    def revision() -> int:
        with portal.app.extensions["clef"].session_factory() as db:
            return db.scalars(select(OAuthClient.revision).where(
                OAuthClient.client_id == portal.client_id)).one()

    before = revision()
    _rotate(portal.app, portal.client_id)
    assert revision() == before + 1
    with portal.app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(OAuthClient).where(
            OAuthClient.client_id == portal.client_id)).one()
        row.name = "Renamed"  # any change through the ORM, not only the CLI's
        db.commit()
    assert revision() == before + 2


def test_a_failed_token_request_forgets_the_copy(portal, alice, make_app):
    """A copy is trusted only while it leads to tokens: after a refused request the
    next one reads the client again (a stale secret cannot keep spending the portal's
    budget by failing before any claim)."""
    full_flow(portal)
    bad = portal.token(portal.app.test_client(), {"grant_type": "refresh_token"})
    assert bad.status_code == 400
    _response, seen, _commits = _statements(
        portal.app, lambda: portal.token(portal.app.test_client(),
                                         {"grant_type": "refresh_token"}))
    assert sum("FROM oauth_clients" in s.split(" WHERE")[0] for s in seen) == 1, seen


def test_the_new_secret_works_at_its_first_use_on_an_instance_holding_the_old_copy(
        portal, alice, make_app):
    """After a rotation elsewhere, the portal's first request with its new secret is not
    refused by this instance's stale copy: a secret that does not match a copy is
    checked against the row read again before the request is refused."""
    flow = full_flow(portal)  # instance A holds a copy with the old secret
    new_secret = _rotated_elsewhere(make_app, portal)
    renewed = _refresh(_with_secret(portal, new_secret), flow.tokens["refresh_token"])
    assert renewed.status_code == 200, renewed.get_data(as_text=True)
    # and a wrong secret is still refused, the copy being current
    _refused_as_client(_refresh(_with_secret(portal, "not-the-secret"),
                                renewed.get_json()["refresh_token"]))
