"""Every endpoint of the OpenID Connect provider, fuzzed (S28, S31-S34, S41, S43, S44):
the authorization request's parameters, the token endpoint, UserInfo, introspection,
revocation and RP-initiated logout. Values are hostile, or real ones (a registered
client and its secret, the redirect URI, tokens issued by a real sign-in) mixed with
hostile ones, so requests also get past the first check.

These tests say nothing of which request the provider accepts (that is the provider's
own tests' business): only that none gets a 5xx, a trace or a secret back, that no
secret reaches the log, and that a refused one (a 4xx, or an error sent back to the
portal) changes no guarded row.

``max_age`` is drawn from whole numbers only here: its parsing is proved by the
provider's own tests (S37)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from idp.oidc import acr
from tests.fuzz.conftest import CALLBACK, FUZZ, LOGGED_OUT, World, anonymous, signed_in
from tests.fuzz.hostile import maybe, text_value
from tests.oidc.conftest import full_flow
from tests.oidc.rp import Request, s256


def issued(world: World) -> dict[str, Any]:
    """Tokens of one real sign-in through the trusted portal (made once per case);
    the access and refresh tokens join the secrets."""
    if "access_token" not in world.tokens:
        flow = full_flow(world.portal(trusted=True), anonymous(world))
        world.clients["portal browser"] = flow.browser
        world.tokens.update({k: flow.tokens[k] for k in ("access_token", "refresh_token", "id_token")})
        world.secrets += [flow.tokens["access_token"], flow.tokens["refresh_token"]]
    return world.tokens


def one_of_or_hostile(*good: str) -> st.SearchStrategy[str | None]:
    return maybe(st.one_of(st.sampled_from(good), text_value()))


def browser(world: World, data: st.DataObject) -> FlaskClient:
    state = data.draw(st.sampled_from(["anonymous", "signed in"]), label="browser")
    return world.browser(state, anonymous if state == "anonymous" else signed_in)


def client_auth(world: World, data: st.DataObject) -> tuple[dict[str, str], dict[str, str]]:
    """(form fields, headers) of one way a portal's server may (fail to) authenticate."""
    rp = world.portal(trusted=True)
    secret = rp.secret or ""
    how = data.draw(st.sampled_from(["basic", "post", "wrong secret", "garbage header",
                                     "client id only", "none"]), label="client auth")
    if how == "basic":
        raw = f"{rp.client_id}:{secret}".encode()
        return {}, {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if how == "post":
        return {"client_id": rp.client_id, "client_secret": secret}, {}
    if how == "wrong secret":
        wrong = data.draw(text_value(), label="secret")
        raw = f"{rp.client_id}:{wrong}".encode()
        return {}, {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if how == "garbage header":
        header = data.draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
        return {}, {"Authorization": header}
    if how == "client id only":
        return {"client_id": data.draw(one_of_or_hostile(rp.client_id)) or ""}, {}
    return {}, {}


def drop_none(values: dict[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}


def refused_redirect(response: TestResponse) -> bool:
    """A 4xx, or an error sent back to the portal (RFC 6749 §4.1.2.1)."""
    location = response.headers.get("Location", "")
    return 400 <= response.status_code < 500 or "error=" in location


def authorize_params(world: World, data: st.DataObject) -> dict[str, str]:
    rp = world.portal(trusted=data.draw(st.booleans(), label="trusted portal"))
    verifier = Request().verifier
    levels = list(acr.LEVELS)
    return drop_none({
        "response_type": data.draw(one_of_or_hostile("code", "token", "id_token", "code id_token")),
        "client_id": data.draw(one_of_or_hostile(rp.client_id)),
        "redirect_uri": data.draw(one_of_or_hostile(CALLBACK, CALLBACK + "/x", "https://evil.example/")),
        "scope": data.draw(one_of_or_hostile("openid", "openid profile email", "profile")),
        "state": data.draw(maybe(text_value())),
        "nonce": data.draw(maybe(text_value())),
        "code_challenge": data.draw(one_of_or_hostile(s256(verifier), verifier)),
        "code_challenge_method": data.draw(one_of_or_hostile("S256", "plain")),
        "prompt": data.draw(one_of_or_hostile("none", "login", "consent", "select_account",
                                              "none login")),
        "max_age": data.draw(maybe(st.integers(0, 10**6).map(str))),
        "acr_values": data.draw(one_of_or_hostile(*levels, " ".join(levels))),
        "login_hint": data.draw(maybe(text_value())),
        "ui_locales": data.draw(one_of_or_hostile("fr", "en", "fr-CA en", "xx")),
        "id_token_hint": data.draw(maybe(text_value())),
        "response_mode": data.draw(one_of_or_hostile("query", "fragment", "form_post")),
        "request": data.draw(maybe(text_value())),
        "claims": data.draw(maybe(text_value())),
    })


@FUZZ
@given(data=st.data())
def test_s31_fuzz_authorize(world: World, data: st.DataObject) -> None:
    params = authorize_params(world, data)
    client = browser(world, data)
    method = data.draw(st.sampled_from(["GET", "POST"]), label="method")
    before = world.guarded()
    if method == "GET":
        response = client.get("/authorize?" + urlencode(params))
    else:
        response = client.post("/authorize", data=params)
    world.check(response, before, refused=refused_redirect(response), sent=params.values())


@FUZZ
@given(data=st.data())
def test_s33_fuzz_token(world: World, data: st.DataObject) -> None:
    tokens = issued(world)
    fields, headers = client_auth(world, data)
    fields.update(drop_none({
        "grant_type": data.draw(one_of_or_hostile("authorization_code", "refresh_token",
                                                  "client_credentials", "password")),
        "code": data.draw(maybe(text_value())),
        "redirect_uri": data.draw(one_of_or_hostile(CALLBACK)),
        "code_verifier": data.draw(maybe(text_value())),
        "refresh_token": data.draw(maybe(text_value())),
        "scope": data.draw(one_of_or_hostile("openid")),
        "username": data.draw(maybe(text_value())),
        "password": data.draw(maybe(text_value())),
    }))
    before = world.guarded()
    response = anonymous(world).post("/token", data=fields, headers=headers)
    world.check(response, before, sent=fields.values())
    assert tokens["access_token"] not in response.get_data(as_text=True)


@FUZZ
@given(data=st.data())
def test_s43_fuzz_userinfo(world: World, data: st.DataObject) -> None:
    tokens = issued(world)
    token = data.draw(one_of_or_hostile(tokens["access_token"], tokens["refresh_token"],
                                        tokens["id_token"]), label="token")
    scheme = data.draw(st.sampled_from(["Bearer ", "bearer ", "Basic ", "", "Bearer  "]))
    headers = {}
    if token is not None and data.draw(st.booleans(), label="in header"):
        headers["Authorization"] = scheme + token.replace("\n", " ").replace("\r", " ")
    form = drop_none({"access_token": data.draw(maybe(text_value()))})
    before = world.guarded()
    if data.draw(st.booleans(), label="POST"):
        response = anonymous(world).post("/userinfo", data=form, headers=headers)
    else:
        response = anonymous(world).get("/userinfo?" + urlencode(form), headers=headers)
    world.check(response, before)


@pytest.mark.parametrize("endpoint", ["/introspect", "/revoke"])
@FUZZ
@given(data=st.data())
def test_s41_fuzz_introspection_and_revocation(world: World, endpoint: str,
                                               data: st.DataObject) -> None:
    tokens = issued(world)
    fields, headers = client_auth(world, data)
    fields.update(drop_none({
        "token": data.draw(one_of_or_hostile(tokens["access_token"], tokens["refresh_token"])),
        "token_type_hint": data.draw(one_of_or_hostile("access_token", "refresh_token")),
    }))
    before = world.guarded()
    response = anonymous(world).post(endpoint, data=fields, headers=headers)
    world.check(response, before)


@FUZZ
@given(data=st.data())
def test_s44_fuzz_logout(world: World, data: st.DataObject) -> None:
    tokens = issued(world)
    rp = world.portal(trusted=True)
    client = browser(world, data)
    params = drop_none({
        "id_token_hint": data.draw(one_of_or_hostile(tokens["id_token"])),
        "post_logout_redirect_uri": data.draw(one_of_or_hostile(LOGGED_OUT, "https://evil.example/")),
        "client_id": data.draw(one_of_or_hostile(rp.client_id)),
        "state": data.draw(maybe(text_value())),
        "ui_locales": data.draw(one_of_or_hostile("fr", "en")),
        "logout_hint": data.draw(maybe(text_value())),
    })
    before = world.guarded()
    if data.draw(st.booleans(), label="POST"):
        params.update(drop_none({"confirm": data.draw(one_of_or_hostile("1")),
                                 "csrf_token": data.draw(maybe(text_value()))}))
        response = client.post("/logout", data=params)
    else:
        response = client.get("/logout?" + urlencode(params))
    world.check(response, before)
