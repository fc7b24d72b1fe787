"""What the back-channel endpoints (/token, /revoke, /introspect) answer a portal's
server when they cannot serve it: plain http to a Host that is not loopback gets Authlib's
``insecure_transport`` refusal as JSON, an unreachable database the JSON 503; never a page
(the guide: bad input gets a clear 4xx and changes nothing)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from idp.oidc.models import OAuthToken
from idp.runtime import db
from tests.helpers import create_account
from tests.oidc.conftest import full_flow
from tests.oidc.rp import RelyingParty


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_plain_http_to_a_public_host_is_a_json_400(client: FlaskClient, path: str) -> None:
    response = client.post(path, base_url="http://clef.example", data={
        "grant_type": "refresh_token", "refresh_token": "x", "token": "x"})
    assert response.status_code == 400
    assert response.is_json and response.get_json()["error"] == "insecure_transport"
    assert response.headers["Cache-Control"] == "no-store"
    assert b"<html" not in response.data


def test_a_real_refresh_over_plain_http_rotates_nothing(app: Flask, client: FlaskClient,
                                                       portal: RelyingParty) -> None:
    create_account(app, "alice")
    refresh_token = full_flow(portal).tokens["refresh_token"]
    with app.app_context():
        before = db().scalar(select(func.count()).select_from(OAuthToken))
    raw = f"{portal.client_id}:{portal.secret}".encode()
    response = client.post("/token", base_url="http://clef.example", data={
        "grant_type": "refresh_token", "refresh_token": refresh_token},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")})
    assert response.status_code == 400
    assert response.get_json()["error"] == "insecure_transport"
    with app.app_context():
        assert db().scalar(select(func.count()).select_from(OAuthToken)) == before
    again = portal.token(app.test_client(), {"grant_type": "refresh_token",
                                             "refresh_token": refresh_token})
    assert again.status_code == 200  # still unused, so not treated as a reuse


@pytest.mark.parametrize("path", ["/token", "/revoke", "/introspect"])
def test_database_unreachable_is_a_json_503_for_a_portal(
        app: Flask, client: FlaskClient, portal: RelyingParty, path: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The back-channel endpoints answer a portal's server: when the database cannot be
    reached, the JSON 503 with Retry-After (as UserInfo), not the page meant for a
    person, and no trace in the log."""
    create_account(app, "alice")
    refresh_token = full_flow(portal).tokens["refresh_token"]

    def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("connect", {}, ConnectionRefusedError("refused"))

    engine = app.extensions["clef"].engine
    monkeypatch.setattr(engine, "connect", refused)
    monkeypatch.setattr(engine, "begin", refused)
    monkeypatch.setattr(engine, "raw_connection", refused)
    raw = f"{portal.client_id}:{portal.secret}".encode()
    response = client.post(path, data={"grant_type": "refresh_token",
                                       "refresh_token": refresh_token, "token": refresh_token},
                           headers={"Authorization": "Basic " + base64.b64encode(raw).decode()})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert b"<html" not in response.data and b"refused" not in response.data
    assert "Traceback" not in caplog.text
