"""Portals for the provider's tests: registered with the real CLI, driven over HTTP."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import create_account, pass_second_factor, sign_in_at
from tests.oidc.rp import RelyingParty, Request, register_client

CALLBACK = "https://portal.example/callback"
LOGGED_OUT = "https://portal.example/signed-out"


@pytest.fixture
def portal(app: Flask) -> RelyingParty:
    """A confidential, trusted portal (no consent screen) with a logout address."""
    client_id, secret = register_client(
        app, "--name", "Employer portal", "--redirect-uri", CALLBACK,
        "--post-logout-redirect-uri", LOGGED_OUT, "--trusted")
    return RelyingParty(app, client_id, secret, CALLBACK)


@dataclass
class Flow:
    """One complete sign-in through a portal: the browser, the request, the tokens."""

    browser: FlaskClient
    request: Request
    tokens: dict[str, Any]
    claims: dict[str, Any]


def sign_in_through(rp: RelyingParty, browser: FlaskClient, req: Request,
                    username: str = "alice", **extra: str | None) -> dict[str, str]:
    """The browser's side: authorize, sign in with both factors when asked, come back
    with a code. Returns the callback parameters (code, state, iss)."""
    first = browser.get(rp.authorize_url(req, **extra))
    if first.status_code == 303:
        assert "/signin" in first.headers["Location"]
        sign_in_at(browser, first.headers["Location"], username)
        back = pass_second_factor(rp.app, browser, username)
        first = browser.get(back.headers["Location"])
    return rp.callback(first)


def full_flow(rp: RelyingParty, browser: FlaskClient | None = None, username: str = "alice",
              req: Request | None = None, **extra: str | None) -> Flow:
    browser = browser or rp.app.test_client()
    req = req or Request()
    params = sign_in_through(rp, browser, req, username, **extra)
    assert params["state"] == req.state
    response = rp.exchange(browser, params["code"], req)
    assert response.status_code == 200, response.get_data(as_text=True)
    tokens = response.get_json()
    now = int(rp.app.extensions["clef"].clock.now().timestamp())
    claims = rp.validate_id_token(browser, tokens["id_token"], req, now)
    return Flow(browser, req, tokens, claims)


@pytest.fixture
def witness(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A witness of the requests the token layer hands on to Flask
    (tests/oidc/token_layer.py, which imports this module: imported here when used)."""
    from tests.oidc.token_layer import witnessed

    return witnessed(app, monkeypatch)


@pytest.fixture
def alice(app: Flask) -> None:
    create_account(app, "alice")
