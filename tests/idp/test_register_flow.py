"""Registration (J2, first half): username and password, the optional recovery email
confirmed by a code, then the hand-off to the mandatory second-factor set-up."""

from __future__ import annotations

import html

from idp import audit
from tests.helpers import (
    audit_tags,
    create_account,
    csrf,
    emailed_code,
    get_account,
    outbox,
    register,
    session_token,
)


def test_register_without_email_goes_to_second_factor_setup_J2_S8(app):
    client = app.test_client()
    page = client.get("/register")
    assert page.status_code == 200
    before = session_token(app, client)
    response = register(client, "Alice", "quiet meadow lantern")
    assert response.status_code == 303
    assert response.headers["Location"] == "/register/questions"
    account = get_account(app, "alice")
    assert account is not None and account.username == "Alice"
    assert account.email is None
    assert session_token(app, client) != before  # S20: new token after the password
    assert client.get("/2fa/setup").status_code == 200
    assert client.get("/account").status_code == 303  # not signed in before the 2FA
    assert audit.REGISTERED in audit_tags(app)


def test_register_with_email_confirms_it_by_code_J2(app):
    client = app.test_client()
    response = register(client, "alice", "quiet meadow lantern", email_address="alice@example.org")
    assert response.status_code == 303
    assert response.headers["Location"] == "/register/email"
    mails = outbox(app)
    assert len(mails) == 1
    assert mails[0]["To"] == "alice@example.org"
    code = emailed_code(mails[0])
    page = client.get("/register/email")
    assert page.status_code == 200
    token = csrf(client, "/register/email")
    wrong = "000000" if code != "000000" else "111111"
    refused = client.post("/register/email", data={"csrf_token": token, "code": wrong})
    assert refused.status_code == 400
    assert "tries left" in html.unescape(refused.get_data(as_text=True))
    assert not get_account(app, "alice").has_confirmed_email
    accepted = client.post("/register/email", data={"csrf_token": token, "code": code})
    assert accepted.status_code == 303
    assert accepted.headers["Location"] == "/register/questions"
    assert get_account(app, "alice").has_confirmed_email


def test_refused_registration_keeps_the_username_and_creates_nothing_J2(app):
    response = register(app.test_client(), "alice", "short")
    body = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'value="alice"' in body
    assert "Some information needs to be corrected." in body
    assert get_account(app, "alice") is None
    assert audit.REGISTERED not in audit_tags(app)


def test_taken_username_is_refused_J2(app):
    create_account(app, "alice")
    response = register(app.test_client(), "ALICE", "another decent passphrase")
    assert response.status_code == 400
    assert "This username is not available." in html.unescape(response.get_data(as_text=True))


def test_invalid_email_refused_J2(app):
    response = register(app.test_client(), "alice", "quiet meadow lantern",
                        email_address="not an address")
    assert response.status_code == 400
    assert get_account(app, "alice") is None


def test_register_per_ip_limit_D4(make_app):
    app = make_app(rate_limit={"register_per_ip": "2/minute"})
    client = app.test_client()
    statuses = [register(client, f"user{i}", "x").status_code for i in range(3)]
    assert statuses == [400, 400, 429]
    assert get_account(app, "user2") is None


def test_a_missing_field_does_not_hide_the_other_reasons_J2_S2(app, client):
    """An empty confirmation still shows why the username and the password are refused,
    so the person fixes everything in one go; nothing is created."""
    response = client.post("/register", data={
        "csrf_token": csrf(client, "/register"), "username": "al", "password": "password",
        "confirm": "", "email": "",
    })
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "This field is required." in page
    assert "Use at least 3 characters." in page
    assert "one of the most common passwords" in page
    assert get_account(app, "al") is None
