"""D3 for portals: a sign-in with a security key is ``acr``
urn:clef:acr:phishing-resistant with ``amr`` pwd hwk pop, and a portal asking for that
level with ``acr_values`` sends a person signed in with the app through the sign-in
again (as the existing step-up does), where the key is asked."""

from __future__ import annotations

from tests.helpers import pass_second_factor, sign_in_at
from tests.mfa.test_security_key_flow import ORIGIN, answer_challenge, register_key
from tests.oidc.rp import Request
from tests.oidc.test_sign_in_handoff import _exchange_params
from tests.support.soft_key import SoftKey

PHISHING_RESISTANT = "urn:clef:acr:phishing-resistant"


def test_d3_acr_values_phishing_resistant_steps_up_from_the_app_to_the_key(app, portal):
    from tests.helpers import create_account

    create_account(app, "alice")
    browser = app.test_client()
    req = Request()
    first = browser.get(portal.authorize_url(req))
    sign_in_at(browser, first.headers["Location"], "alice")
    back = pass_second_factor(app, browser)  # the app: acr authenticator-app
    claims = _exchange_params(portal, browser, req, portal.callback(browser.get(back.headers["Location"])))
    assert claims["acr"] == "urn:clef:acr:authenticator-app"
    key = SoftKey(ORIGIN)
    assert register_key(browser, key).status_code == 303

    req = Request()
    stronger = browser.get(portal.authorize_url(req, acr_values=PHISHING_RESISTANT))
    assert stronger.status_code == 303 and "/signin" in stronger.headers["Location"]
    sign_in_at(browser, stronger.headers["Location"], "alice")
    assert browser.get("/2fa/challenge").headers["Location"] == "/2fa/challenge/key"
    response, _ = answer_challenge(browser, key)
    assert response.headers["Location"].startswith("/authorize?")
    params = portal.callback(browser.get(response.headers["Location"]))
    claims = _exchange_params(portal, browser, req, params)
    assert claims["acr"] == PHISHING_RESISTANT and claims["amr"] == ["pwd", "hwk", "pop"]


def test_d3_discovery_lists_the_phishing_resistant_level(app):
    document = app.test_client().get("/.well-known/openid-configuration").get_json()
    assert document["acr_values_supported"][-1] == PHISHING_RESISTANT
