"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): whichever way a sign-in
session ends, every portal used in it is told, and its tokens of that session die; a
portal that is down receives it later; each outcome is in the audit log."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from sqlalchemy import delete

from idp import audit
from idp.models import WebSession
from tests.helpers import (
    GOOD_PASSWORD,
    audit_events,
    create_account,
    csrf,
    get_account,
    pass_second_factor,
    run_cli,
    sign_in,
)
from tests.oidc.conftest import Flow, full_flow
from tests.oidc.portal_server import PortalServer, free_port
from tests.oidc.rp import RelyingParty, register_client
from tests.recovery.conftest import MailWaitingClient
from tests.recovery.flows import last_code, post_code, post_new_password, post_question, set_questions, start

CALLBACK = "https://portal.example/callback"
LOGGED_OUT = "https://portal.example/signed-out"


@pytest.fixture
def listening() -> Iterator[PortalServer]:
    server = PortalServer().start()
    yield server
    server.stop()


def portal_for(app, server: PortalServer, name: str = "Employer portal",
               host: str = "portal.example") -> RelyingParty:
    callback = f"https://{host}/callback"
    client_id, secret = register_client(
        app, "--name", name, "--redirect-uri", callback, "--post-logout-redirect-uri",
        f"https://{host}/signed-out", "--backchannel-logout-uri", server.uri, "--trusted")
    return RelyingParty(app, client_id, secret, callback)


def deliver(app) -> str:
    result = run_cli(app, "oidc", "deliver")
    assert result.exit_code == 0, result.output
    return result.output


def assert_told(app, server: PortalServer, rp: RelyingParty, flow: Flow, reason: str) -> None:
    """The portal got exactly one valid logout token for this person and session, the
    session's tokens are dead, and the delivery is audited with its reason."""
    claims = server.logout_claims(flow.browser, rp.client_id)
    assert [(c["sub"], c["sid"]) for c in claims] == [(flow.claims["sub"], flow.claims["sid"])]
    bearer = {"Authorization": "Bearer " + flow.tokens["access_token"]}
    assert app.test_client().get("/userinfo", headers=bearer).status_code == 401
    refreshed = rp.token(app.test_client(), {"grant_type": "refresh_token",
                                             "refresh_token": flow.tokens["refresh_token"]})
    assert refreshed.status_code == 400
    delivered = audit_events(app, audit.BACKCHANNEL_DELIVERED)
    assert [(e.actor, e.details["reason"]) for e in delivered] == [(rp.client_id, reason)]


def test_sign_out_tells_the_portal(app, listening):
    create_account(app, "alice")
    rp = portal_for(app, listening)
    flow = full_flow(rp)
    flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})
    assert listening.received == []  # queued, not sent inside the request
    assert "1 logout(s) delivered" in deliver(app)
    assert_told(app, listening, rp, flow, "logout")


def test_rp_initiated_logout_tells_every_portal_of_the_session(app, listening):
    create_account(app, "alice")
    first = portal_for(app, listening)
    second = portal_for(app, listening, "Job bank", "jobs.example")
    browser = app.test_client()
    one = full_flow(first, browser)
    two = full_flow(second, browser)
    response = browser.get("/logout?" + _query(id_token_hint=one.tokens["id_token"],
                                               post_logout_redirect_uri=LOGGED_OUT, state="s1"))
    assert response.status_code == 302 and response.headers["Location"] == LOGGED_OUT + "?state=s1"
    deliver(app)
    assert len(listening.received) == 2
    assert {_aud(t) for t in listening.received} == {first.client_id, second.client_id}
    assert one.claims["sid"] != two.claims["sid"]  # one session, seen per portal


def _aud(token: str) -> str:
    body = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(body + "==="))["aud"])


def _query(**params: str) -> str:
    return urlencode(params)


def test_idle_timeout_tells_the_portal_even_if_the_person_never_comes_back_D5(app, listening, clock):
    create_account(app, "alice")
    rp = portal_for(app, listening)
    flow = full_flow(rp)
    clock.advance(minutes=19)
    assert "0 expired session(s) ended" in deliver(app)
    clock.advance(minutes=1)
    assert "1 expired session(s) ended, 1 logout(s) delivered" in deliver(app)
    assert_told(app, listening, rp, flow, "expired")


def test_absolute_timeout_tells_the_portal_D5(make_app, listening, clock):
    app = make_app(session={"absolute_hours": 1})
    create_account(app, "alice")
    rp = portal_for(app, listening)
    flow = full_flow(rp)
    for _ in range(3):  # active all along: only the absolute limit ends it
        clock.advance(minutes=15)
        flow.browser.post("/session/keepalive", data={"csrf_token": csrf(flow.browser, "/account")})
        deliver(app)
    assert listening.received == []
    clock.advance(minutes=15)
    deliver(app)
    assert listening.received
    assert_told(app, listening, rp, flow, "expired")


def test_admin_revocation_tells_the_portal_J12(app, listening):
    create_account(app, "alice")
    rp = portal_for(app, listening)
    flow = full_flow(rp)
    assert run_cli(app, "users", "revoke", "alice", "--reason", "compromised").exit_code == 0
    deliver(app)
    assert_told(app, listening, rp, flow, "account")


def test_the_inactivity_sweep_tells_the_portal_D7(make_app, listening, clock):
    """A revocation by the two-year sweep ends sessions the same way (the limits are
    shortened here so that a session can still be alive when it runs)."""
    app = make_app(revocation={"inactive_days": 2, "reminder_days": [1]},
                   session={"idle_minutes": 4000, "absolute_hours": 96})
    create_account(app, "alice")
    rp = portal_for(app, listening)
    flow = full_flow(rp)  # signing in restarts the inactivity clock
    clock.advance(days=2, minutes=1)
    result = run_cli(app, "users", "sweep-inactive")
    assert result.exit_code == 0 and "1 revocation(s)" in result.output, result.output
    deliver(app)
    assert_told(app, listening, rp, flow, "account")


def test_admin_ending_sessions_tells_the_portal_S22(app, listening):
    create_account(app, "alice")
    rp = portal_for(app, listening)
    flow = full_flow(rp)
    assert run_cli(app, "sessions", "end", "alice").exit_code == 0
    deliver(app)
    assert_told(app, listening, rp, flow, "account")


def test_sign_out_my_other_sessions_tells_their_portals(app, listening):
    create_account(app, "alice")
    rp = portal_for(app, listening)
    elsewhere = full_flow(rp)
    here = app.test_client()
    sign_in(here, "alice")
    pass_second_factor(app, here)
    here.post("/2fa/sessions/end-others", data={"csrf_token": csrf(here, "/2fa/manage")})
    deliver(app)
    assert_told(app, listening, rp, elsewhere, "others")


def test_another_account_signing_in_in_the_same_browser_ends_the_first_session(app, listening):
    create_account(app, "alice")
    create_account(app, "bob")
    rp = portal_for(app, listening)
    flow = full_flow(rp)
    token = csrf(flow.browser, "/signin")
    flow.browser.post("/signin", data={"csrf_token": token, "username": "bob",
                                       "password": GOOD_PASSWORD})
    deliver(app)
    assert_told(app, listening, rp, flow, "replaced")


def test_a_portal_that_is_down_gets_it_later_with_backoff(app, clock):
    port = free_port()
    down = PortalServer(port)  # nothing listens there yet
    create_account(app, "alice")
    rp = portal_for(app, down)
    flow = full_flow(rp)
    flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})
    assert "0 logout(s) delivered, 1 waiting" in deliver(app)
    failed = audit_events(app, audit.BACKCHANNEL_FAILED)
    assert len(failed) == 1 and failed[0].details["outcome"]["attempts"] == 1
    down.start()
    try:
        assert "0 logout(s) delivered, 1 waiting" in deliver(app)  # not due yet (backoff)
        clock.advance(seconds=app.extensions["clef"].settings.oidc.backchannel_retry_seconds[0])
        assert "1 logout(s) delivered, 0 waiting" in deliver(app)
        claims = down.logout_claims(flow.browser, rp.client_id)
        assert [c["sid"] for c in claims] == [flow.claims["sid"]]
    finally:
        down.stop()
    assert audit_events(app, audit.BACKCHANNEL_DELIVERED)[0].details["attempts"] == 2


def test_a_portal_down_for_good_is_given_up_and_audited(app, clock):
    down = PortalServer(free_port())
    create_account(app, "alice")
    rp = portal_for(app, down)
    flow = full_flow(rp)
    flow.browser.post("/signout", data={"csrf_token": csrf(flow.browser, "/account")})
    waits = app.extensions["clef"].settings.oidc.backchannel_retry_seconds
    deliver(app)
    for wait in waits:
        clock.advance(seconds=wait)
        deliver(app)
    assert "0 waiting" in deliver(app)
    given_up = audit_events(app, audit.BACKCHANNEL_GIVEN_UP)
    assert len(given_up) == 1 and given_up[0].details["outcome"]["attempts"] == len(waits) + 1


def test_a_password_reset_tells_the_portal_and_ends_every_token_S18_S40(app, listening):
    app.test_client_class = MailWaitingClient  # the reset code leaves after the answer
    create_account(app, "alice", email_address="alice@example.org", confirmed=True)
    account = get_account(app, "alice")
    set_questions(app, account.id)
    rp = portal_for(app, listening)
    flow = full_flow(rp)
    other_device = app.test_client()
    server_tokens = full_flow(rp, other_device).tokens  # a second session, a second token set
    resetting = app.test_client()
    start(resetting, "alice")
    post_code(resetting, last_code(app))
    post_question(resetting)
    assert post_new_password(resetting).status_code == 303
    deliver(app)
    assert len(listening.received) == 2  # one per session that used the portal
    for tokens in (flow.tokens, server_tokens):
        bearer = {"Authorization": "Bearer " + tokens["access_token"]}
        assert app.test_client().get("/userinfo", headers=bearer).status_code == 401
    reasons = {e.details["reason"] for e in audit_events(app, audit.BACKCHANNEL_DELIVERED)}
    assert reasons == {"account"}


def test_revocation_ends_tokens_even_when_no_session_row_is_left_S40(app, portal):
    """Revocation does not rely on finding a live session: with the sessions table
    emptied behind Clef's back (an operator's clean-up), the portal's refresh token
    still dies with the credential."""
    create_account(app, "alice")
    flow = full_flow(portal)
    engine = app.extensions["clef"].engine
    with engine.begin() as connection:
        connection.execute(delete(WebSession))
    assert run_cli(app, "users", "revoke", "alice", "--reason", "compromised").exit_code == 0
    basic = base64.b64encode(f"{portal.client_id}:{portal.secret}".encode()).decode()
    for token in (flow.tokens["access_token"], flow.tokens["refresh_token"]):
        answer = app.test_client().post("/introspect", data={"token": token},
                                        headers={"Authorization": f"Basic {basic}"})
        assert answer.get_json() == {"active": False}
