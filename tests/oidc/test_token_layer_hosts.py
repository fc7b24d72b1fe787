"""The token layer in front of Flask (issue 11) reads the request's Host as Flask does
(S17; RFC 6749 §3.2: the token endpoint over a transport Authlib accepts). For a Host
Werkzeug finds invalid, the view's request URL has no host and Authlib refuses it as
insecure transport; the layer hands such a request to Flask and issues nothing. Each
test failed before the layer read the host with Werkzeug's ``get_host``: it issued
tokens (found by an adversarial review)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask

from tests.helpers import create_account
from tests.oidc.conftest import Flow, full_flow, sign_in_through
from tests.oidc.rp import RelyingParty, Request
from tests.oidc.token_layer import basic, exactly, layer_of, post, switch_of, trusted_portal

REFRESH = "refresh_token"
# Hosts Werkzeug finds invalid (a port of 0, over 65535, or with a leading zero; an
# empty Host header): the request's URL then has no host, so Authlib refuses OAuth over
# it as insecure transport (400 ``insecure_transport``), whatever the scheme.
INVALID_HOSTS = ["localhost:0", "127.0.0.1:99999", "localhost:00080", "[::1]:0", ""]


@pytest.fixture
def through_flask(app: Flask) -> Iterator[Callable[[bool], None]]:
    switch = switch_of(layer_of(app))
    yield switch
    switch(False)


@pytest.fixture
def portal(app: Flask) -> RelyingParty:
    return trusted_portal(app)


@pytest.fixture
def flow(app: Flask, portal: RelyingParty) -> Flow:
    create_account(app, "alice")
    return full_flow(portal)


@pytest.mark.parametrize("host", INVALID_HOSTS)
def test_a_refresh_with_an_invalid_host_is_refused_as_flask_refuses_it(
        app: Flask, portal: RelyingParty, flow: Flow, through_flask, host: str) -> None:
    """The token view refuses a refresh whose Host Werkzeug finds invalid (Authlib's
    transport check on ``request.url``); the layer must not issue tokens for it."""
    headers = {"Authorization": basic(portal.client_id, portal.secret or ""), "Host": host}
    body = f"grant_type=refresh_token&refresh_token={flow.tokens[REFRESH]}"
    through_flask(True)
    slow = post(app, body, headers)
    through_flask(False)
    assert slow.status_code == 400 and slow.get_json()["error"] == "insecure_transport"
    fast = post(app, body, headers)  # the token is unused: Flask refused before its claim
    assert exactly(fast) == exactly(slow), fast.get_data(as_text=True)


@pytest.mark.parametrize("host", INVALID_HOSTS)
def test_a_code_exchange_with_an_invalid_host_is_refused_as_flask_refuses_it(
        app: Flask, portal: RelyingParty, flow: Flow, through_flask, host: str) -> None:
    req = Request()
    code = sign_in_through(portal, flow.browser, req)["code"]
    headers = {"Authorization": basic(portal.client_id, portal.secret or ""), "Host": host}
    body = (f"grant_type=authorization_code&code={code}"
            f"&redirect_uri=https%3A%2F%2Fportal.example%2Fcallback&code_verifier={req.verifier}")
    through_flask(True)
    slow = post(app, body, headers)
    through_flask(False)
    assert slow.status_code == 400 and slow.get_json()["error"] == "insecure_transport"
    fast = post(app, body, headers)  # the code is unused: Flask refused before its claim
    assert exactly(fast) == exactly(slow), fast.get_data(as_text=True)


def test_an_https_refresh_with_port_zero_is_refused_as_flask_refuses_it(
        app: Flask, portal: RelyingParty, flow: Flow, through_flask) -> None:
    """Over https too (a deployment behind TLS): ``Host: idp.example:0``."""
    headers = {"Authorization": basic(portal.client_id, portal.secret or ""),
               "Host": "idp.example:0"}
    body = f"grant_type=refresh_token&refresh_token={flow.tokens[REFRESH]}"
    through_flask(True)
    slow = post(app, body, headers, base_url="https://idp.example")
    through_flask(False)
    assert slow.status_code == 400 and slow.get_json()["error"] == "insecure_transport"
    fast = post(app, body, headers, base_url="https://idp.example")
    assert exactly(fast) == exactly(slow), fast.get_data(as_text=True)
