"""What the tests of the token layer in front of Flask share (issue 11): the layer
(idp.oidc.token_endpoint, which answers the common refresh and, through
idp.oidc.code_endpoint, the common code exchange), a witness of what it hands on to
Flask, a switch that makes it answer nothing, and the plain requests and answers."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from flask import Flask

from idp.oidc.token_endpoint import TokenEndpoint
from tests.oidc.conftest import CALLBACK
from tests.oidc.rp import RelyingParty, register_client


def layer_of(app: Flask) -> TokenEndpoint:
    found: Any = app.wsgi_app
    while not isinstance(found, TokenEndpoint):
        found = getattr(found, "app", None)
        assert found is not None, "the token request goes through Flask"
    return found


class Witness:
    """Counts the requests the layer hands on to Flask."""

    def __init__(self, layer: TokenEndpoint) -> None:
        self.inner = layer.app
        self.handed = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.handed += 1
        return self.inner(environ, start_response)


def witnessed(app: Flask, monkeypatch: Any) -> Witness:
    """A witness put between the layer and Flask for the test (``monkeypatch`` undoes it)."""
    layer = layer_of(app)
    seen = Witness(layer)
    monkeypatch.setattr(layer, "app", seen)
    return seen


def switch_of(layer: TokenEndpoint) -> Callable[[bool], None]:
    """``switch(True)``: the layer answers nothing (the token view's answers); the
    requests still pass a witness. ``switch(False)`` puts it back."""

    def switch(on: bool) -> None:
        if on:
            layer._servable = lambda environ: False  # type: ignore[method-assign]
        else:
            vars(layer).pop("_servable", None)
    return switch


def trusted_portal(app: Flask) -> RelyingParty:
    """A confidential, trusted portal (no consent screen), registered with the CLI."""
    client_id, secret = register_client(app, "--name", "Portal", "--redirect-uri", CALLBACK,
                                        "--trusted")
    return RelyingParty(app, client_id, secret, CALLBACK)


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")


def post(app: Flask, body: bytes | str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    return app.test_client().post("/token", data=body, headers=headers or {},
                                  content_type="application/x-www-form-urlencoded", **extra)


def exactly(response: Any) -> tuple[str, bytes, list[tuple[str, str]]]:
    return response.status, response.get_data(), response.headers.to_wsgi_list()


# Hosts Werkzeug finds invalid (a port of 0, over 65535 or with a leading zero; an empty
# Host header): the view's request URL then has no host, so Authlib refuses the request
# as insecure transport (400 ``insecure_transport``), whatever the scheme (S17).
INVALID_HOSTS = ["localhost:0", "127.0.0.1:99999", "localhost:00080", "[::1]:0", ""]


def refused_as_flask_refuses(app: Flask, switch: Callable[[bool], None], body: str,
                             headers: dict[str, str], **extra: Any) -> None:
    """The token view refuses ``body`` as insecure transport, and the layer answers
    exactly the same, issuing nothing (Flask refused before any claim). The layer issued
    tokens for such a Host before it read the host with Werkzeug's ``get_host`` (found by
    an adversarial review)."""
    switch(True)
    slow = post(app, body, headers, **extra)
    switch(False)
    assert slow.status_code == 400 and slow.get_json()["error"] == "insecure_transport"
    fast = post(app, body, headers, **extra)
    assert exactly(fast) == exactly(slow), fast.get_data(as_text=True)
