"""J14 "change my sign-in partner": the new link replaces the old, the identity (and so
every portal's ``sub``) stays the same; the account page shows the door."""

from __future__ import annotations

from collections.abc import Callable

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



def _doors(app: Flask, bank: Partner) -> Callable[[], list[str]]:
    """The issuers linked to the account that the bank's one person made at Clef."""
    with app.extensions["clef"].session_factory() as db:
        account_id = db.scalars(select(PartnerLink.account_id)
                                .where(PartnerLink.issuer == bank.issuer)).one()

    def doors() -> list[str]:
        with app.extensions["clef"].session_factory() as db:
            return list(db.scalars(select(PartnerLink.issuer)
                                   .where(PartnerLink.account_id == account_id)))

    return doors


def test_s14_a_change_of_partner_needs_a_fresh_sign_in(
        app: Flask, bank: Partner, credit_union: Partner, clock) -> None:  # type: ignore[no-untyped-def]
    """The change replaces the account's only way in: a session signed in longer ago than
    ``session.fresh_minutes`` (still alive) must not link another identity, or a borrowed
    or stolen session binds its holder's own partner identity for good. The change page
    sends it to sign in again; a trip started with ``change`` from a stale session does
    not link (it did before the change needed a fresh sign-in)."""
    create_account(bank.app, "bob")
    create_account(credit_union.app, "mallory")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    doors = _doors(app, bank)
    clock.advance(minutes=app.extensions["clef"].settings.session.fresh_minutes + 5)
    assert browser.get("/account").status_code == 200  # alive, not fresh
    page = browser.get("/partners/change")
    assert page.status_code == 303 and "/signin" in page.headers["Location"]
    back = at_partner(credit_union, start_trip(browser, credit_union, change=True), "mallory")
    browser.get(path_of(back))
    assert doors() == [bank.issuer]


def test_s14_a_change_gone_stale_during_the_trip_links_nothing(
        app: Flask, bank: Partner, credit_union: Partner, clock) -> None:  # type: ignore[no-untyped-def]
    """Fresh when the trip starts, stale when it comes back: sent to sign in again."""
    create_account(bank.app, "bob")
    create_account(credit_union.app, "mallory")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    doors = _doors(app, bank)
    trip = start_trip(browser, credit_union, change=True)
    clock.advance(minutes=app.extensions["clef"].settings.session.fresh_minutes + 1)
    back = browser.get(path_of(at_partner(credit_union, trip, "mallory")))
    assert back.status_code == 303 and back.headers["Location"].endswith("/partners/change")
    assert doors() == [bank.issuer]
