"""J14 "change my sign-in partner": the new link replaces the old, the identity (and so
every portal's ``sub``) stays the same; the account page shows the door."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from idp.models import Account
from partners.models import PartnerLink
from tests.oidc.conftest import CALLBACK
from tests.oidc.rp import RelyingParty, register_client
from tests.partners.conftest import Partner, at_partner, path_of, start_trip
from tests.partners.test_round_trip import portal_sign_in
from tests.support.accounts import create_account


def test_j14_change_of_partner_keeps_the_identity_and_the_portal_sub(
        app: Flask, bank: Partner, credit_union: Partner) -> None:
    create_account(bank.app, "bob")
    create_account(credit_union.app, "robert")
    client_id, secret = register_client(app, "--name", "Employer portal",
                                        "--redirect-uri", CALLBACK, "--trusted")
    rp = RelyingParty(app, client_id, secret, CALLBACK)
    before = portal_sign_in(app, rp, bank, "bob")

    browser = app.test_client()
    landed = browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob")))
    assert landed.status_code == 303
    page = browser.get("/account").get_data(as_text=True)
    assert "Banque Exemple" in page and "Change my sign-in partner" in page
    assert "/2fa" not in page  # the username-and-password pages do not apply
    assert browser.get("/partners/change").status_code == 200
    back = at_partner(credit_union, start_trip(browser, credit_union, change=True), "robert")
    changed = browser.get(path_of(back))
    assert changed.status_code == 303 and changed.headers["Location"].endswith("/account")
    assert "Caisse Exemple" in browser.get("/account").get_data(as_text=True)

    after = portal_sign_in(app, rp, credit_union, "robert")
    assert after["sub"] == before["sub"]
    with app.extensions["clef"].session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Account)) == 1
        link = db.scalars(select(PartnerLink)).one()
        assert link.issuer == credit_union.issuer


def test_j14_change_page_is_for_partner_identities_only(app: Flask, bank: Partner) -> None:
    browser = app.test_client()
    assert browser.get("/partners/change").status_code in (302, 303)  # not signed in


def test_j14_password_pages_do_not_apply_to_a_partner_identity(app: Flask, bank: Partner) -> None:
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    for path in ("/2fa/manage", "/2fa/setup", "/account/recovery", "/forgot-password"):
        page = browser.get(path)
        assert page.status_code == 403, path
        assert "do not apply to you" in page.get_data(as_text=True)
    assert browser.get("/account").status_code == 200
