"""Issue 11: UserInfo reads its token on a connection of its own, without a request
session (idp.oidc.server.BearerValidator). Attacked here: the Bearer header in every
malformed or misplaced shape, and tokens that must not pass (revoked, another kind,
another portal's account state), each answered 400/401 with a WWW-Authenticate and
never a 500 (S43, RFC 6750 §2.1 and §3)."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import update

from idp.oidc.models import OAuthToken
from tests.helpers import create_account
from tests.oidc.conftest import CALLBACK, Flow, full_flow
from tests.oidc.rp import RelyingParty, register_client


@pytest.fixture
def flow(app: Flask) -> Flow:
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "Portal", "--redirect-uri", CALLBACK,
                                        "--trusted")
    return full_flow(RelyingParty(app, client_id, secret, CALLBACK))


def refused(response: Any, status: int = 401) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert response.get_json()["error"] in ("invalid_token", "missing_authorization",
                                            "unsupported_token_type", "invalid_request")


def test_issue11_userinfo_opens_no_request_session(app: Flask, flow: Flow, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def no_session() -> None:
        raise AssertionError("UserInfo opened a request session")

    monkeypatch.setattr("idp.oidc.server.db", no_session)
    bearer = {"Authorization": f"Bearer {flow.tokens['access_token']}"}
    client = app.test_client()
    assert client.get("/userinfo", headers=bearer).get_json()["sub"] == flow.claims["sub"]
    assert client.post("/userinfo", headers=bearer).status_code == 200


def test_issue11_s43_a_revoked_token_is_refused_on_the_next_read(app: Flask, flow: Flow) -> None:
    bearer = {"Authorization": f"Bearer {flow.tokens['access_token']}"}
    client = app.test_client()
    assert client.get("/userinfo", headers=bearer).status_code == 200
    with app.extensions["clef"].session_factory() as db:
        db.execute(update(OAuthToken).values(revoked_at=app.extensions["clef"].clock.now()))
        db.commit()
    refused(client.get("/userinfo", headers=bearer))


def test_issue11_s43_tokens_of_another_kind_are_no_access_token(app: Flask, flow: Flow) -> None:
    client = app.test_client()
    for value in (flow.tokens["refresh_token"], flow.tokens["id_token"],
                  flow.tokens["access_token"][:-1], flow.tokens["access_token"] + "x"):
        refused(client.get("/userinfo", headers={"Authorization": f"Bearer {value}"}))


def test_issue11_rfc6750_the_scheme_is_case_insensitive(app: Flask, flow: Flow) -> None:
    token = flow.tokens["access_token"]
    for scheme in ("bearer", "BEARER", "BeArEr"):
        answer = app.test_client().get("/userinfo", headers={"Authorization": f"{scheme} {token}"})
        assert answer.status_code == 200, scheme


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic YTpi", "Token abc", "Bearer\tabc",
    "Bearer " + "A" * 100_000, "Bearer \u00e9\u00e8\u00ff", "Bearer a\x7fb", "Bearer a b",
])
def test_issue11_s43_a_malformed_authorization_is_refused_never_a_500(app: Flask, flow: Flow,
                                                                     header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    answer = app.test_client().get("/userinfo", headers=headers)
    assert answer.status_code in (400, 401), (header, answer.status_code)
    assert "WWW-Authenticate" in answer.headers


def test_issue11_s43_two_authorization_headers_do_not_pass(app: Flask, flow: Flow) -> None:
    good = f"Bearer {flow.tokens['access_token']}"
    for pair in ((good, "Bearer forged"), ("Bearer forged", good)):
        answer = app.test_client().get("/userinfo", headers=[("Authorization", pair[0]),
                                                             ("Authorization", pair[1])])
        assert answer.status_code in (200, 400, 401)
        if answer.status_code == 200:  # only the first header was read, and it was ours
            assert pair[0] == good


def test_issue11_s43_a_token_outside_the_header_is_not_read(app: Flask, flow: Flow) -> None:
    """Clef reads the Authorization header only (RFC 6750 §2.1): a token in the query
    string would be logged by every proxy on the way."""
    token = flow.tokens["access_token"]
    client = app.test_client()
    refused(client.get(f"/userinfo?access_token={token}"))
    refused(client.post("/userinfo", data={"access_token": token}))
