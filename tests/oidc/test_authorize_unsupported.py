"""The authorization endpoint refuses what discovery says Clef does not do, rather than
ignore it, and answers a hint naming someone else with ``login_required`` (OIDC Core
§3.1.2.1, §3.1.2.6, §6; S37). Each test failed before: a request object or
``request_uri`` was ignored (so a ``max_age=0`` inside one was dropped) and a code
issued; ``response_mode=form_post`` got its code in the query; Bob's ``id_token_hint``
got Alice's code; the two earliest refusal pages ignored ``ui_locales``; a request too
long to come back to after the sign-in was lost on the way; a request by POST got the
"form expired" page. Found by an adversarial review."""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qsl, urlsplit

from tests.helpers import create_account, csrf_from, french, pass_second_factor, sign_in
from tests.oidc.conftest import CALLBACK, full_flow
from tests.oidc.rp import ISSUER, RelyingParty, Request, register_client


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unsigned_request_object(portal, req: Request, **claims: str) -> str:
    body = {"iss": portal.client_id, "aud": ISSUER, "client_id": portal.client_id,
            "response_type": "code", "redirect_uri": portal.redirect_uri,
            "scope": "openid", "state": req.state, **claims}
    return _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(body) + "."


def test_s37_a_request_object_is_refused_not_ignored(portal, alice):
    """OIDC Core §6.1/§3.1.2.6: discovery says request_parameter_supported=false, so a
    ``request`` parameter must get ``request_not_supported``. Ignoring it drops what the
    portal put only in the object (here max_age=0: a fresh sign-in) and issues a code."""
    flow = full_flow(portal)
    req = Request()
    response = flow.browser.get(portal.authorize_url(
        req, request=_unsigned_request_object(portal, req, max_age="0")))
    assert response.status_code == 302
    params = portal.callback(response)
    assert "code" not in params, "a request object was ignored and a code issued"
    assert params.get("error") == "request_not_supported"


def test_a_request_uri_is_refused_not_ignored(portal, alice):
    flow = full_flow(portal)
    req = Request()
    response = flow.browser.get(portal.authorize_url(
        req, request_uri="https://portal.example/requests/1"))
    assert response.status_code == 302
    params = portal.callback(response)
    assert "code" not in params, "a request_uri was ignored and a code issued"
    assert params.get("error") == "request_uri_not_supported"


def test_s37_an_id_token_hint_naming_another_person_gets_no_code_for_the_signed_in_one(app, portal, alice):
    """OIDC Core §3.1.2.1 (id_token_hint): when the person the hint names is not the
    one signed in (nor signed in by the request), no positive response: Bob's hint gets
    ``login_required``, not Alice's code, with ``prompt=none`` or without."""
    create_account(app, "bob")
    bobs = full_flow(portal, username="bob")
    flow = full_flow(portal)  # Alice in another browser
    req = Request()
    response = flow.browser.get(portal.authorize_url(req, id_token_hint=bobs.tokens["id_token"]))
    assert response.status_code == 302
    params = portal.callback(response)
    assert "code" not in params and params.get("error") == "login_required"
    own = flow.browser.get(portal.authorize_url(Request(), id_token_hint=flow.tokens["id_token"]))
    assert "code" in portal.callback(own)  # her own hint: a code


def test_an_unsupported_response_mode_is_refused(portal, alice):
    """Discovery says response_modes_supported=["query"]. A portal asking form_post
    (code never in a URL) or fragment must not get its code in the query."""
    flow = full_flow(portal)
    for mode in ("form_post", "fragment"):
        req = Request()
        response = flow.browser.get(portal.authorize_url(req, response_mode=mode))
        assert response.status_code == 302
        params = portal.callback(response)
        assert "code" not in params and params.get("error") == "invalid_request", mode
    explicit = flow.browser.get(portal.authorize_url(Request(), response_mode="query"))
    assert "code" in portal.callback(explicit)


def test_the_early_refusal_page_follows_the_portals_ui_locales(portal, alice):
    """ui_locales=fr: every screen of the request in French, the two earliest refusal
    pages too (a malformed response_type, an unprintable redirect_uri)."""
    client = portal.app.test_client()
    wanted = french("This sign-in request cannot be used")
    assert wanted
    for extra in ({"response_type": "code!"}, {"redirect_uri": "https://portal.example/é"}):
        response = client.get(portal.authorize_url(Request(), ui_locales="fr", **extra),
                              headers={"Accept-Language": "en"})
        assert response.status_code == 400
        assert wanted in response.get_data(as_text=True), f"English page for {extra}"


def test_a_request_too_long_to_come_back_to_is_refused_to_the_portal(portal) -> None:
    """state is the portal's, any length; a request that must go round the sign-in but is
    too long for ``next`` (2,000 characters, S26) was lost: after both factors the person
    landed on the account page and the portal heard nothing, neither a code nor an
    error. It now gets ``invalid_request`` at once."""
    browser = portal.app.test_client()
    req = Request(state="s" * 10_000)
    first = browser.get(portal.authorize_url(req))
    assert first.status_code == 302
    params = portal.callback(first)
    assert "code" not in params and params.get("error") == "invalid_request"
    assert params.get("state") == req.state


def test_an_authorization_request_by_post_is_answered_as_its_get(portal, alice) -> None:
    """OIDC Core §3.1.2.1: the endpoint MUST take POST. A portal's auto-submitted form
    (no form token of Clef's: it is the portal's page) got the 400 "form expired" page."""
    flow = full_flow(portal)
    req = Request()
    fields = dict(parse_qsl(urlsplit(portal.authorize_url(req)).query))
    posted = flow.browser.post("/authorize", data=fields)
    assert posted.status_code == 303
    assert dict(parse_qsl(urlsplit(posted.headers["Location"]).query)) == fields
    answer = flow.browser.get(posted.headers["Location"])
    assert "code" in portal.callback(answer)


def test_s24_the_consent_answer_still_needs_the_form_token(app, alice) -> None:
    """The view is exempt from the app's CSRF check so that a portal may POST; the one POST
    that decides, the consent page's answer, is checked by the view itself (S24)."""
    client_id, secret = register_client(app, "--name", "Untrusted portal",
                                        "--redirect-uri", CALLBACK)
    rp = RelyingParty(app, client_id, secret, CALLBACK)
    browser = app.test_client()
    sign_in(browser, "alice")
    pass_second_factor(app, browser, "alice")
    url = rp.authorize_url(Request())
    page = browser.get(url)
    assert page.status_code == 200  # the consent page
    forged = browser.post(url, data={"decision": "allow"})
    assert forged.status_code == 400
    allowed = browser.post(url, data={"decision": "allow", "csrf_token": csrf_from(page)})
    assert "code" in rp.callback(allowed)
