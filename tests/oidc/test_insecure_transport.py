"""A portal's server calling the back-channel endpoints over plain http with a Host that
is not loopback gets Authlib's ``insecure_transport`` refusal as JSON, never the 500 page
(the guide: bad input gets a clear 4xx and changes nothing)."""

from __future__ import annotations

import base64

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

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
