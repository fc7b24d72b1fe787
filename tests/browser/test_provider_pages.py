"""The provider's own pages in a real browser, in English and French, axe-clean: the
consent screen of a portal that is not trusted, the "Sign out?" question of a logout
without a valid hint, the signed-out page, and the page for a request that cannot be
sent back (S31, S44)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.journey import LiveServer, Visitor
from tests.helpers import GOOD_PASSWORD, create_account, current_totp, french
from tests.oidc.rp import RelyingParty, Request, register_client

pytestmark = pytest.mark.browser


def say(locale: str, msgid: str, **values: object) -> str:
    """What the page says for ``msgid`` in ``locale`` (the catalogue's French)."""
    text = msgid if locale == "en" else french(msgid)
    assert text, f"no French for {msgid!r}"
    return text % values if values else text


def signed_in_through(v: Visitor, live_server: LiveServer, rp: RelyingParty, req: Request) -> None:
    """Authorize, then the password and the app's code on Clef's screens."""
    w = v.words
    v.goto(rp.authorize_url(req))
    v.sign_in("alice", GOOD_PASSWORD)
    v.field(w.code).fill(current_totp(live_server.app))
    v.submit(w.continue_)


def test_consent_for_a_portal_not_trusted_then_back_to_it_S31(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    app = live_server.app
    create_account(app, "alice")
    callback = live_server.url + "/signed-out"  # a real page standing in for the portal
    client_id, secret = register_client(app, "--name", "Job bank", "--redirect-uri", callback)
    rp = RelyingParty(app, client_id, secret, callback)
    req = Request()
    v: Visitor = open_browser(locale, "/")
    signed_in_through(v, live_server, rp, req)

    heading = say(locale, "Sign in to %(portal)s?", portal="Job bank")
    expect(v.page.get_by_role("heading", level=1)).to_have_text(heading)
    expect(v.page.get_by_role("main")).to_contain_text(say(
        locale, "It will receive an identifier that is only used for it, and when and how "
        "you signed in. It will not receive your username, your password or your recovery "
        "information."))
    v.submit(say(locale, "Continue to %(portal)s", portal="Job bank"))
    expect(v.page).to_have_url(v.path_re("/signed-out"))
    assert v.query("state") == req.state and v.query("code")
    assert v.query("iss") == live_server.url  # the issuer is the configured base URL


def test_logout_without_a_hint_asks_first_then_says_signed_out_S44(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    app = live_server.app
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "Employer portal", "--redirect-uri",
                                        live_server.url + "/signed-out", "--trusted")
    rp = RelyingParty(app, client_id, secret, live_server.url + "/signed-out")
    v: Visitor = open_browser(locale, "/")
    signed_in_through(v, live_server, rp, Request())

    v.goto(f"/logout?client_id={client_id}")
    expect(v.page.get_by_role("heading", level=1)).to_have_text(say(locale, "Sign out?"))
    with v.page.expect_navigation():  # the page's own button, not the header's
        v.page.get_by_role("main").get_by_role("button", name=v.words.sign_out, exact=True).click()
    v.check_page()
    expect(v.page.get_by_role("heading", level=1)).to_have_text(say(locale, "You are signed out"))
    v.follow(say(locale, "Sign in again"))
    expect(v.page).to_have_url(v.path_re("/signin"))


def test_a_request_that_cannot_go_back_gets_a_page_S31(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    app = live_server.app
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri",
                                        "https://portal.example/callback")
    rp = RelyingParty(app, client_id, secret, "https://evil.example/callback")
    v: Visitor = open_browser(locale, "/")
    response = v.page.goto(v.url(rp.authorize_url(Request())))
    v.check_page()
    assert response is not None and response.status == 400
    expect(v.page.get_by_role("heading", level=1)).to_have_text(
        say(locale, "This sign-in request cannot be used"))


def test_sign_out_my_other_sessions_J9(open_browser, live_server: LiveServer, locale: str) -> None:
    """From the second-factor page, one browser signs the person's other browser out."""
    app = live_server.app
    create_account(app, "alice")
    here: Visitor = open_browser(locale, "/signin")
    elsewhere: Visitor = open_browser(locale, "/signin")
    for visitor in (elsewhere, here):
        visitor.sign_in("alice", GOOD_PASSWORD)
        visitor.field(visitor.words.code).fill(current_totp(app))
        visitor.submit(visitor.words.continue_)
        live_server.clock.advance(seconds=30)  # the next sign-in needs the app's next code
    here.goto("/2fa/manage")
    here.submit(say(locale, "Sign out my other sessions"))
    expect(here.page.get_by_role("status")).to_contain_text(
        say(locale, "%(num)d other session was signed out.", num=1))
    elsewhere.goto("/account")
    expect(elsewhere.page).to_have_url(elsewhere.path_re("/signin"))
