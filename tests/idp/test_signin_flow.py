"""Sign in up to the second factor (J1): the screens, the answers, 303 after a password
post (S8), password fields that password managers can fill (S9), revoked credentials
(J12) seen only by someone who knows the password."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from idp import audit
from idp.usernames import username_key
from tests.helpers import (
    GOOD_PASSWORD,
    audit_tags,
    create_account,
    csrf,
    get_account,
    register,
    run_cli,
    session_token,
    sign_in,
)

WRONG = "not the right password"


class Inputs(HTMLParser):
    """Every <input>, <form> and <script> of a page, with attributes, and any inline
    event handler attribute (onpaste and friends) seen on any element."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[dict[str, str | None]] = []
        self.forms: list[dict[str, str | None]] = []
        self.handlers: list[tuple[str, str]] = []
        self.scripts: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        self.handlers += [(tag, name) for name, _ in attrs if name.startswith("on")]
        if tag == "input":
            self.inputs.append(found)
        elif tag == "form":
            self.forms.append(found)
        elif tag == "script":
            self.scripts.append(found)


def parse(response) -> Inputs:
    parser = Inputs()
    parser.feed(response.get_data(as_text=True))
    return parser


def test_sign_in_page_then_password_step_leads_to_second_factor_J1_S8(app):
    create_account(app, "alice")
    client = app.test_client()
    page = client.get("/signin")
    assert page.status_code == 200
    assert "Sign in" in page.get_data(as_text=True)
    response = client.post("/signin", data={"csrf_token": csrf(client, "/signin"),
                                            "username": "ALICE", "password": GOOD_PASSWORD})  # any case
    assert response.status_code == 303  # S8: never 302/307, the password is not re-sent
    assert response.headers["Location"] == "/2fa/challenge"
    challenge = client.get("/2fa/challenge")
    assert challenge.status_code == 200
    assert "Two-factor authentication" in challenge.get_data(as_text=True)
    assert audit.LOGIN_FAILURE not in audit_tags(app)


def test_register_post_redirects_with_303_S8(app):
    response = register(app.test_client(), "alice")
    assert response.status_code == 303
    assert response.headers["Location"] == "/register/questions"


def test_wrong_password_and_unknown_username_get_one_generic_message_J1_S6(app):
    create_account(app, "alice")
    for username, password in (("alice", WRONG), ("nobody-here", GOOD_PASSWORD)):
        response = sign_in(app.test_client(), username, password)
        assert response.status_code == 401
        assert "The username or password is not correct." in response.get_data(as_text=True)
        assert "Location" not in response.headers
    assert audit_tags(app).count(audit.LOGIN_FAILURE) == 2


def test_password_is_never_echoed_back_S9_J1(app):
    create_account(app, "alice")
    secret = "a very particular secret phrase"
    body = sign_in(app.test_client(), "alice", secret).get_data(as_text=True)
    assert secret not in body
    body = register(app.test_client(), "bob", "bob's password is bob").get_data(as_text=True)
    assert "bob&#39;s password is bob" not in body and "bob's password is bob" not in body


def test_incomplete_form_is_refused_without_counting_an_attempt_J1_D4(app):
    create_account(app, "alice")
    client = app.test_client()
    response = client.post("/signin", data={"csrf_token": csrf(client, "/signin"),
                                            "username": "alice", "password": ""})
    assert response.status_code == 400
    assert "This field is required." in response.get_data(as_text=True)
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        assert svc.throttle.state(db, username_key("alice")).failures == 0
    finally:
        db.close()


@pytest.mark.parametrize("path", ["/signin", "/register"])
def test_password_fields_let_managers_and_pasting_work_S9(app, path):
    """S9, ASVS 6.2.6-6.2.7: type=password, sensible autocomplete hints, nothing that
    turns password managers off or blocks pasting."""
    page = parse(app.test_client().get(path))
    passwords = [i for i in page.inputs if i.get("name") in ("password", "confirm")]
    assert passwords, "no password field found"
    expected = "current-password" if path == "/signin" else "new-password"
    for field in passwords:
        assert field.get("type") == "password"
        assert field.get("autocomplete") == expected
    username = next(i for i in page.inputs if i.get("name") == "username")
    assert username.get("autocomplete") == "username"
    for element in page.inputs + page.forms:
        assert (element.get("autocomplete") or "").lower() != "off", element
    assert page.handlers == []  # no onpaste/oncopy/ondrop or any inline handler
    assert all(script.get("src") for script in page.scripts)  # no inline scripts


def test_page_script_does_not_touch_pasting_S9(app):
    script = app.test_client().get("/static/session.js").get_data(as_text=True)
    for word in ("paste", "clipboard", "preventDefault", "autocomplete"):
        assert word not in script


def test_sign_in_remembers_the_chosen_language_J1_J5(app):
    create_account(app, "alice", locale="en")
    assert sign_in(app.test_client(), "alice", **{"Accept-Language": "fr"}).status_code == 303
    assert get_account(app, "alice").locale == "fr"


def test_revoked_credential_shown_only_after_the_right_password_J12_S6(app):
    create_account(app, "alice")
    assert run_cli(app, "users", "revoke", "alice", "--reason", "compromised").exit_code == 0
    wrong = sign_in(app.test_client(), "alice", WRONG)
    assert wrong.status_code == 401
    assert "revoked" not in wrong.get_data(as_text=True).lower()
    client = app.test_client()
    right = sign_in(client, "alice")
    assert right.status_code == 403
    assert "Username and password revoked" in right.get_data(as_text=True)
    assert client.get("/2fa/challenge").status_code == 303  # no step forward
    assert audit.LOGIN_REVOKED in audit_tags(app)


def test_signing_in_again_as_someone_else_drops_the_first_binding_J1_S20(app):
    """A pending session for one account does not carry over to another one."""
    create_account(app, "alice")
    create_account(app, "bob")
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 303
    first = session_token(app, client)
    assert sign_in(client, "bob").status_code == 303
    assert session_token(app, client) != first
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        alice, bob = get_account(app, "alice"), get_account(app, "bob")
        assert svc.sessions.count_for_account(db, alice.id) == 0
        assert svc.sessions.count_for_account(db, bob.id) == 1
    finally:
        db.close()
