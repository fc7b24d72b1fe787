"""J14 in Chromium, English and French, every page axe-checked (the partner's too):
both doors on the sign-in page, the partner list, the round trip through the partner
(a second Clef on "localhost", so its cookies stay apart from Clef's), and the account
page naming the door."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from idp.clock import FrozenClock
from idp.oidc.acr import ACR_PARTNER
from tests.browser.journey import LiveServer, Visitor
from tests.browser.test_portal import (  # noqa: F401 - portal is a fixture
    PORTAL,
    Portal,
    claim,
    portal,
    set_clock_to_real_time,
)
from tests.helpers import GOOD_PASSWORD, create_account, fresh_totp, run_cli
from tests.partners.conftest import Partner, register_partner, start_partner

pytestmark = pytest.mark.browser

WORDS = {
    "en": {"door_password": "Username and password", "door_partner": "Sign-in partner",
           "choose": "Choose a sign-in partner", "change": "Change my sign-in partner"},
    "fr": {"door_password": "Nom d'utilisateur et mot de passe",
           "door_partner": "Partenaire de connexion",
           "choose": "Choisir un partenaire de connexion",
           "change": "Changer mon partenaire de connexion"},
}


@pytest.fixture
def browser_bank(live_server: LiveServer, tmp_path: Path, sqlite_template: Path,
                 clock: FrozenClock) -> Iterator[Partner]:
    partner = register_partner(
        live_server.app, start_partner(tmp_path, sqlite_template, clock, "bank", host="localhost"),
        "Banque Exemple", broker_url=live_server.url)
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


def test_j14_sign_in_through_a_partner_in_the_browser(
        open_browser, live_server: LiveServer, browser_bank: Partner, locale: str) -> None:
    create_account(browser_bank.app, "bob")
    v: Visitor = open_browser(locale, "/signin", via="accept-language")
    words, w, page = WORDS[locale], v.words, v.page
    expect(page.get_by_role("heading", level=2, name=words["door_password"])).to_be_visible()
    expect(page.get_by_role("heading", level=2, name=words["door_partner"])).to_be_visible()
    v.follow(words["choose"])
    expect(page.get_by_role("heading", level=1)).to_have_text(words["door_partner"])
    v.submit("Banque Exemple")  # off to the partner, which asks for its own sign-in
    assert page.url.startswith(browser_bank.issuer + "/signin")
    v.sign_in("bob", GOOD_PASSWORD)
    v.field(w.code).fill(fresh_totp(browser_bank.app, "bob"))
    v.submit(w.continue_)  # the partner sends the browser back; Clef signs bob in
    expect(page).to_have_url(v.url("/account"))
    main = page.get_by_role("main")
    expect(main).to_contain_text("Banque Exemple")
    expect(page.get_by_role("link", name=words["change"])).to_be_visible()


@pytest.fixture
def browser_union(live_server: LiveServer, browser_bank: Partner, tmp_path: Path,
                  sqlite_template: Path, clock: FrozenClock) -> Iterator[Partner]:
    partner = register_partner(
        live_server.app, start_partner(tmp_path, sqlite_template, clock, "union", host="localhost"),
        "Caisse Exemple", broker_url=live_server.url)
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


def at_the_partner(v: Visitor, partner: Partner, username: str) -> None:
    assert v.page.url.startswith(partner.issuer + "/signin")
    v.sign_in(username, GOOD_PASSWORD)
    v.field(v.words.code).fill(fresh_totp(partner.app, username))
    v.submit(v.words.continue_)


def test_j14_change_of_partner_in_the_browser(
        open_browser, live_server: LiveServer, browser_bank: Partner, browser_union: Partner,
        locale: str) -> None:
    create_account(browser_bank.app, "bob")
    create_account(browser_union.app, "robert")
    v: Visitor = open_browser(locale, "/partners/", via="accept-language")
    words, page = WORDS[locale], v.page
    v.submit("Banque Exemple")
    at_the_partner(v, browser_bank, "bob")
    expect(page).to_have_url(v.url("/account"))
    v.follow(words["change"])
    v.submit("Caisse Exemple")
    at_the_partner(v, browser_union, "robert")
    expect(page).to_have_url(v.url("/account"))
    expect(page.get_by_role("main")).to_contain_text("Caisse Exemple")


def test_j14_the_sample_portal_through_a_partner(
        open_browser, live_server: LiveServer, portal: Portal, browser_bank: Partner,  # noqa: F811
        locale: str) -> None:
    """Done when: the sample portal reached through a partner in a real browser; the
    portal's validated ID token says so (acr partner, amr fed) with Clef's pairwise sub."""
    set_clock_to_real_time(live_server)
    create_account(browser_bank.app, "bob")
    v: Visitor = open_browser(locale, "/", via="accept-language", server=portal.server)
    p, words, page = PORTAL[locale], WORDS[locale], v.page
    v.follow(p.sign_in)
    v.follow(words["choose"])
    v.submit("Banque Exemple")
    at_the_partner(v, browser_bank, "bob")
    expect(page).to_have_url(v.url("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text(p.account_title)
    assert claim(v, "acr") == ACR_PARTNER
    assert claim(v, "amr").split() == ["fed"]
    assert claim(v, "sub")


REVOKED = {"en": "Sign-in through a partner revoked", "fr": "Connexion par un partenaire révoquée"}


def test_j14_a_revoked_partner_identity_in_the_browser(
        open_browser, live_server: LiveServer, browser_bank: Partner, locale: str) -> None:
    """The revoked page is worded for the partner door, in both languages, axe-clean."""
    create_account(browser_bank.app, "bob")
    v: Visitor = open_browser(locale, "/partners/", via="accept-language")
    v.submit("Banque Exemple")
    at_the_partner(v, browser_bank, "bob")
    expect(v.page).to_have_url(v.url("/account"))
    listed = run_cli(live_server.app, "users", "list").output
    name = next(word for word in listed.split() if word.startswith("~partner-"))
    assert run_cli(live_server.app, "users", "revoke", name, "--reason", "compromised").exit_code == 0
    v.goto("/partners/")
    v.submit("Banque Exemple")  # still signed in at the partner: straight back to Clef
    expect(v.page.get_by_role("heading", level=1)).to_have_text(REVOKED[locale])
    expect(v.page.get_by_role("main")).to_contain_text("Banque Exemple")


EVIL_MARK = "<script>alert(1)</script>"


@pytest.fixture
def marked_bank(live_server: LiveServer, tmp_path: Path, sqlite_template: Path,
                clock: FrozenClock) -> Iterator[Partner]:
    """A partner registered with its logo text (issue 13), beside one whose logo text is
    markup, which must be shown as text."""
    partner = register_partner(
        live_server.app, start_partner(tmp_path, sqlite_template, clock, "bank", host="localhost"),
        "Banque Exemple", broker_url=live_server.url, broker_args=("--logo-text", "BNQ"))
    added = live_server.app.test_cli_runner().invoke(
        args=["partners", "add", "--name", "Banque Balise", "--issuer", "https://markup.example",
              "--client-id", "c", "--logo-text", EVIL_MARK], input="secret\n")
    assert added.exit_code == 0, added.output
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


def test_j14_the_partner_list_shows_each_partners_mark(
        open_browser, live_server: LiveServer, marked_bank: Partner, locale: str) -> None:
    """Issue 13: name and logo text. The mark is seen beside the name; screen readers get
    the name alone (the button's accessible name); markup in a mark stays text."""
    dialogs: list[str] = []
    v: Visitor = open_browser(locale, "/partners/", via="accept-language")
    page = v.page
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    expect(page.get_by_role("heading", level=1)).to_have_text(WORDS[locale]["door_partner"])
    bank = page.get_by_role("button", name="Banque Exemple", exact=True)
    mark, name = bank.locator(".partner-mark"), bank.locator(".partner-name")
    expect(mark).to_be_visible()
    expect(mark).to_have_text("BNQ")
    expect(mark).to_have_attribute("aria-hidden", "true")
    mark_box, name_box = mark.bounding_box(), name.bounding_box()
    assert mark_box and name_box and mark_box["x"] + mark_box["width"] <= name_box["x"]
    balise = page.get_by_role("button", name="Banque Balise", exact=True)
    expect(balise.locator(".partner-mark")).to_have_text(EVIL_MARK)
    expect(page.locator("main script")).to_have_count(0)
    assert dialogs == []
    v.submit("Banque Exemple")  # the mark changes nothing about the way to the partner
    assert page.url.startswith(marked_bank.issuer + "/signin")
