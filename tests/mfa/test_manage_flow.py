"""J9: the success page and the changes it offers, each behind a fresh sign-in with
both factors (S14) and followed by a notification: set the factor up again, new
recovery codes (the old ones dead, S13), and signing out the other sessions."""

from __future__ import annotations

from mfa import events
from tests.helpers import (
    audit_events,
    body_of,
    create_account,
    csrf,
    csrf_from,
    current_totp,
    enrol_app,
    outbox,
    pass_second_factor,
    shown_recovery_codes,
    sign_in,
    sign_out_via,
)
from tests.mfa.flows import factor_of, remaining_codes, session_row
from tests.mfa.test_recover_flow import post_recovery_code


def signed_in(app, client, **account):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True, **account)
    sign_in(client, "alice")
    pass_second_factor(app, client)


def test_the_success_page_offers_the_changes_J9(app, client):
    signed_in(app, client)
    page = client.get("/2fa/done").get_data(as_text=True)
    for expected in ("Authentication successful", 'href="/2fa/setup"',
                     'href="/2fa/recovery-codes/new"', 'action="/2fa/sessions/end-others"',
                     'href="/2fa/continue"'):
        assert expected in page
    assert client.get("/2fa/continue").headers["Location"] == "/account"


def test_set_up_again_replaces_the_factor_and_the_codes_J9_S13_S14(app, client, clock):
    signed_in(app, client)
    old_codes = shown_recovery_codes(client.get("/2fa/recovery-codes"))  # none pending
    assert old_codes == []
    clock.advance(minutes=1)
    choose = client.get("/2fa/setup")
    assert "Change your two-factor authentication" in choose.get_data(as_text=True)
    secret, codes = enrol_app(app, client, saved=False)
    assert factor_of(app, "alice").kind == "totp"
    assert len(codes) == 10 and remaining_codes(app, "alice") == 10
    saved = client.post("/2fa/recovery-codes", data={
        "csrf_token": csrf(client, "/2fa/recovery-codes"), "saved": "y"})
    assert saved.headers["Location"] == "/2fa/manage"
    mail = outbox(app)[-1]
    assert mail["To"] == "alice@example.com"
    assert "set up again" in body_of(mail)
    assert events.CHANGED in [e.tag for e in audit_events(app)]

    # the new secret signs in; the session itself stayed signed in throughout
    sign_out_via(client)
    sign_in(client, "alice")
    clock.advance(seconds=30)
    response = client.post("/2fa/challenge", data={"csrf_token": csrf(client, "/2fa/challenge"),
                                                   "code": current_totp(app, secret)})
    assert response.status_code == 303


def test_new_recovery_codes_kill_the_old_set_S13_S14(app, client):
    create_account(app, "alice", email_address="alice@example.com", confirmed=True,
                   second_factor=None)
    sign_in(client, "alice")
    _, old = enrol_app(app, client)
    confirm = client.get("/2fa/recovery-codes/new")
    assert "stops working" in confirm.get_data(as_text=True)
    response = client.post("/2fa/recovery-codes/new", data={"csrf_token": csrf_from(confirm)})
    assert response.headers["Location"] == "/2fa/recovery-codes"
    new = shown_recovery_codes(client.get("/2fa/recovery-codes"))
    assert len(new) == 10 and not set(new) & set(old)
    assert "recovery codes was issued" in body_of(outbox(app)[-1])

    sign_out_via(client)
    sign_in(client, "alice")
    assert post_recovery_code(client, old[0]).status_code == 401
    assert post_recovery_code(client, new[0]).status_code == 303


def test_changes_need_a_fresh_sign_in_S14(app, client, clock):
    """Past session.fresh_minutes, a change goes through both factors again and comes
    back to the page it asked for."""
    signed_in(app, client)
    clock.advance(minutes=11)
    client.post("/session/keepalive", data={"csrf_token": csrf(client, "/account")})
    for path in ("/2fa/setup", "/2fa/setup/app", "/2fa/recovery-codes/new"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/signin?next=")
    bounced = client.get("/2fa/recovery-codes/new")
    token = csrf(client, bounced.headers["Location"])
    client.post("/signin", data={"csrf_token": token, "username": "alice",
                                 "password": "correct horse battery staple"})
    assert session_row(app, client).level == "password"  # the factor is asked again
    assert pass_second_factor(app, client).headers["Location"] == "/2fa/recovery-codes/new"
    assert client.get("/2fa/recovery-codes/new").status_code == 200


def test_a_stale_post_changes_nothing_S14(app, client, clock):
    signed_in(app, client)
    token = csrf(client, "/2fa/recovery-codes/new")
    clock.advance(minutes=11)
    client.post("/session/keepalive", data={"csrf_token": csrf(client, "/account")})
    before = len(outbox(app))
    response = client.post("/2fa/recovery-codes/new", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"].startswith("/signin")
    assert len(outbox(app)) == before
    assert events.RECOVERY_CODES_REPLACED not in [e.tag for e in audit_events(app)]


def test_sign_out_my_other_sessions(app, client):
    signed_in(app, client)
    others = [app.test_client() for _ in range(2)]
    for index, other in enumerate(others):
        sign_in(other, "alice")
        if index == 0:
            pass_second_factor(app, other)  # one full, one pending
    response = client.post("/2fa/sessions/end-others",
                           data={"csrf_token": csrf(client, "/2fa/manage")})
    assert response.headers["Location"] == "/2fa/manage?ended=2"
    assert "2 other sessions were signed out" in client.get("/2fa/manage?ended=2").get_data(as_text=True)
    assert client.get("/account").status_code == 200
    for other in others:
        assert session_row(app, other) is None
    assert [e.details for e in audit_events(app, events.OTHER_SESSIONS_ENDED)] == [{"count": 2}]


def test_setting_up_again_kills_the_old_recovery_codes_J9_S13(app, client, clock):
    create_account(app, "alice", second_factor=None)
    sign_in(client, "alice")
    _, old = enrol_app(app, client)
    clock.advance(seconds=30)
    _, new = enrol_app(app, client)  # set up again from the signed-in session
    assert not set(old) & set(new)
    sign_out_via(client)
    sign_in(client, "alice")
    assert post_recovery_code(client, old[0]).status_code == 401
    assert post_recovery_code(client, new[0]).status_code == 303
