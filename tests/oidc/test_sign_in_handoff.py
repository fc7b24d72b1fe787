"""The hand-off between a portal's request and the sign-in screens (S37; D2): prompt,
max_age, login_hint, ui_locales, acr_values, and consent for portals not trusted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from idp import audit
from tests.helpers import (
    audit_events,
    create_account,
    csrf,
    csrf_from,
    emailed_code,
    enrol_app,
    outbox,
    pass_second_factor,
    sign_in_at,
)
from tests.mfa.test_recover_flow import post_recovery_code
from tests.oidc.conftest import full_flow
from tests.oidc.rp import ISSUER, RelyingParty, Request, register_client


def test_no_session_goes_to_sign_in_and_comes_back_to_the_request_S37(portal, alice):
    browser = portal.app.test_client()
    req = Request()
    first = browser.get(portal.authorize_url(req))
    assert first.status_code == 303
    location = first.headers["Location"]
    assert parse_qs(urlsplit(location).query)["next"][0].startswith("/authorize?")
    sign_in_at(browser, location, "alice")
    back = pass_second_factor(portal.app, browser)
    assert back.headers["Location"].startswith("/authorize?")  # not the success page
    assert portal.callback(browser.get(back.headers["Location"]))["state"] == req.state


def test_a_signed_in_person_is_not_asked_again(portal, alice):
    flow = full_flow(portal)
    again = flow.browser.get(portal.authorize_url(Request()))
    assert "code" in portal.callback(again)


def test_prompt_none_never_shows_a_page_S37_oidcc_prompt_none_not_logged_in(portal, alice):
    browser = portal.app.test_client()
    params = portal.callback(browser.get(portal.authorize_url(Request(), prompt="none")))
    assert params["error"] == "login_required" and params["iss"] == ISSUER
    flow = full_flow(portal)
    silent = portal.callback(flow.browser.get(portal.authorize_url(Request(), prompt="none")))
    assert "code" in silent  # oidcc-prompt-none-logged-in


def test_prompt_login_signs_in_again_once_S37_oidcc_prompt_login(portal, alice, clock):
    flow = full_flow(portal)
    first_time = flow.claims["auth_time"]
    clock.advance(minutes=5)
    req = Request()
    response = flow.browser.get(portal.authorize_url(req, prompt="login"))
    assert response.status_code == 303 and "/signin" in response.headers["Location"]
    sign_in_at(flow.browser, response.headers["Location"], "alice")
    back = pass_second_factor(portal.app, flow.browser)
    params = portal.callback(flow.browser.get(back.headers["Location"]))  # no loop
    tokens = portal.exchange(flow.browser, params["code"], req).get_json()
    claims = portal.validate_id_token(flow.browser, tokens["id_token"], req,
                                      int(clock.now().timestamp()))
    assert claims["auth_time"] > first_time


def test_max_age_is_enforced_S37_oidcc_max_age_1(portal, alice, clock):
    flow = full_flow(portal)
    clock.advance(seconds=61)
    fresh_enough = flow.browser.get(portal.authorize_url(Request(), max_age="3600"))
    assert "code" in portal.callback(fresh_enough)
    too_old = flow.browser.get(portal.authorize_url(Request(), max_age="60"))
    assert too_old.status_code == 303 and "/signin" in too_old.headers["Location"]
    silent = portal.callback(flow.browser.get(portal.authorize_url(Request(), max_age="60",
                                                                   prompt="none")))
    assert silent["error"] == "login_required"
    bad = portal.callback(flow.browser.get(portal.authorize_url(Request(), max_age="soon")))
    assert bad["error"] == "invalid_request"


def test_login_hint_fills_the_username_S37(portal, alice):
    browser = portal.app.test_client()
    first = browser.get(portal.authorize_url(Request(), login_hint="alice"))
    page = browser.get(first.headers["Location"]).get_data(as_text=True)
    assert 'value="alice"' in page


def test_ui_locales_chooses_the_language_of_the_screens_S37(portal, alice):
    browser = portal.app.test_client()
    first = browser.get(portal.authorize_url(Request(), ui_locales="fr-CA en"))
    page = browser.get(first.headers["Location"])
    assert '<html lang="fr">' in page.get_data(as_text=True)


def test_acr_values_ask_for_the_app_after_a_recovery_code_D2_S37(app, portal):
    """A sign-in with a recovery code is the weakest level; a portal asking for the app
    sends the person through the sign-in again, where the app is asked."""
    create_account(app, "alice", second_factor=None)
    browser = app.test_client()
    first = browser.get(portal.authorize_url(Request()))
    sign_in_at(browser, first.headers["Location"], "alice")
    _, codes = enrol_app(app, browser)  # the account now has the app
    browser.post("/signout", data={"csrf_token": csrf_from(browser.get("/account"))})
    req = Request()
    first = browser.get(portal.authorize_url(req))
    sign_in_at(browser, first.headers["Location"], "alice")
    assert post_recovery_code(browser, codes[0]).status_code == 303
    flow_claims = _exchange(portal, browser, req)
    assert flow_claims["acr"] == "urn:clef:acr:recovery-code" and flow_claims["amr"] == ["pwd", "kba"]

    wants_app = "urn:clef:acr:authenticator-app"
    stronger = browser.get(portal.authorize_url(Request(), acr_values=wants_app))
    assert stronger.status_code == 303 and "/signin" in stronger.headers["Location"]


def test_acr_values_beyond_the_factor_the_person_has_get_the_acr_achieved_D2(app, portal):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True,
                   second_factor="email")
    browser = app.test_client()
    req = Request()
    first = browser.get(portal.authorize_url(req, acr_values="urn:clef:acr:authenticator-app"))
    sign_in_at(browser, first.headers["Location"], "alice")
    browser.get("/2fa/challenge")
    response = browser.post("/2fa/challenge", data={"csrf_token": csrf(browser, "/2fa/challenge"),
                                                    "code": emailed_code(outbox(app)[-1])})
    params = portal.callback(browser.get(response.headers["Location"]))  # not sent round again
    req_claims = _exchange_params(portal, browser, req, params)
    assert req_claims["acr"] == "urn:clef:acr:email-code" and req_claims["amr"] == ["pwd", "mail"]


def _exchange_params(portal: RelyingParty, browser, req: Request, params) -> dict:
    tokens = portal.exchange(browser, params["code"], req).get_json()
    now = int(portal.app.extensions["clef"].clock.now().timestamp())
    return portal.validate_id_token(browser, tokens["id_token"], req, now)


def _exchange(portal: RelyingParty, browser, req: Request) -> dict:
    response = browser.get(portal.authorize_url(req))
    return _exchange_params(portal, browser, req, portal.callback(response))


# --- consent --------------------------------------------------------------------------


def untrusted(app) -> RelyingParty:
    client_id, secret = register_client(app, "--name", "Job bank", "--redirect-uri",
                                        "https://jobs.example/cb")
    return RelyingParty(app, client_id, secret, "https://jobs.example/cb")


def test_a_portal_not_trusted_asks_consent_once(app, alice):
    jobs = untrusted(app)
    browser = app.test_client()
    req = Request()
    first = browser.get(jobs.authorize_url(req))
    sign_in_at(browser, first.headers["Location"], "alice")
    back = pass_second_factor(app, browser)
    page = browser.get(back.headers["Location"])
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Sign in to Job bank?" in text and "will not receive your username" in text
    action = back.headers["Location"]
    allowed = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert "code" in jobs.callback(allowed)
    assert audit.OIDC_CONSENT in [e.tag for e in audit_events(app)]
    again = browser.get(jobs.authorize_url(Request()))
    assert "code" in jobs.callback(again)  # remembered
    asked = browser.get(jobs.authorize_url(Request(), prompt="consent"))
    assert asked.status_code == 200 and "Sign in to Job bank?" in asked.get_data(as_text=True)


def test_refusing_consent_tells_the_portal_access_denied(app, alice):
    jobs = untrusted(app)
    browser = app.test_client()
    first = browser.get(jobs.authorize_url(Request()))
    sign_in_at(browser, first.headers["Location"], "alice")
    back = pass_second_factor(app, browser)
    page = browser.get(back.headers["Location"])
    denied = browser.post(back.headers["Location"],
                          data={"csrf_token": csrf_from(page), "decision": "deny"})
    params = jobs.callback(denied)
    assert params["error"] == "access_denied" and params["iss"] == ISSUER


def test_consent_needs_the_pages_own_csrf_token(app, alice):
    jobs = untrusted(app)
    browser = app.test_client()
    first = browser.get(jobs.authorize_url(Request()))
    sign_in_at(browser, first.headers["Location"], "alice")
    back = pass_second_factor(app, browser)
    forged = browser.post(back.headers["Location"], data={"decision": "allow"})
    assert forged.status_code == 400


def test_prompt_none_with_consent_missing_says_consent_required(app, alice, portal):
    flow = full_flow(portal)  # signed in through the trusted portal
    jobs = untrusted(app)
    params = jobs.callback(flow.browser.get(jobs.authorize_url(Request(), prompt="none")))
    assert params["error"] == "consent_required" and params["iss"] == ISSUER


def test_deny_in_a_stale_consent_tab_is_honoured_after_consent_was_given(app, alice):
    """Two tabs on the consent page: one allows (consent remembered), the other then
    denies. The denial is the person's last word: access_denied, no code."""
    jobs = untrusted(app)
    browser = app.test_client()
    first = browser.get(jobs.authorize_url(Request()))
    sign_in_at(browser, first.headers["Location"], "alice")
    back = pass_second_factor(app, browser)
    allowing_tab = browser.get(back.headers["Location"])
    req = Request()
    denying_action = jobs.authorize_url(req)
    denying_tab = browser.get(denying_action)
    assert denying_tab.status_code == 200
    allowed = browser.post(back.headers["Location"],
                           data={"csrf_token": csrf_from(allowing_tab), "decision": "allow"})
    assert "code" in jobs.callback(allowed)
    denied = jobs.callback(browser.post(denying_action, data={
        "csrf_token": csrf_from(denying_tab), "decision": "deny"}))
    assert "code" not in denied and denied["error"] == "access_denied"
    assert "code" in jobs.callback(browser.get(jobs.authorize_url(Request())))  # consent stays
