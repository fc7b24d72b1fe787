"""The authorization code flow as a real relying party drives it (J1): PKCE, the ID
token checked against the published JWKS, userinfo; and the protocol's refusals
(S30-S39, S41, S43), each named with its S-id and, where it mirrors one, the OpenID
conformance module."""

from __future__ import annotations

import base64

from authlib.oidc.discovery import OpenIDProviderMetadata

from idp import audit
from tests.helpers import audit_events, csrf, run_cli
from tests.oidc.conftest import CALLBACK, full_flow, sign_in_through
from tests.oidc.rp import ISSUER, RelyingParty, Request, register_client


def test_code_flow_with_pkce_end_to_end_J1_S36_S43_oidcc_server(app, portal, alice, clock):
    flow = full_flow(portal)
    claims = flow.claims
    assert claims["amr"] == ["pwd", "otp"]
    assert claims["acr"] == "urn:clef:acr:authenticator-app"
    assert claims["auth_time"] == int(clock.now().timestamp())
    assert claims["sid"] and claims["sub"]
    assert "preferred_username" not in claims and "alice" not in str(claims)  # J13
    bearer = {"Authorization": "Bearer " + flow.tokens["access_token"]}
    by_get = flow.browser.get("/userinfo", headers=bearer)
    by_post = flow.browser.post("/userinfo", headers=bearer)
    assert by_get.status_code == by_post.status_code == 200
    assert by_get.get_json() == by_post.get_json() == {"sub": claims["sub"]}
    assert [e.details["client"] for e in audit_events(app, audit.OIDC_AUTHORIZED)] == [portal.client_id]


def test_discovery_is_valid_and_its_issuer_is_the_token_issuer_S42(app, client):
    document = client.get("/.well-known/openid-configuration").get_json()
    metadata = OpenIDProviderMetadata(document)
    metadata.validate()
    assert document["issuer"] == ISSUER
    assert document["response_types_supported"] == ["code"]  # S30
    assert document["code_challenge_methods_supported"] == ["S256"]  # S34
    assert document["authorization_response_iss_parameter_supported"] is True  # S38
    keys = client.get("/jwks").get_json()["keys"]
    assert len({k["kid"] for k in keys}) == len(keys) >= 2
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    assert all("d" not in k for k in keys)  # public halves only


def test_iss_on_the_authorization_response_S38(portal, alice):
    params = sign_in_through(portal, portal.app.test_client(), Request())
    assert params["iss"] == ISSUER


def test_a_request_without_nonce_succeeds_and_a_nonce_comes_back_unchanged_S35(portal, alice):
    without = full_flow(portal, req=Request(nonce=None))
    assert "nonce" not in without.claims
    with_nonce = full_flow(portal, req=Request(nonce="n-0S6_WzA2Mj"))
    assert with_nonce.claims["nonce"] == "n-0S6_WzA2Mj"


def test_token_responses_are_not_cached_S39(portal, alice):
    browser = portal.app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    response = portal.exchange(browser, params["code"], req)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"


# --- S31: redirect URIs ---------------------------------------------------------------


def test_unregistered_redirect_uri_gets_a_page_not_a_redirect_S31(portal, alice):
    """oidcc-ensure-registered-redirect-uri; exact matching, no prefix or query slack."""
    browser = portal.app.test_client()
    for uri in ("https://evil.example/callback", CALLBACK + "/", CALLBACK + "?x=1"):
        response = browser.get(portal.authorize_url(Request(), redirect_uri=uri))
        assert response.status_code == 400
        assert "Location" not in response.headers
        assert "This sign-in request cannot be used" in response.get_data(as_text=True)


def test_unknown_client_gets_a_page_not_a_redirect_S31(portal):
    browser = portal.app.test_client()
    response = browser.get(portal.authorize_url(Request(), client_id="nobody"))
    assert response.status_code == 400 and "Location" not in response.headers


# --- S30: code flow only --------------------------------------------------------------


def test_implicit_and_hybrid_are_refused_with_iss_S30_S38(portal, alice):
    browser = portal.app.test_client()
    for response_type in ("token", "id_token", "code id_token"):
        params = portal.callback(browser.get(portal.authorize_url(Request(),
                                                                  response_type=response_type)))
        assert params["error"] == "unsupported_response_type"
        assert params["iss"] == ISSUER


def test_password_and_client_credentials_grants_are_refused_S30(portal):
    for grant in ("password", "client_credentials", "implicit"):
        response = portal.token(portal.app.test_client(), {
            "grant_type": grant, "username": "alice", "password": "x", "scope": "openid"})
        assert response.status_code == 400
        assert response.get_json()["error"] == "unsupported_grant_type"


# --- S32, S33: codes ------------------------------------------------------------------


def test_a_code_works_once_and_its_reuse_revokes_its_tokens_S32_oidcc_codereuse(app, portal, alice):
    browser = app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    first = portal.exchange(browser, params["code"], req)
    assert first.status_code == 200
    access = first.get_json()["access_token"]
    bearer = {"Authorization": f"Bearer {access}"}
    assert browser.get("/userinfo", headers=bearer).status_code == 200
    again = portal.exchange(browser, params["code"], req)
    assert again.status_code == 400 and again.get_json()["error"] == "invalid_grant"
    assert browser.get("/userinfo", headers=bearer).status_code == 401
    refreshed = portal.token(browser, {"grant_type": "refresh_token",
                                       "refresh_token": first.get_json()["refresh_token"]})
    assert refreshed.status_code == 400
    assert audit.OIDC_CODE_REUSED in [e.tag for e in audit_events(app)]


def test_codes_are_long_and_expire_within_ten_minutes_S32(app, portal, alice, clock):
    browser = app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    assert len(base64.urlsafe_b64decode(params["code"] + "==")) * 8 >= 128
    clock.advance(seconds=app.extensions["clef"].settings.oidc.code_lifetime_seconds)
    late = portal.exchange(browser, params["code"], req)
    assert late.status_code == 400 and late.get_json()["error"] == "invalid_grant"


def test_a_code_is_bound_to_its_client_and_redirect_uri_S33(app, portal, alice):
    other_id, other_secret = register_client(app, "--name", "Other", "--redirect-uri",
                                             "https://other.example/cb", "--trusted")
    other = RelyingParty(app, other_id, other_secret, "https://other.example/cb")
    browser = app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    stolen = other.exchange(browser, params["code"], req)
    assert stolen.status_code == 400 and stolen.get_json()["error"] == "invalid_grant"

    req = Request()
    params = sign_in_through(portal, browser, req)
    wrong_uri = portal.exchange(browser, params["code"], req, redirect_uri=CALLBACK + "/x")
    assert wrong_uri.status_code == 400 and wrong_uri.get_json()["error"] == "invalid_grant"


# --- S34: PKCE ------------------------------------------------------------------------


def test_pkce_wrong_verifier_is_refused_S34(portal, alice):
    browser = portal.app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    response = portal.exchange(browser, params["code"], req, code_verifier="x" * 50)
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"


def test_pkce_plain_is_refused_S34(portal, alice):
    browser = portal.app.test_client()
    params = portal.callback(browser.get(portal.authorize_url(
        Request(), code_challenge="a" * 50, code_challenge_method="plain")))
    assert params["error"] == "invalid_request" and params["iss"] == ISSUER
    params = portal.callback(browser.get(portal.authorize_url(
        Request(), code_challenge_method=None)))  # no method means plain
    assert params["error"] == "invalid_request"


def legacy_portal(app) -> RelyingParty:
    """A confidential portal an administrator opted out of PKCE (D8)."""
    client_id, secret = register_client(app, "--name", "Legacy", "--redirect-uri", CALLBACK,
                                        "--trusted", "--pkce", "optional")
    return RelyingParty(app, client_id, secret, CALLBACK)


def test_a_verifier_without_a_challenge_is_refused_S34(app, alice):
    legacy = legacy_portal(app)
    browser = app.test_client()
    req = Request()
    params = sign_in_through(legacy, browser, req, code_challenge=None, code_challenge_method=None)
    response = legacy.exchange(browser, params["code"], req)  # sends a code_verifier
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"


def test_d8_confidential_portals_must_use_pkce_too_refused_before_any_page(portal, alice):
    """RFC 9700 §2.1.1, OAuth 2.1: an error back to the portal, signed in or not, and
    no sign-in or consent page first."""
    for browser in (portal.app.test_client(), full_flow(portal).browser):
        req = Request()
        response = browser.get(portal.authorize_url(req, code_challenge=None,
                                                    code_challenge_method=None))
        params = portal.callback(response)
        assert params["error"] == "invalid_request" and params["state"] == req.state
        assert params["iss"] == ISSUER and "code" not in params


def test_d8_the_opt_out_is_for_legacy_confidential_portals_and_shown(app, alice):
    legacy = legacy_portal(app)
    shown = run_cli(app, "clients", "show", legacy.client_id).output
    assert "optional (legacy portal, D8 opt-out)" in shown
    req = Request()
    params = sign_in_through(legacy, app.test_client(), req, code_challenge=None,
                             code_challenge_method=None)
    data = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK}
    assert legacy.token(app.test_client(), data).status_code == 200
    refused = run_cli(app, "clients", "add", "--name", "App", "--redirect-uri", CALLBACK,
                      "--public", "--pkce", "optional")
    assert refused.exit_code != 0 and "public client must use PKCE" in refused.output
    default = register_client(app, "--name", "New", "--redirect-uri", CALLBACK)[0]
    assert "required (S256)" in run_cli(app, "clients", "show", default).output


def test_public_clients_must_use_pkce_S34(app, alice):
    client_id, secret = register_client(app, "--name", "Mobile", "--redirect-uri",
                                        "http://127.0.0.1:8765/cb", "--public", "--trusted")
    assert secret is None
    mobile = RelyingParty(app, client_id, None, "http://127.0.0.1:8765/cb")
    browser = app.test_client()
    params = mobile.callback(browser.get(mobile.authorize_url(
        Request(), code_challenge=None, code_challenge_method=None)))
    assert params["error"] == "invalid_request"
    flow = full_flow(mobile, browser)  # with PKCE it works, with no secret at all
    assert flow.tokens["access_token"]


# --- S41: client authentication -------------------------------------------------------


def test_client_secret_post_works_and_a_wrong_secret_gets_401_S41(portal, alice):
    browser = portal.app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    wrong = RelyingParty(portal.app, portal.client_id, "not-the-secret", CALLBACK)
    refused = wrong.exchange(browser, params["code"], req)
    assert refused.status_code == 401 and refused.get_json()["error"] == "invalid_client"
    data = {"grant_type": "authorization_code", "code": params["code"],
            "redirect_uri": CALLBACK, "code_verifier": req.verifier}
    # the refused attempt used the code up (S32): a fresh one for the right secret
    req = Request()
    params = sign_in_through(portal, browser, req)
    data.update(code=params["code"], code_verifier=req.verifier)
    posted = portal.token(browser, data, auth="post")
    assert posted.status_code == 200, posted.get_json()
    wrong_post = wrong.token(browser, {**data, "code": "x"}, auth="post")
    assert wrong_post.status_code == 401


def test_userinfo_needs_a_live_bearer_token_S43(portal, alice, clock):
    flow = full_flow(portal)
    browser = flow.browser
    assert browser.get("/userinfo").status_code == 401
    assert browser.get("/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401
    clock.advance(seconds=portal.app.extensions["clef"].settings.oidc.access_token_lifetime_seconds)
    expired = browser.get("/userinfo", headers={"Authorization": "Bearer " + flow.tokens["access_token"]})
    assert expired.status_code == 401
    assert "invalid_token" in expired.headers.get("WWW-Authenticate", "")


def test_a_revoked_account_gets_no_more_tokens_or_userinfo(app, portal, alice):
    flow = full_flow(portal)
    assert run_cli(app, "users", "revoke", "alice", "--reason", "compromised").exit_code == 0
    bearer = {"Authorization": "Bearer " + flow.tokens["access_token"]}
    assert flow.browser.get("/userinfo", headers=bearer).status_code == 401
    refreshed = portal.token(flow.browser, {"grant_type": "refresh_token",
                                            "refresh_token": flow.tokens["refresh_token"]})
    assert refreshed.status_code == 400


def test_forms_on_the_provider_still_need_csrf_but_its_apis_do_not(portal, alice, client):
    token = csrf(client, "/signin")
    assert token  # the sign-in form has one; the token endpoint takes none:
    response = portal.token(client, {"grant_type": "authorization_code", "code": "x",
                                     "redirect_uri": CALLBACK})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_grant"
