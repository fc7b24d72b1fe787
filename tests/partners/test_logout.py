"""J14 sign-out: a session made through a partner ends like any other, and Clef offers
to sign out at the partner too when the partner publishes ``end_session_endpoint``."""

from __future__ import annotations

from flask import Flask

from tests.partners.conftest import Partner, at_partner, path_of, start_trip
from tests.support.accounts import create_account
from tests.support.screens import csrf, pass_second_factor, sign_in


def test_j14_sign_out_offers_the_partners_sign_out(app: Flask, bank: Partner) -> None:
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    out = browser.post("/signout", data={"csrf_token": csrf(browser, "/account")})
    assert out.status_code == 303
    assert out.headers["Location"].endswith(f"/partners/{bank.partner_id}/signed-out")
    page = browser.get(out.headers["Location"]).get_data(as_text=True)
    assert "Also sign out at Banque Exemple" in page
    assert f'href="{bank.issuer}/logout?client_id={bank.client_id}"' in page
    assert browser.get("/account").status_code in (302, 303)  # the Clef session is gone


def test_j14_a_password_sign_out_is_unchanged(app: Flask) -> None:
    create_account(app, "alice")
    browser = app.test_client()
    sign_in(browser, "alice")
    pass_second_factor(app, browser, "alice")
    out = browser.post("/signout", data={"csrf_token": csrf(browser, "/account")})
    assert out.headers["Location"].endswith("/signed-out")
    assert "/partners/" not in out.headers["Location"]
