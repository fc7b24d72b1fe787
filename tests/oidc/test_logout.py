"""RP-initiated logout (S44; oidcc-rp-initiated-logout-*): a redirect only to a
registered post-logout URI with a valid id_token_hint; otherwise a bilingual page that
never dead-ends, and, without a hint, the person is asked first."""

from __future__ import annotations

from urllib.parse import urlencode

from idp import audit
from tests.helpers import audit_events, csrf_from, french
from tests.oidc.conftest import LOGGED_OUT, full_flow
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.oidc.test_sign_in_handoff import untrusted


def logout(browser, **params: str):
    return browser.get("/logout?" + urlencode(params))


def signed_in(browser) -> bool:
    return browser.get("/account").status_code == 200


def test_valid_hint_and_registered_uri_redirect_with_state_S44(app, portal, alice):
    flow = full_flow(portal)
    response = logout(flow.browser, id_token_hint=flow.tokens["id_token"],
                      post_logout_redirect_uri=LOGGED_OUT, state="xyz")
    assert response.status_code == 302
    assert response.headers["Location"] == LOGGED_OUT + "?state=xyz"
    assert not signed_in(flow.browser)
    assert audit.OIDC_LOGOUT in [e.tag for e in audit_events(app)]


def test_an_unregistered_uri_gets_the_signed_out_page_not_a_redirect_S44(portal, alice):
    flow = full_flow(portal)
    response = logout(flow.browser, id_token_hint=flow.tokens["id_token"],
                      post_logout_redirect_uri="https://evil.example/")
    assert response.status_code == 200 and "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "You are signed out" in page and "Employer portal" in page
    assert 'href="/signin"' in page  # a way on: never a dead end
    assert not signed_in(flow.browser)


def test_a_hint_for_another_client_does_not_redirect_S44(app, portal, alice):
    flow = full_flow(portal)
    other = untrusted(app)
    response = logout(flow.browser, id_token_hint=flow.tokens["id_token"],
                      client_id=other.client_id, post_logout_redirect_uri=LOGGED_OUT)
    assert "Location" not in response.headers


def test_without_a_hint_the_person_is_asked_first_S44(portal, alice):
    flow = full_flow(portal)
    asked = logout(flow.browser, post_logout_redirect_uri=LOGGED_OUT, client_id=portal.client_id)
    assert asked.status_code == 200 and "Sign out?" in asked.get_data(as_text=True)
    assert signed_in(flow.browser)  # a link on another site signs nobody out
    forged = flow.browser.post("/logout", data={"confirm": "1"})
    assert forged.status_code == 400 and signed_in(flow.browser)
    confirmed = flow.browser.post("/logout", data={"confirm": "1", "csrf_token": csrf_from(asked)})
    assert confirmed.status_code == 200  # no hint, so no redirect even when registered
    assert "You are signed out" in confirmed.get_data(as_text=True)
    assert not signed_in(flow.browser)


def test_a_forged_hint_is_not_trusted_S44(portal, alice):
    flow = full_flow(portal)
    head, body, _ = flow.tokens["id_token"].split(".")
    response = logout(flow.browser, id_token_hint=f"{head}.{body}.c2lnbmF0dXJl",
                      post_logout_redirect_uri=LOGGED_OUT)
    assert response.status_code == 200 and "Location" not in response.headers
    assert signed_in(flow.browser)  # asked first, as without a hint


def test_an_expired_hint_still_names_the_session_S44(portal, alice, clock):
    flow = full_flow(portal)
    clock.advance(minutes=15)  # past the ID token's exp; the session lives on (keepalive)
    flow.browser.post("/session/keepalive", data={"csrf_token": csrf_from(flow.browser.get("/account"))})
    response = logout(flow.browser, id_token_hint=flow.tokens["id_token"],
                      post_logout_redirect_uri=LOGGED_OUT)
    assert response.status_code == 302


def test_logout_when_already_signed_out_is_a_page_in_french_too(app, portal):
    browser = app.test_client()
    browser.set_cookie("clef_lang", "fr")
    response = logout(browser)
    assert response.status_code == 200
    assert french("You are signed out") in response.get_data(as_text=True)


def test_a_public_client_registered_without_logout_uris_gets_the_page(app, alice):
    client_id, _ = register_client(app, "--name", "Kiosk", "--redirect-uri",
                                   "http://127.0.0.1:9/cb", "--public", "--trusted")
    kiosk = RelyingParty(app, client_id, None, "http://127.0.0.1:9/cb")
    flow = full_flow(kiosk)
    response = logout(flow.browser, id_token_hint=flow.tokens["id_token"],
                      post_logout_redirect_uri="http://127.0.0.1:9/bye")
    assert response.status_code == 200 and not signed_in(flow.browser)


def test_s44_a_hint_naming_someone_else_asks_instead_of_signing_out(app, portal, alice):
    """A valid ID token of another person (here bob's, which any portal user holds
    for themself) must not sign alice out silently."""
    from tests.helpers import create_account

    create_account(app, "bob")
    bobs = full_flow(portal, username="bob")
    flow = full_flow(portal)
    asked = logout(flow.browser, id_token_hint=bobs.tokens["id_token"],
                   post_logout_redirect_uri=LOGGED_OUT)
    assert asked.status_code == 200 and "Sign out?" in asked.get_data(as_text=True)
    assert signed_in(flow.browser)


def test_s44_a_hint_of_an_earlier_session_of_the_same_person_asks(app, portal, alice):
    earlier = full_flow(portal)
    earlier.browser.post("/logout", data={"confirm": "1", "csrf_token": csrf_from(
        logout(earlier.browser))})
    assert not signed_in(earlier.browser)
    now = full_flow(portal, browser=earlier.browser)
    asked = logout(now.browser, id_token_hint=earlier.tokens["id_token"],
                   post_logout_redirect_uri=LOGGED_OUT)
    assert asked.status_code == 200 and "Sign out?" in asked.get_data(as_text=True)
    assert signed_in(now.browser)
    # The hint of this very session still signs out at once, with the redirect.
    done = logout(now.browser, id_token_hint=now.tokens["id_token"],
                  post_logout_redirect_uri=LOGGED_OUT)
    assert done.status_code == 302 and not signed_in(now.browser)


def test_language_chosen_by_a_portal_outlives_the_session_at_rp_logout(portal, alice):
    """Issue 9 item 12: signed in through a French portal, signed out by it: the
    signed-out page is French, though the session that held the choice has ended."""
    browser = portal.app.test_client()
    first = browser.get(portal.authorize_url(Request(), ui_locales="fr-CA"))
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith("clef_ui_locales=fr;")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    flow = full_flow(portal, browser=browser, req=Request())
    response = logout(flow.browser, id_token_hint=flow.tokens["id_token"])
    assert response.status_code == 200 and not signed_in(flow.browser)
    page = response.get_data(as_text=True)
    assert '<html lang="fr">' in page and french("You are signed out") in page


def test_ui_locales_on_logout_is_honoured_both_ways(portal, alice):
    flow = full_flow(portal, ui_locales="fr")
    to_english = logout(flow.browser, id_token_hint=flow.tokens["id_token"], ui_locales="en")
    assert "You are signed out" in to_english.get_data(as_text=True)
    english = portal.app.test_client()
    again = full_flow(portal, browser=english)
    to_french = logout(english, id_token_hint=again.tokens["id_token"], ui_locales="fr-CA")
    assert french("You are signed out") in to_french.get_data(as_text=True)
    asked = logout(full_flow(portal).browser, ui_locales="fr")  # the question, in French too
    assert '<html lang="fr">' in asked.get_data(as_text=True)
