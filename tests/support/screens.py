"""Driving the real screens as a person would: CSRF tokens read from the page, sign-in,
registration, the second step, enrolment, sign-out, and what those pages show."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.support.accounts import GOOD_PASSWORD, TEST_TOTP_SECRET, current_totp, fresh_totp

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_from(response: TestResponse) -> str:
    found = CSRF_RE.search(response.get_data(as_text=True))
    assert found, "no CSRF token on the page"
    return found.group(1)


def csrf(client: FlaskClient, path: str) -> str:
    return csrf_from(client.get(path))


def sign_in(client: FlaskClient, username: str, password: str = GOOD_PASSWORD,
            **headers: str) -> TestResponse:
    token = csrf(client, "/signin")
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": password}, headers=headers)


def sign_in_at(client: FlaskClient, location: str, username: str,
               password: str = GOOD_PASSWORD) -> TestResponse:
    """Sign in on the page a redirect led to (it keeps that page's ``next``)."""
    token = csrf(client, location)
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": password})


def register(client: FlaskClient, username: str, password: str = GOOD_PASSWORD,
             email_address: str | None = None, **headers: str) -> TestResponse:
    """Post the registration screen (J2) as a person would."""
    data = {"csrf_token": csrf(client, "/register"), "username": username,
            "password": password, "confirm": password}
    if email_address is not None:
        data["email"] = email_address
    return client.post("/register", data=data, headers=headers)


def pass_second_factor(app: Flask, client: FlaskClient, username: str = "alice",
                       secret: str = TEST_TOTP_SECRET) -> TestResponse:
    """The real second step after :func:`sign_in`: a fresh TOTP code posted to the
    challenge. Returns the response (a 303 on success)."""
    code = fresh_totp(app, username, secret)
    token = csrf(client, "/2fa/challenge")
    response = client.post("/2fa/challenge", data={"code": code, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response


SECRET_RE = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')


RECOVERY_CODE_RE = re.compile(r"<li><code>([0-9A-Z-]+)</code></li>")


def shown_secret(page: TestResponse) -> str:
    found = SECRET_RE.search(page.get_data(as_text=True))
    assert found, "no TOTP secret on the page"
    return found.group(1).replace(" ", "")


def shown_recovery_codes(page: TestResponse) -> list[str]:
    return RECOVERY_CODE_RE.findall(page.get_data(as_text=True))


def enrol_app(app: Flask, client: FlaskClient, saved: bool = True) -> tuple[str, list[str]]:
    """J8 through the real screens: choose the app, read the secret the page shows,
    confirm with a code computed from it, read the recovery codes, say they are saved.
    Returns (secret, recovery codes)."""
    setup = client.get("/2fa/setup/app")
    assert setup.status_code == 200, setup.headers.get("Location")
    secret = shown_secret(setup)
    confirmed = client.post("/2fa/setup/app", data={
        "csrf_token": csrf_from(setup), "code": current_totp(app, secret)})
    assert confirmed.status_code == 303, confirmed.get_data(as_text=True)[:2000]
    assert confirmed.headers["Location"] == "/2fa/recovery-codes"
    page = client.get("/2fa/recovery-codes")
    codes = shown_recovery_codes(page)
    if saved:
        done = client.post("/2fa/recovery-codes", data={"csrf_token": csrf_from(page), "saved": "y"})
        assert done.status_code == 303
    return secret, codes


def sign_out_via(client: FlaskClient) -> TestResponse:
    """Press "Sign out" on the account page."""
    return client.post("/signout", data={"csrf_token": csrf(client, "/account")})
