"""S37 (prompt=login, max_age, acr step-up are satisfied once, by the request that
asked), crafted max_age values (issue 9 item 8), S31/S33 (redirect_uri is required)
and prompt=none with someone else's id_token_hint."""

from __future__ import annotations

import pytest

from tests.helpers import create_account, pass_second_factor, sign_in, sign_in_at
from tests.oidc.conftest import CALLBACK, full_flow
from tests.oidc.rp import ISSUER, Request


def test_s37_an_abandoned_prompt_login_does_not_let_later_requests_skip_sign_in(portal, alice, clock):
    flow = full_flow(portal)
    clock.advance(minutes=5)
    abandoned = Request()
    asked = flow.browser.get(portal.authorize_url(abandoned, prompt="login"))
    assert asked.status_code == 303 and "/signin" in asked.headers["Location"]
    # The person goes elsewhere, and signs in again at Clef for another reason.
    clock.advance(minutes=1)
    sign_in(flow.browser, "alice")
    pass_second_factor(portal.app, flow.browser)
    clock.advance(minutes=1)
    for req in (Request(), abandoned):  # a new prompt=login, or the old one replayed
        again = flow.browser.get(portal.authorize_url(req, prompt="login"))
        assert again.status_code == 303 and "/signin" in again.headers["Location"], \
            "prompt=login must sign in again"


def test_s37_max_age_0_is_satisfied_once_by_the_sign_in_made_for_it(portal, alice, clock):
    flow = full_flow(portal)
    clock.advance(seconds=30)
    req = Request()
    asked = flow.browser.get(portal.authorize_url(req, max_age="0"))
    assert asked.status_code == 303 and "/signin" in asked.headers["Location"]
    sign_in_at(flow.browser, asked.headers["Location"], "alice")
    back = pass_second_factor(portal.app, flow.browser)
    clock.advance(seconds=2)  # time passes on the way back: still no loop
    params = portal.callback(flow.browser.get(back.headers["Location"]))
    assert "code" in params and params["state"] == req.state
    once = flow.browser.get(portal.authorize_url(Request(), max_age="0"))
    assert once.status_code == 303 and "/signin" in once.headers["Location"]


@pytest.mark.parametrize("value", ["²", "١٢", "99999999999999", "9" * 5000, "-1", "1.5",
                                   " 1", "1e3", "0x10"])
def test_crafted_max_age_gets_invalid_request_back_never_a_500(portal, alice, value):
    flow = full_flow(portal)
    req = Request()
    response = flow.browser.get(portal.authorize_url(req, max_age=value))
    assert response.status_code == 302
    params = portal.callback(response)
    assert params["error"] == "invalid_request" and params["state"] == req.state
    assert params["iss"] == ISSUER and "code" not in params


def test_s31_s33_an_authorization_request_without_redirect_uri_is_refused_with_a_page(portal, alice):
    """Even for a portal with one registered redirect URI: otherwise the code exchange
    would skip the redirect_uri comparison (S33)."""
    flow = full_flow(portal)
    response = flow.browser.get(portal.authorize_url(Request(), redirect_uri=None))
    assert response.status_code == 400 and "Location" not in response.headers
    assert "This sign-in request cannot be used" in response.get_data(as_text=True)


def test_s33_the_code_exchange_compares_the_redirect_uri(portal, alice):
    from tests.oidc.conftest import sign_in_through

    browser = portal.app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    data = {"grant_type": "authorization_code", "code": params["code"],
            "code_verifier": req.verifier}
    assert portal.token(browser, data).status_code == 400  # no redirect_uri
    assert portal.token(browser, {**data, "redirect_uri": CALLBACK + "x"}).status_code == 400


def test_s37_prompt_none_with_someone_elses_hint_says_login_required(app, portal, alice):
    create_account(app, "bob")
    bobs = full_flow(portal, username="bob")
    flow = full_flow(portal)
    req = Request()
    other = portal.callback(flow.browser.get(portal.authorize_url(
        req, prompt="none", id_token_hint=bobs.tokens["id_token"])))
    assert other["error"] == "login_required" and other["state"] == req.state
    forged = portal.callback(flow.browser.get(portal.authorize_url(
        Request(), prompt="none", id_token_hint=flow.tokens["id_token"][:-4] + "AAAA")))
    assert forged["error"] == "login_required"
    own = portal.callback(flow.browser.get(portal.authorize_url(
        Request(), prompt="none", id_token_hint=flow.tokens["id_token"])))
    assert "code" in own
