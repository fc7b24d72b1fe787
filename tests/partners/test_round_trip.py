"""J14 end to end: a portal sends the person to Clef, Clef to the partner (a second
Clef instance over real HTTP), and back; first visit and returning."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from idp.models import Account
from partners.models import PartnerLink
from tests.oidc.conftest import CALLBACK
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.partners.conftest import Partner, at_partner, path_of, start_trip
from tests.support.accounts import create_account
from tests.support.screens import csrf


def portal_sign_in(app: Flask, rp: RelyingParty, bank: Partner, username: str) -> dict:
    """A whole visit: portal -> Clef -> partner -> Clef -> portal; the ID token's claims."""
    browser, req = app.test_client(), Request()
    first = browser.get(rp.authorize_url(req))
    assert first.status_code == 303 and "/signin" in first.headers["Location"]
    assert "Sign-in partner" in browser.get(first.headers["Location"]).get_data(as_text=True)
    back = at_partner(bank, start_trip(browser, bank), username)
    landed = browser.get(path_of(back))
    assert landed.status_code == 303, landed.get_data(as_text=True)[:500]
    params = rp.callback(browser.get(landed.headers["Location"]))
    assert params["state"] == req.state
    tokens = rp.exchange(browser, params["code"], req).get_json()
    now = int(app.extensions["clef"].clock.now().timestamp())
    return rp.validate_id_token(browser, tokens["id_token"], req, now)


def test_j14_first_visit_and_return_through_a_partner(app: Flask, bank: Partner) -> None:
    create_account(bank.app, "bob")
    client_id, secret = register_client(app, "--name", "Employer portal",
                                        "--redirect-uri", CALLBACK, "--trusted")
    rp = RelyingParty(app, client_id, secret, CALLBACK)
    first = portal_sign_in(app, rp, bank, "bob")
    assert "fed" in first["amr"]
    assert first["acr"] == "urn:clef:acr:partner"
    with app.extensions["clef"].session_factory() as db:
        links = list(db.scalars(select(PartnerLink)))
        assert len(links) == 1
        account = db.get_one(Account, links[0].account_id)
        # No username to type, no password that matches anything (the partner authenticates).
        assert account.username.startswith("~partner-") and account.password_hash == "!"
        # The partner's sub never reaches the portal: the portal has Clef's pairwise sub.
        assert first["sub"] != links[0].subject
    again = portal_sign_in(app, rp, bank, "bob")
    assert again["sub"] == first["sub"]
    with app.extensions["clef"].session_factory() as db:
        assert len(list(db.scalars(select(Account)))) == 1


def test_j14_partner_secret_is_sealed_at_rest_and_never_shown(app: Flask, bank: Partner) -> None:
    """S11: the client secret the partner issued is encrypted at rest; ``show`` prints
    the redirect URI to register at the partner, never the secret."""
    from partners.models import Partner as PartnerRow
    from tests.support.app import run_cli

    with app.extensions["clef"].session_factory() as db:
        row = db.scalars(select(PartnerRow)).one()
        secret = app.extensions["clef"].box.open(row.client_secret_sealed)
        assert secret and secret not in row.client_secret_sealed
    shown = run_cli(app, "partners", "show", str(bank.partner_id)).output
    assert secret not in shown
    assert f"/partners/{bank.partner_id}/callback" in shown
    assert run_cli(app, "partners", "disable", str(bank.partner_id)).exit_code == 0
    browser = app.test_client()
    assert "Banque Exemple" not in browser.get("/partners/").get_data(as_text=True)
    token = csrf(browser, "/signin")
    assert browser.post(f"/partners/{bank.partner_id}/start",
                        data={"csrf_token": token}).status_code == 404
    assert "disabled" in run_cli(app, "partners", "list").output
    assert run_cli(app, "partners", "remove", str(bank.partner_id)).exit_code == 0
    assert run_cli(app, "partners", "list").output.strip() == ""


def test_j14_acr_values_above_the_partner_get_the_partner_acr(app: Flask, bank: Partner) -> None:
    """D2 as the provider already does it: a portal asking for more than a partner
    sign-in gets the acr achieved (the identity has no stronger Clef factor to ask for),
    never a loop back to a sign-in."""
    create_account(bank.app, "bob")
    client_id, secret = register_client(app, "--name", "Employer portal",
                                        "--redirect-uri", CALLBACK, "--trusted")
    rp = RelyingParty(app, client_id, secret, CALLBACK)
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    req = Request()
    answer = browser.get(rp.authorize_url(req, acr_values="urn:clef:acr:authenticator-app"))
    params = rp.callback(answer)
    tokens = rp.exchange(browser, params["code"], req).get_json()
    now = int(app.extensions["clef"].clock.now().timestamp())
    assert rp.validate_id_token(browser, tokens["id_token"], req, now)["acr"] == "urn:clef:acr:partner"


def test_j14_a_partner_session_has_the_same_idle_timeout(app: Flask, bank: Partner) -> None:
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    assert browser.get("/account").status_code == 200
    idle = app.extensions["clef"].sessions.idle
    app.extensions["clef"].clock.advance(seconds=idle.total_seconds() + 1)
    assert browser.get("/account").status_code in (302, 303)
