"""D10 (S18, S21, S40): an authorization code issued before its sign-in session ended
can no longer be exchanged, whichever way the session ended, and no token outlives the
session it came from, even before the worker has purged an expired session."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from idp.oidc.models import AuthorizationCode
from tests.helpers import create_account, csrf, get_account, pass_second_factor, run_cli, sign_in
from tests.oidc.conftest import CALLBACK, LOGGED_OUT, full_flow, sign_in_through
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.recovery.conftest import MailWaitingClient
from tests.recovery.flows import last_code, post_code, post_new_password, post_question, set_questions, start


def _unexchanged_codes(app: Flask) -> int:
    with app.app_context():
        from idp.runtime import db

        return int(db().scalar(select(func.count()).select_from(AuthorizationCode)
                               .where(AuthorizationCode.used_at.is_(None))) or 0)


def _code_then(portal: RelyingParty, end: Callable[[FlaskClient], None]) -> None:
    """A code is issued, the session ends by ``end``, then the portal tries the code."""
    browser = portal.app.test_client()
    req = Request()
    params = sign_in_through(portal, browser, req)
    assert _unexchanged_codes(portal.app) == 1
    end(browser)
    assert _unexchanged_codes(portal.app) == 0, "the session's codes die with it"
    response = portal.exchange(portal.app.test_client(), params["code"], req)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"


def test_d10_sign_out_kills_the_unexchanged_code(portal, alice):
    _code_then(portal, lambda b: b.post("/signout", data={"csrf_token": csrf(b, "/account")}))


def test_d10_admin_sessions_end_kills_the_unexchanged_code(app, portal, alice):
    _code_then(portal, lambda b: run_cli(app, "sessions", "end", "alice"))


def test_d10_admin_sessions_end_all_kills_the_unexchanged_code(app, portal, alice):
    _code_then(portal, lambda b: run_cli(app, "sessions", "end", "--all"))


def test_d10_revocation_kills_the_unexchanged_code(app, portal, alice):
    _code_then(portal, lambda b: run_cli(app, "users", "revoke", "alice", "--reason", "other"))


def _short_idle_portal(make_app: Callable[..., Flask]) -> RelyingParty:
    """Sessions idle out in 5 minutes, codes live 10: a code can outlive its session."""
    app = make_app(session={"idle_minutes": 5}, oidc={"code_lifetime_seconds": 600})
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "P", "--redirect-uri", CALLBACK,
                                        "--post-logout-redirect-uri", LOGGED_OUT, "--trusted")
    return RelyingParty(app, client_id, secret, CALLBACK)


def test_d10_idle_expiry_purged_by_the_worker_kills_the_unexchanged_code(make_app, clock):
    portal = _short_idle_portal(make_app)

    def expire(_: FlaskClient) -> None:
        clock.advance(minutes=5)
        assert run_cli(portal.app, "oidc", "deliver").exit_code == 0

    _code_then(portal, expire)


def test_d10_an_expired_session_not_yet_purged_refuses_code_refresh_and_bearer(make_app, clock):
    """Nobody has purged the session yet (no worker): /token still sees it is dead."""
    portal = _short_idle_portal(make_app)
    app = portal.app
    flow = full_flow(portal)
    req = Request()
    params = sign_in_through(portal, flow.browser, req)
    clock.advance(minutes=5)  # idle: the row is still there, expired
    server = app.test_client()
    assert portal.exchange(server, params["code"], req).status_code == 400
    refreshed = portal.token(server, {"grant_type": "refresh_token",
                                      "refresh_token": flow.tokens["refresh_token"]})
    assert refreshed.status_code == 400
    bearer = {"Authorization": "Bearer " + flow.tokens["access_token"]}
    assert server.get("/userinfo", headers=bearer).status_code == 401


def test_d10_sign_out_my_other_sessions_kills_their_codes(app, portal, alice):
    def end_others(_: FlaskClient) -> None:
        here = app.test_client()
        sign_in(here, "alice")
        pass_second_factor(app, here)
        here.post("/2fa/sessions/end-others", data={"csrf_token": csrf(here, "/2fa/manage")})

    _code_then(portal, end_others)


def test_d10_password_reset_kills_the_unexchanged_code_S18(app, portal):
    app.test_client_class = MailWaitingClient
    create_account(app, "alice", email_address="alice@example.org", confirmed=True)
    set_questions(app, get_account(app, "alice").id)

    def reset(_: FlaskClient) -> None:
        resetting = app.test_client()
        start(resetting, "alice")
        post_code(resetting, last_code(app))
        post_question(resetting)
        assert post_new_password(resetting).status_code == 303

    _code_then(portal, reset)


@pytest.mark.parametrize("how", ["logout", "admin"])
def test_d10_refresh_is_refused_once_the_session_ended(app, portal, alice, how):
    flow = full_flow(portal)
    if how == "logout":
        flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})
    else:
        run_cli(app, "sessions", "end", "alice")
    refreshed = portal.token(app.test_client(), {"grant_type": "refresh_token",
                                                 "refresh_token": flow.tokens["refresh_token"]})
    assert refreshed.status_code == 400
