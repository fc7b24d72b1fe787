"""Issue 11: the app's own per-request steps as one before- and one after-request
function (idp.app), the NUL guard reading the raw path and query (idp.input_guard), the
CSRF check made on unsafe methods only, and the partners' hooks under the blueprints
they concern. Every guard still refuses what it refused."""

from __future__ import annotations

import html

import pytest
from flask import Flask

from idp.app import csrf
from idp.errors import CSRF_MESSAGE
from idp.input_guard import NUL_MESSAGE
from tests.helpers import csrf as csrf_token


def test_issue11_a_get_never_pays_for_the_csrf_exemptions(app: Flask, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def costly() -> bool:
        raise AssertionError("the exemption list was read for a safe method")

    monkeypatch.setattr(csrf, "_is_exempt", costly)
    assert app.test_client().get("/signin").status_code == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_issue11_s24_every_unsafe_method_still_needs_the_token(app: Flask, method: str) -> None:
    client = app.test_client()
    client.get("/signin")  # a session, so only the token is missing
    response = client.open("/signin", method=method, data={"username": "a", "password": "b"})
    assert response.status_code in (400, 405)
    if method == "POST":
        assert response.status_code == 400
    with_token = client.post("/signin", data={"csrf_token": csrf_token(client, "/signin") + "x",
                                              "username": "a", "password": "b"})
    assert with_token.status_code == 400  # a wrong token is no token


def test_issue11_s24_portals_endpoints_stay_exempt_people_pages_do_not(app: Flask) -> None:
    """Each endpoint's exemption is remembered after its first unsafe request: asked
    in turn and again, each keeps its own answer."""
    client = app.test_client()
    for _ in range(2):
        assert client.post("/token", data={"grant_type": "refresh_token"}).status_code in (400, 401)
        assert client.post("/userinfo").status_code == 401
        refused = client.post("/register", data={"username": "a"})
        assert refused.status_code == 400
        assert str(CSRF_MESSAGE) in html.unescape(refused.get_data(as_text=True))


@pytest.mark.parametrize("query", ["a=%00", "%00=1", "a=b%00c", "a=%00&b=2", "x&%00",
                                   "a=%2500%00", "a=%%00"])
def test_issue11_s28_a_percent_encoded_nul_anywhere_in_the_query_is_refused(app: Flask, query: str) -> None:
    response = app.test_client().get(f"/signin?{query}")
    assert response.status_code == 400
    assert str(NUL_MESSAGE) in response.get_data(as_text=True)


def test_issue11_s28_a_raw_nul_in_the_query_or_path_is_refused(app: Flask) -> None:
    client = app.test_client()
    raw = client.get("/signin", environ_overrides={"QUERY_STRING": "a=\x00"})
    assert raw.status_code == 400
    assert client.get("/sign%00in").status_code == 400
    assert client.get("/userinfo?a=%00").get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("query", ["a=%2500", "a=%200", "a=0%0", "a=100%25"])
def test_issue11_s28_what_only_looks_like_a_nul_is_let_through(app: Flask, query: str) -> None:
    assert app.test_client().get(f"/signin?{query}").status_code == 200


def test_issue11_the_partner_hooks_run_only_under_their_blueprints(app: Flask) -> None:
    from partners import views

    app_wide = app.before_request_funcs[None] + app.after_request_funcs[None]
    hooks = (views.remember_partner_at_sign_out, views.offer_partner_sign_out,
             views.password_pages_do_not_apply)
    assert not any(hook in app_wide for hook in hooks)
    assert views.remember_partner_at_sign_out in app.before_request_funcs["auth"]
    assert views.offer_partner_sign_out in app.after_request_funcs["auth"]
    for blueprint in views.PASSWORD_SLICES:
        assert views.password_pages_do_not_apply in app.before_request_funcs[blueprint]
