"""J14: the partner's back-channel logout. A logout token the partner (a real Clef)
made for the broker ends the linked identity's sessions at Clef; a forged, replayed
into another partner, or malformed one changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from idp.clock import FrozenClock
from idp.oidc.runtime import oidc
from idp.runtime import db
from partners.models import UsedLogoutToken
from tests.oidc.conftest import CALLBACK
from tests.oidc.portal_server import PortalServer
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.partners.conftest import (
    Partner,
    at_partner,
    path_of,
    register_partner,
    start_partner,
    start_trip,
)
from tests.support.accounts import create_account
from tests.support.app import run_cli
from tests.support.records import audit_events


@pytest.fixture
def mailbox() -> Iterator[PortalServer]:
    """Where the partner delivers its logout tokens; the test hands them to Clef."""
    server = PortalServer().start()
    yield server
    server.stop()


@pytest.fixture
def telling_bank(app: Flask, tmp_path: Path, sqlite_template: Path, clock: FrozenClock,
                 mailbox: PortalServer) -> Iterator[Partner]:
    partner = register_partner(app, start_partner(tmp_path, sqlite_template, clock, "bank"),
                               "Banque Exemple", "--backchannel-logout-uri", mailbox.uri)
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


def test_j14_partner_backchannel_logout_ends_the_clef_session(
        app: Flask, telling_bank: Partner, mailbox: PortalServer) -> None:
    create_account(telling_bank.app, "bob")
    browser = app.test_client()
    back = at_partner(telling_bank, start_trip(browser, telling_bank), "bob")
    assert browser.get(path_of(back)).status_code == 303
    assert browser.get("/account").status_code == 200
    # bob's sessions end at the partner (here an administrator revokes him there).
    assert run_cli(telling_bank.app, "users", "revoke", "bob", "--reason", "compromised").exit_code == 0
    assert "1 logout(s) delivered" in run_cli(telling_bank.app, "oidc", "deliver").output
    [token] = mailbox.received
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    outsider = app.test_client()
    assert outsider.post(endpoint, data={"logout_token": token + "x"}).status_code == 400
    assert browser.get("/account").status_code == 200  # a bad token changed nothing
    assert outsider.post(endpoint, data={"logout_token": token}).status_code == 200
    assert browser.get("/account").status_code in (302, 303)
    [event] = audit_events(app, "partner:backchannel:logout")
    assert event.details["sessions"] == 1


def test_j14_logout_token_without_partner_or_token_is_refused(app: Flask) -> None:
    assert app.test_client().post("/partners/9/backchannel-logout",
                                  data={"logout_token": "x.y.z"}).status_code == 400


def _signed_in(app: Flask, partner: Partner, mailbox: PortalServer):  # type: ignore[no-untyped-def]
    """bob signed in at Clef through the partner, then revoked there: the partner's
    logout token for the broker, and bob's Clef browser."""
    create_account(partner.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(partner, start_trip(browser, partner), "bob"))).status_code == 303
    assert run_cli(partner.app, "users", "revoke", "bob", "--reason", "compromised").exit_code == 0
    assert "1 logout(s) delivered" in run_cli(partner.app, "oidc", "deliver").output
    [token] = mailbox.received
    return token, browser


def test_j14_a_replayed_logout_token_is_refused(
        app: Flask, telling_bank: Partner, mailbox: PortalServer) -> None:
    """OIDC Back-Channel Logout §2.6: the same token (same ``jti``) a second time is a
    replay; it ends nothing, and is audited."""
    token, browser = _signed_in(app, telling_bank, mailbox)
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 200
    assert browser.get("/account").status_code in (302, 303)
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 400
    failures = audit_events(app, "partner:login:failure")
    assert failures[-1].details["detail"] == "logout token replayed (jti seen before)"
    assert len(audit_events(app, "partner:backchannel:logout")) == 1


def test_j14_a_logout_token_replayed_at_another_instance_is_refused(
        app: Flask, make_app, telling_bank: Partner, mailbox: PortalServer) -> None:  # type: ignore[no-untyped-def]
    """Scale-out: the memory of used tokens is in the shared database, so a second
    instance (its own process memory, the same database) refuses the replay too."""
    token, _ = _signed_in(app, telling_bank, mailbox)
    other = make_app()
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 200
    assert other.test_client().post(endpoint, data={"logout_token": token}).status_code == 400


def _partner_signed(partner: Partner, **claims: object) -> str:
    """A logout token signed with the partner's real current key (what a compromised
    or careless partner could send), with exactly these claims."""
    with partner.app.app_context():
        now = partner.app.extensions["clef"].clock.now()
        key = oidc().signing_keys.current(db(), "RS256", now)
        return jwt.encode({"alg": key.alg, "kid": key.kid, "typ": "logout+jwt"}, dict(claims),
                          key.key, [key.alg])


def test_j14_a_logout_token_without_jti_is_refused(
        app: Flask, telling_bank: Partner, mailbox: PortalServer) -> None:
    """§2.4 requires ``jti``: without one a replay could not be told, so it is refused
    even when everything else is right and signed by the partner's own key."""
    token, browser = _signed_in(app, telling_bank, mailbox)
    keys = KeySet.import_key_set(telling_bank.app.test_client().get("/jwks").get_json())
    claims = dict(jwt.decode(token, keys).claims)
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    del claims["jti"]
    assert app.test_client().post(
        endpoint, data={"logout_token": _partner_signed(telling_bank, **claims)}).status_code == 400
    assert browser.get("/account").status_code == 200  # still signed in
    assert audit_events(app, "partner:login:failure")[-1].details["detail"] == \
        "logout token jti check failed"
    claims["jti"] = "fresh-jti"  # the same token with a jti: accepted
    assert app.test_client().post(
        endpoint, data={"logout_token": _partner_signed(telling_bank, **claims)}).status_code == 200
    assert browser.get("/account").status_code in (302, 303)


def test_j14_used_logout_tokens_are_forgotten_by_the_worker_once_they_expire(
        app: Flask, telling_bank: Partner, mailbox: PortalServer, clock: FrozenClock) -> None:
    token, _ = _signed_in(app, telling_bank, mailbox)
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 200

    def remembered() -> int:
        with app.extensions["clef"].session_factory() as db:
            return int(db.scalar(select(func.count()).select_from(UsedLogoutToken)) or 0)

    assert remembered() == 1
    run_cli(app, "oidc", "deliver")
    assert remembered() == 1  # still within the token's life: kept
    clock.advance(seconds=301 + app.extensions["clef"].settings.partners.leeway_seconds)
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 400
    run_cli(app, "oidc", "deliver")
    assert remembered() == 0
    # Forgotten, and still refused: the token itself is too old now.
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 400


def test_j14_the_partners_logout_reaches_the_portals_in_turn(
        app: Flask, telling_bank: Partner, mailbox: PortalServer) -> None:
    """Logout all the way: the partner ends bob's session there, tells Clef (its
    back-channel logout), and Clef tells the portal bob used through that Clef session
    (Clef's own back-channel logout, with Clef's pairwise sub, never the partner's)."""
    portal_box = PortalServer().start()
    try:
        client_id, secret = register_client(app, "--name", "Employer portal", "--redirect-uri",
                                            CALLBACK, "--trusted",
                                            "--backchannel-logout-uri", portal_box.uri)
        rp = RelyingParty(app, client_id, secret, CALLBACK)
        create_account(telling_bank.app, "bob")
        browser, req = app.test_client(), Request()
        first = browser.get(rp.authorize_url(req))
        assert first.status_code == 303
        browser.get(first.headers["Location"])  # the sign-in page, as a browser follows it
        landed = browser.get(path_of(at_partner(telling_bank, start_trip(browser, telling_bank), "bob")))
        params = rp.callback(browser.get(landed.headers["Location"]))
        tokens = rp.exchange(browser, params["code"], req).get_json()
        now = int(app.extensions["clef"].clock.now().timestamp())
        sub = rp.validate_id_token(browser, tokens["id_token"], req, now)["sub"]
        assert run_cli(telling_bank.app, "users", "revoke", "bob", "--reason", "compromised").exit_code == 0
        run_cli(telling_bank.app, "oidc", "deliver")
        [token] = mailbox.received
        endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
        assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 200
        assert "1 logout(s) delivered" in run_cli(app, "oidc", "deliver").output
        [told] = portal_box.received
        keys = KeySet.import_key_set(app.test_client().get("/jwks").get_json())
        claims = jwt.decode(told, keys).claims
        assert claims["sub"] == sub and claims["aud"] == client_id
    finally:
        portal_box.stop()
