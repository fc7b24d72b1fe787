"""J8: setting up the mandatory second factor right after registration, or after the
password step of an account that never finished; the recovery codes shown once."""

from __future__ import annotations

from idp.sessions import FULL, PASSWORD
from mfa import events
from tests.helpers import (
    audit_tags,
    body_of,
    create_account,
    csrf,
    csrf_from,
    current_totp,
    emailed_code,
    enrol_app,
    outbox,
    register,
    shown_recovery_codes,
    shown_secret,
    sign_in,
)
from tests.mfa.flows import factor_of, remaining_codes, session_row
from tests.totp_reference import key_of


def test_registration_leads_to_set_up_and_the_app_signs_in_J8_S11(app, client):
    assert register(client, "alice").headers["Location"] == "/register/questions"  # J2, then J8
    choose = client.get("/2fa/setup")
    assert choose.status_code == 200
    page = choose.get_data(as_text=True)
    assert 'value="email"' in page and "disabled" in page  # no confirmed address: app only
    chosen = client.post("/2fa/setup", data={"csrf_token": csrf_from(choose), "method": "totp"})
    assert chosen.headers["Location"] == "/2fa/setup/app"

    setup = client.get("/2fa/setup/app")
    html = setup.get_data(as_text=True)
    secret = shown_secret(setup)
    assert len(key_of(secret)) * 8 >= 160
    assert '<svg' in html and 'role="img"' in html
    assert client.get("/2fa/setup/app").get_data(as_text=True).count(secret[:4]) >= 1
    assert shown_secret(client.get("/2fa/setup/app")) == secret  # a reload keeps the secret
    assert session_row(app, client).level == PASSWORD

    confirmed = client.post("/2fa/setup/app", data={"csrf_token": csrf_from(setup),
                                                    "code": current_totp(app, secret)})
    assert confirmed.status_code == 303
    assert confirmed.headers["Location"] == "/2fa/recovery-codes"
    row = session_row(app, client)
    assert row.level == FULL and row.amr == "pwd otp" and row.auth_time is not None
    factor = factor_of(app, "alice")
    assert factor.kind == "totp" and secret not in (factor.totp_secret or "")
    assert events.ENROLLED in audit_tags(app)


def test_a_wrong_first_code_changes_nothing(app, client):
    register(client, "alice")
    setup = client.get("/2fa/setup/app")
    secret = shown_secret(setup)
    wrong = f"{(int(current_totp(app, secret)) + 1) % 10**6:06d}"
    response = client.post("/2fa/setup/app", data={"csrf_token": csrf_from(setup), "code": wrong})
    assert response.status_code == 400
    assert "That code is not correct" in response.get_data(as_text=True)
    assert factor_of(app, "alice") is None
    assert session_row(app, client).level == PASSWORD


def test_recovery_codes_are_shown_until_saved_and_then_never_again_S13(app, client):
    register(client, "alice")
    _, codes = enrol_app(app, client, saved=False)
    assert len(codes) == 10
    again = client.get("/2fa/recovery-codes")  # a reload shows the same set
    assert shown_recovery_codes(again) == codes
    download = client.get("/2fa/recovery-codes.txt")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert all(code in download.get_data(as_text=True) for code in codes)

    unticked = client.post("/2fa/recovery-codes", data={"csrf_token": csrf_from(again)})
    assert unticked.status_code == 400
    assert "Confirm that you have saved your codes." in unticked.get_data(as_text=True)
    ticked = client.post("/2fa/recovery-codes", data={"csrf_token": csrf_from(again), "saved": "y"})
    assert ticked.status_code == 303 and ticked.headers["Location"] == "/account"

    assert client.get("/2fa/recovery-codes").headers["Location"] == "/2fa/manage"
    assert client.get("/2fa/recovery-codes.txt").status_code == 404
    assert remaining_codes(app, "alice") == 10


def test_an_account_without_a_factor_sets_one_up_after_the_password_J8(app, client):
    create_account(app, "alice", second_factor=None)
    assert sign_in(client, "alice").headers["Location"] == "/2fa/challenge"
    assert client.get("/2fa/challenge").headers["Location"] == "/2fa/setup"
    enrol_app(app, client)
    assert client.get("/account").status_code == 200


def test_a_pending_session_cannot_set_up_over_an_existing_factor_S10(app, client):
    """Knowing the password must not let anyone replace the factor: every set-up page
    sends the pending session to the challenge."""
    create_account(app, "alice")
    sign_in(client, "alice")
    for path in ("/2fa/setup", "/2fa/setup/app", "/2fa/setup/email"):
        response = client.get(path)
        assert response.status_code == 303 and response.headers["Location"] == "/2fa/challenge"
    token = csrf(client, "/2fa/challenge")
    posted = client.post("/2fa/setup/app", data={"csrf_token": token, "code": "123456"})
    assert posted.headers["Location"] == "/2fa/challenge"
    assert session_row(app, client).level == PASSWORD


def test_anonymous_visitors_are_sent_to_sign_in(client):
    for path in ("/2fa/setup", "/2fa/setup/app", "/2fa/challenge", "/2fa/recover",
                 "/2fa/done", "/2fa/manage", "/2fa/recovery-codes"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/signin")


def test_email_codes_need_a_confirmed_address_J8_D2(app, client):
    register(client, "alice")
    choose = client.get("/2fa/setup")
    response = client.post("/2fa/setup", data={"csrf_token": csrf_from(choose), "method": "email"})
    assert response.status_code == 400
    assert "Email codes need a confirmed recovery email" in response.get_data(as_text=True)
    assert client.get("/2fa/setup/email").headers["Location"] == "/2fa/setup"


def test_set_up_with_email_codes_J8_S12_D2(app, client, clock):
    register(client, "alice", email_address="alice@example.com")
    confirm = emailed_code(outbox(app)[-1])
    client.post("/register/email", data={"csrf_token": csrf(client, "/register/email"),
                                         "code": confirm})
    choose = client.get("/2fa/setup")
    assert "weaker than an app" in choose.get_data(as_text=True)  # D2 says why
    client.post("/2fa/setup", data={"csrf_token": csrf_from(choose), "method": "email"})
    page = client.get("/2fa/setup/email")
    assert page.status_code == 200
    mail = outbox(app)[-1]
    assert mail["To"] == "alice@example.com"
    assert "set up email codes" in body_of(mail)
    code = emailed_code(mail)
    assert len(outbox(app)) == 2
    client.get("/2fa/setup/email")  # a reload sends nothing new
    assert len(outbox(app)) == 2

    done = client.post("/2fa/setup/email", data={"csrf_token": csrf_from(page), "code": code})
    assert done.headers["Location"] == "/2fa/recovery-codes"
    assert factor_of(app, "alice").kind == "email"
    assert session_row(app, client).amr == "pwd mail"


def test_the_code_that_confirmed_the_app_cannot_also_pass_a_sign_in_S11(app, client):
    register(client, "alice")
    setup = client.get("/2fa/setup/app")
    secret = shown_secret(setup)
    code = current_totp(app, secret)
    client.post("/2fa/setup/app", data={"csrf_token": csrf_from(setup), "code": code})
    other = app.test_client()
    sign_in(other, "alice")
    replay = other.post("/2fa/challenge", data={"csrf_token": csrf(other, "/2fa/challenge"),
                                                "code": code})
    assert replay.status_code == 401
