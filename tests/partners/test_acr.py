"""D14 end to end through a portal: the partner's own acr reaches the portal in its own
claim, ``partner_acr``, only when the partner is registered as vouching for that value
(``clef partners add --acr``); Clef's own ``acr`` stays ``urn:clef:acr:partner`` whatever
the partner says, so a partner (or its acr) cannot raise the person's level."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from idp.clock import FrozenClock
from idp.oidc.acr import ACR_APP, ACR_PARTNER, ACR_PHISHING_RESISTANT
from tests.oidc.conftest import CALLBACK
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.partners.conftest import Partner, at_partner, path_of, register_partner, start_partner, start_trip
from tests.support.accounts import create_account
from tests.support.app import run_cli
from tests.support.records import audit_events
from tests.support.screens import csrf

# The partner is a Clef: bob signs in there with an authenticator app, so its ID token
# says acr = Clef's "authenticator-app" level, a value Clef itself also uses.
PARTNER_SAYS = ACR_APP


def _bank(app: Flask, tmp_path: Path, template: Path, clock: FrozenClock,
          *acr: str) -> Partner:
    args = tuple(arg for value in acr for arg in ("--acr", value))
    partner = register_partner(app, start_partner(tmp_path, template, clock, "bank"),
                               "Banque Exemple", broker_args=args)
    create_account(partner.app, "bob")
    return partner


@pytest.fixture
def portal(app: Flask) -> RelyingParty:
    client_id, secret = register_client(app, "--name", "Employer portal",
                                        "--redirect-uri", CALLBACK, "--trusted")
    return RelyingParty(app, client_id, secret, CALLBACK)


def _through(app: Flask, portal: RelyingParty, partner: Partner, browser=None,  # type: ignore[no-untyped-def]
             **params: str) -> dict:
    """portal -> Clef -> partner -> Clef -> portal; the portal's ID token claims."""
    browser = browser or app.test_client()
    req = Request()
    first = browser.get(portal.authorize_url(req, **params))
    if first.status_code == 303 and "/signin" in first.headers["Location"]:
        browser.get(first.headers["Location"])  # the sign-in page, as a browser follows it
        landed = browser.get(path_of(at_partner(partner, start_trip(browser, partner), "bob")))
        assert landed.status_code == 303, landed.get_data(as_text=True)[:300]
        first = browser.get(landed.headers["Location"])
    answer = portal.callback(first)
    tokens = portal.exchange(browser, answer["code"], req).get_json()
    now = int(app.extensions["clef"].clock.now().timestamp())
    return portal.validate_id_token(browser, tokens["id_token"], req, now)


@pytest.fixture
def vouching_bank(app: Flask, tmp_path: Path, sqlite_template: Path,
                  clock: FrozenClock) -> Iterator[Partner]:
    partner = _bank(app, tmp_path, sqlite_template, clock, "urn:bank:other", PARTNER_SAYS)
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


@pytest.fixture
def overclaimed_bank(app: Flask, tmp_path: Path, sqlite_template: Path,
                     clock: FrozenClock) -> Iterator[Partner]:
    """Registered as vouching only for the phishing-resistant level; it returns less."""
    partner = _bank(app, tmp_path, sqlite_template, clock, ACR_PHISHING_RESISTANT)
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


def test_d14_a_vouched_partner_acr_reaches_the_portal_in_its_own_claim(
        app: Flask, portal: RelyingParty, vouching_bank: Partner) -> None:
    claims = _through(app, portal, vouching_bank)
    assert claims["partner_acr"] == PARTNER_SAYS
    # Clef's own level is unchanged, though the partner's acr is a Clef level's name.
    assert claims["acr"] == ACR_PARTNER
    assert "fed" in claims["amr"]
    assert audit_events(app, "partner:login:success")[-1].details["partner_acr"] == PARTNER_SAYS
    shown = run_cli(app, "partners", "show", str(vouching_bank.partner_id)).output
    assert f"urn:bank:other {PARTNER_SAYS}" in shown
    assert "partner_acr" in app.test_client().get(
        "/.well-known/openid-configuration").get_json()["claims_supported"]


def test_d14_the_partner_acr_does_not_satisfy_acr_values(
        app: Flask, portal: RelyingParty, vouching_bank: Partner) -> None:
    """A portal asking for Clef's authenticator-app level gets the partner level (D2:
    the acr achieved, no loop), though the partner said "authenticator-app"."""
    browser = app.test_client()
    _through(app, portal, vouching_bank, browser)
    claims = _through(app, portal, vouching_bank, browser, acr_values=ACR_APP)
    assert claims["acr"] == ACR_PARTNER
    assert claims["partner_acr"] == PARTNER_SAYS


def test_d14_an_acr_the_partner_is_not_trusted_for_is_not_passed_on(
        app: Flask, portal: RelyingParty, overclaimed_bank: Partner) -> None:
    claims = _through(app, portal, overclaimed_bank)
    assert "partner_acr" not in claims
    assert claims["acr"] == ACR_PARTNER
    event = audit_events(app, "partner:login:success")[-1]
    assert event.details["partner_acr"] is None
    assert event.details["acr_not_vouched"] == PARTNER_SAYS


def test_d14_without_acr_registered_nothing_is_passed_on(
        app: Flask, portal: RelyingParty, bank: Partner) -> None:
    create_account(bank.app, "bob")
    claims = _through(app, portal, bank)
    assert "partner_acr" not in claims and claims["acr"] == ACR_PARTNER


def test_d14_a_later_sign_in_through_a_partner_not_vouching_drops_the_old_acr(
        app: Flask, portal: RelyingParty, vouching_bank: Partner, tmp_path: Path,
        sqlite_template: Path, clock: FrozenClock) -> None:
    """The partner acr belongs to one sign-in: the same browser signing in again through
    a partner that is not trusted for it must not keep the first partner's word."""
    browser = app.test_client()
    assert _through(app, portal, vouching_bank, browser)["partner_acr"] == PARTNER_SAYS
    union = register_partner(app, start_partner(tmp_path, sqlite_template, clock, "union"),
                             "Caisse Exemple")
    try:
        create_account(union.app, "bob")
        claims = _through(app, portal, union, browser, prompt="login")
        assert "partner_acr" not in claims and claims["acr"] == ACR_PARTNER
    finally:
        union.stop()
        union.app.extensions["clef"].engine.dispose()


@pytest.mark.parametrize("bad", ["two words", "x" * 65, ""])
def test_d14_partners_add_refuses_a_malformed_acr(app: Flask, bad: str) -> None:
    result = app.test_cli_runner().invoke(
        args=["partners", "add", "--name", "B", "--issuer", "https://bank.example",
              "--client-id", "c", "--acr", bad], input="secret\n")
    assert result.exit_code != 0 and "--acr" in result.output
    assert run_cli(app, "partners", "list").output.strip() == ""


def test_d14_a_change_of_partner_drops_the_old_partners_acr_and_offers_the_new_sign_out(
        app: Flask, portal: RelyingParty, vouching_bank: Partner, tmp_path: Path,
        sqlite_template: Path, clock: FrozenClock) -> None:
    """After "change my sign-in partner" the session's link is the new partner: the old
    partner's acr no longer describes it, and signing out offers the new partner's."""
    browser = app.test_client()
    assert _through(app, portal, vouching_bank, browser)["partner_acr"] == PARTNER_SAYS
    union = register_partner(app, start_partner(tmp_path, sqlite_template, clock, "union"),
                             "Caisse Exemple")
    try:
        create_account(union.app, "robert")
        back = at_partner(union, start_trip(browser, union, change=True), "robert")
        assert browser.get(path_of(back)).headers["Location"].endswith("/account")
        claims = _through(app, portal, union, browser)  # still signed in: no new trip
        assert "partner_acr" not in claims and claims["acr"] == ACR_PARTNER
        out = browser.post("/signout", data={"csrf_token": csrf(browser, "/account")})
        assert out.headers["Location"].endswith(f"/partners/{union.partner_id}/signed-out")
    finally:
        union.stop()
        union.app.extensions["clef"].engine.dispose()
