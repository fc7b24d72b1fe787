"""Crafted input gets a clear translated 4xx and changes nothing (S28: never a 500 or a
stack trace; ASVS 1.2, 1.3): other scripts' digits in every field a code is typed in, a
NUL byte in any text, a body over the size limit, a username whose case-folded form is
wider than its column (``ß`` folds to ``ss``). Each case runs on SQLite and again on
PostgreSQL, which refuses NUL in text and enforces column widths."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp.errors import MESSAGES
from idp.forms import DIGITS_ONLY
from idp.input_guard import NUL_MESSAGE
from mfa.forms import LETTERS_AND_DIGITS
from tests.helpers import (
    create_account,
    csrf,
    french,
    get_account,
    register,
    sign_in,
)
from tests.recovery.conftest import wait_for_mail
from tests.snapshots import changed_tables, table_rows

ARABIC_INDIC = "\u0661\u0662\u0663\u0664\u0665\u0666"  # ١٢٣٤٥٦
FULL_WIDTH = "\uff11\uff12\uff13\uff14\uff15\uff16"  # full-width 123456
DEVANAGARI = "\u0967\u0968\u0969\u096a\u096b\u096c"  # १२३४५६
UNICODE_CODES = [ARABIC_INDIC, FULL_WIDTH, DEVANAGARI, "12345\u0666"]


def text(response) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(response.get_data(as_text=True))


def post_refused_code(app: Flask, client: FlaskClient, path: str, code: str,
                      message: object = DIGITS_ONLY) -> None:
    """Post ``code`` to ``path``: a 400 with the reason, and not a row changed (no
    attempt counted, no audit row, no code used up)."""
    token = csrf(client, path)
    before = table_rows(app)
    response = client.post(path, data={"csrf_token": token, "code": code})
    assert response.status_code == 400, (path, code, response.status_code)
    assert str(message) in text(response)
    assert changed_tables(before, table_rows(app)) == []


@pytest.mark.parametrize("code", UNICODE_CODES)
def test_s28_unicode_digits_at_the_app_challenge_are_refused_not_500(app, client, code):
    create_account(app, "alice")
    sign_in(client, "alice")
    post_refused_code(app, client, "/2fa/challenge", code)


def test_s28_unicode_digits_at_the_email_challenge_count_nothing(app, client):
    create_account(app, "alice", email_address="alice@example.org", confirmed=True,
                   second_factor="email")
    sign_in(client, "alice")
    client.get("/2fa/challenge")  # sends the code bound to this attempt
    for code in UNICODE_CODES:
        post_refused_code(app, client, "/2fa/challenge", code)


def test_s28_unicode_characters_in_a_recovery_code_are_refused(app, client):
    create_account(app, "alice")
    sign_in(client, "alice")
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in "ABCDEFGHJKMNPQRS")
    for code in (full_width, "ABCD-EFGH-JKMN-PQR\u0663"):
        post_refused_code(app, client, "/2fa/recover", code, LETTERS_AND_DIGITS)


def test_s28_unicode_digits_while_setting_up_the_app_are_refused_not_500(app, client):
    register(client, "alice")
    client.get("/2fa/setup/app")
    for code in UNICODE_CODES:
        post_refused_code(app, client, "/2fa/setup/app", code)


def test_s28_unicode_digits_while_setting_up_email_codes_count_nothing(app, client):
    create_account(app, "alice", email_address="alice@example.org", confirmed=True,
                   second_factor=None)
    sign_in(client, "alice")
    client.get("/2fa/setup/email")
    for code in UNICODE_CODES:
        post_refused_code(app, client, "/2fa/setup/email", code)


def test_s28_unicode_digits_confirming_the_registration_email_count_nothing(app, client):
    register(client, "alice", email_address="alice@example.org")
    for code in UNICODE_CODES:
        post_refused_code(app, client, "/register/email", code)


def test_s28_unicode_digits_in_the_password_reset_code_count_nothing(app, client):
    create_account(app, "alice", email_address="alice@example.org", confirmed=True)
    started = client.post("/forgot-password", data={
        "csrf_token": csrf(client, "/forgot-password"), "username": "alice"})
    wait_for_mail(app)
    assert started.headers["Location"].startswith("/forgot-password/code")
    for code in UNICODE_CODES:
        post_refused_code(app, client, "/forgot-password/code", code)


def test_s28_digit_message_is_translated():
    assert french(str(DIGITS_ONLY)) and french(str(LETTERS_AND_DIGITS))


# --- NUL bytes: PostgreSQL refuses them in text, so they never reach a query -----------

NUL_NAME = "al\x00ice"


def _form_post(client: FlaskClient, page: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(page, data={"csrf_token": csrf(client, page), **fields})


@pytest.mark.parametrize(("page", "fields"), [
    ("/signin", {"username": NUL_NAME, "password": "correct horse battery staple"}),
    ("/signin", {"username": "alice", "password": "correct horse\x00battery staple"}),
    ("/register", {"username": NUL_NAME, "password": "lanterns over the harbour",
                   "confirm": "lanterns over the harbour"}),
    ("/register", {"username": "bob", "password": "lanterns over the harbour",
                   "confirm": "lanterns over the harbour", "email": "b\x00b@example.org"}),
    ("/forgot-password", {"username": NUL_NAME}),
    ("/forgot-username", {"email": "alice\x00@example.org"}),
])
def test_s28_a_nul_byte_in_a_form_gets_a_clear_400_and_changes_nothing(app, page, fields):
    create_account(app, "alice")
    client = app.test_client()
    before = table_rows(app)
    response = _form_post(client, page, **fields)
    assert response.status_code == 400
    assert str(NUL_MESSAGE) in text(response)
    assert changed_tables(before, table_rows(app)) == []


def test_s28_a_nul_byte_in_the_address_or_user_agent_gets_a_400(app, client):
    before = table_rows(app)
    assert client.get("/signin?next=/account%00").status_code == 400
    assert client.get("/signin", headers={"User-Agent": "x\x00y"}).status_code == 400
    assert changed_tables(before, table_rows(app)) == []


def test_s28_a_nul_byte_at_the_token_endpoint_gets_an_oauth_error(app, client):
    response = client.post("/token", data={"grant_type": "authorization_code",
                                           "code": "x\x00", "client_id": "c\x00"})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


def test_s28_nul_message_is_translated(app):
    assert french(str(NUL_MESSAGE))
    client = app.test_client()
    page = client.get("/signin?x=%00", headers={"Accept-Language": "fr"})
    assert page.status_code == 400
    assert french(str(NUL_MESSAGE)) in text(page)


# --- A body over the size limit: its own bilingual 413 page ---------------------------

def test_s28_a_body_over_the_limit_gets_its_own_413_page(app):
    create_account(app, "alice")
    client = app.test_client()
    token = csrf(client, "/signin")
    before = table_rows(app)
    big = client.post("/signin", data={"csrf_token": token, "username": "alice",
                                       "password": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)})
    assert big.status_code == 413
    assert str(MESSAGES[413]) in text(big)
    assert "Technical difficulties" not in text(big)
    assert changed_tables(before, table_rows(app)) == []
    french_page = client.post("/register", data={"x": "y" * 70_000},
                              headers={"Accept-Language": "fr"})
    assert french_page.status_code == 413
    assert french(str(MESSAGES[413])) in text(french_page)


# --- A username that fits on screen but not, case-folded, in its column ----------------

@pytest.mark.parametrize("name", ["ß" * 40, "ß" * 33, "ﬀ" * 30 + "ß" * 3])
def test_s28_a_username_wider_than_its_column_once_folded_is_refused(app, client, name):
    before = table_rows(app, skip=("audit_events",))
    response = register(client, name)
    assert response.status_code == 400
    assert "ß counts as ss" in text(response)
    assert get_account(app, name) is None
    assert changed_tables(before, table_rows(app, skip=("audit_events",))) == []


def test_s28_a_username_whose_folded_form_fits_still_registers(app, client):
    assert register(client, "ß" * 32).status_code == 303
    assert get_account(app, "SS" * 32) is not None


# --- Found by the fuzz tests (tests/fuzz/) ------------------------------------------

@pytest.mark.parametrize("signed_in", [False, True])
def test_s44_a_logout_hint_before_any_key_exists_is_refused_not_500(app, signed_in):
    """No signing key published yet (no ID token ever issued): any id_token_hint is
    invalid, so the person is asked or told they are signed out; no redirect, no 500."""
    create_account(app, "alice")
    client = app.test_client()
    if signed_in:
        from tests.helpers import pass_second_factor

        sign_in(client, "alice")
        pass_second_factor(app, client)
    response = client.get("/logout?id_token_hint=not.a.token")
    assert response.status_code == 200
    assert "Location" not in response.headers


@pytest.mark.parametrize("response_type", ["cöde", 'code"', "code\\", "code\ttoken", "ß"])
def test_s31_a_malformed_response_type_gets_an_error_page_not_500(app, client, response_type):
    """Authlib would echo it in an error description, which may hold printable ASCII
    only (RFC 6749 §5.2), and raise instead: refused first, with a page, no redirect."""
    from urllib.parse import urlencode

    query = urlencode({"response_type": response_type, "client_id": "x", "scope": "openid",
                       "redirect_uri": "https://portal.example/callback"})
    response = client.get("/authorize?" + query)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "invalid_request" in response.get_data(as_text=True)


@pytest.mark.parametrize("endpoint", ["/token", "/introspect", "/revoke"])
@pytest.mark.parametrize("header", [" ", "0 ", "Basic ", "Basic /w==", "Basic " + "w7/DqA=="[:4]])
def test_s41_a_malformed_basic_header_is_invalid_client_not_500(app, client, endpoint, header):
    """Authlib's Basic parser raises ValueError on a header with no credentials after
    the scheme, or credentials that are not UTF-8: taken as no client authentication."""
    response = client.post(endpoint, data={"grant_type": "authorization_code", "code": "x",
                                            "token": "x"}, headers={"Authorization": header})
    assert response.status_code in (400, 401), response.status_code
    assert response.get_json()["error"] == "invalid_client"
