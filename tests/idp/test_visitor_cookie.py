"""D15: a first visit writes nothing. A visitor's form token and ``next`` travel in its
cookie, signed (idp.visitor_cookie); anything else stored gives the visitor a row.
Abused here as an attacker would: forged, altered, re-signed, expired, swapped between
visitors, planted before a sign-in, made huge; in both languages (S20, S23, S26)."""

from __future__ import annotations

import html
import secrets
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select

from idp.clock import FrozenClock
from idp.keys import KeyRing
from idp.models import WebSession
from idp.visitor_cookie import MAX_VALUE, PREFIX, VisitorCookies
from recovery.views_password import TOKEN_KEY
from tests.support.accounts import GOOD_PASSWORD, create_account
from tests.support.records import session_cookie_name, session_row, session_token, set_session_token
from tests.support.screens import csrf, csrf_from

CSRF_REFUSED = "This form has expired or was sent from another page"
CSRF_REFUSED_FR = "Ce formulaire a expiré ou a été envoyé à partir d'une autre page"


def _rows(app: Flask) -> int:
    with app.extensions["clef"].session_factory() as db:
        return int(db.scalar(select(func.count()).select_from(WebSession)) or 0)


def _post_password(client: FlaskClient, token: str, username: str = "alice",
                   **headers: str) -> Any:
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": GOOD_PASSWORD}, headers=headers)


class _Statements:
    """Every statement the app's engine sends while open."""

    def __init__(self, app: Flask) -> None:
        self.seen: list[str] = []
        self._engine = app.extensions["clef"].engine
        event.listen(self._engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.seen.append(statement)

    def __enter__(self) -> _Statements:
        return self

    def __exit__(self, *_: Any) -> None:
        event.remove(self._engine, "before_cursor_execute", self._record)


# --- the visitor's pages write nothing ----------------------------------------------------


ANONYMOUS_PAGES = ["/", "/signin", "/signin?next=/account", "/register", "/forgot-username",
                   "/forgot-password", "/signed-out", "/session-expired"]


@pytest.mark.parametrize("path", ANONYMOUS_PAGES)
def test_a_visitors_page_sends_no_sql_and_leaves_no_row_D15(app: Flask, path: str) -> None:
    browser = app.test_client()
    with _Statements(app) as statements:
        first = browser.get(path)
        again = browser.get(path)  # with the cookie the first answer set, if any
    assert first.status_code == again.status_code == 200, path
    assert statements.seen == [], statements.seen
    assert _rows(app) == 0


def test_a_bot_without_cookies_adds_no_rows_D15(app: Flask) -> None:
    """Before D15 every cookie-less GET of a form page inserted and committed a row."""
    for _ in range(50):
        assert app.test_client().get("/signin").status_code == 200
    assert _rows(app) == 0


def test_the_visitor_cookie_has_the_session_cookies_flags_S23(app: Flask) -> None:
    response = app.test_client().get("/signin?next=/account")
    cookie = response.headers["Set-Cookie"]
    name, _, value_and_flags = cookie.partition("=")
    assert name == session_cookie_name(app)
    assert value_and_flags.startswith(PREFIX)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Expires" not in cookie and "Max-Age" not in cookie
    assert len(cookie) < 4096


def test_a_whole_sign_in_from_a_visitor_cookie_keeps_next_S26(app: Flask) -> None:
    create_account(app, "alice")
    browser = app.test_client()
    token = csrf(browser, "/signin?next=/account/security")
    visitor = session_token(app, browser)
    assert visitor is not None and visitor.startswith(PREFIX)
    signed = _post_password(browser, token)
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/2fa/challenge")
    new = session_token(app, browser)
    assert new is not None and not new.startswith(PREFIX)  # S20: a row, a fresh token
    row = session_row(app, new)
    assert row is not None and row.data.get("next") == "/account/security"
    assert row.data.get("csrf_token") not in (None, "")


# --- forged, altered, re-signed, expired ----------------------------------------------


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1:]


def _forgeries(genuine: str) -> list[str]:
    body = genuine[len(PREFIX):]
    other_key = VisitorCookies(KeyRing("another-secret-" * 4), FrozenClock(),
                               timedelta(minutes=20), timedelta(seconds=60))
    return [
        PREFIX,
        PREFIX + "x",
        PREFIX + "not.a.token",
        # Not the signature's last character: in base64 its low bits are padding, so
        # "A" and "B" there can be the same signature (two spellings of one cookie).
        PREFIX + _flip(body, len(body) - 10),                    # signature altered
        PREFIX + _flip(body, 0),                                 # payload altered
        other_key.seal({"csrf_token": "attacker"}) or "",       # another key
        PREFIX + "\u00e9" * 40,
        PREFIX + "A" * (MAX_VALUE + 10),
    ]


def test_a_forged_or_altered_cookie_is_a_new_visitor_and_its_form_token_is_refused(
        app: Flask) -> None:
    create_account(app, "alice")
    genuine_browser = app.test_client()
    token = csrf(genuine_browser, "/signin")
    genuine = session_token(app, genuine_browser)
    assert genuine is not None
    for forged in _forgeries(genuine):
        browser = app.test_client()
        set_session_token(app, browser, forged)
        page = browser.get("/signin")
        assert page.status_code == 200, forged
        assert csrf_from(page) != token
        # The genuine visitor's form token with the forged cookie: refused, nothing done.
        set_session_token(app, browser, forged)
        refused = _post_password(browser, token)
        assert refused.status_code == 400, forged
        assert CSRF_REFUSED in html.unescape(refused.get_data(as_text=True))
    assert _rows(app) == 0


def test_a_cookie_signed_with_other_keys_in_it_opens_nothing(app: Flask) -> None:
    """Only the form token and ``next`` may travel in a visitor cookie; a sealed cookie
    holding anything else (which the service never makes) is a new visitor's."""
    visitors = app.extensions["clef"].visitors
    for data in ({"csrf_token": "t", "account_id": "1"}, {"csrf_token": "t", TOKEN_KEY: "x"},
                 {"level": "full"}):
        sealed = visitors.seal(data)
        assert sealed is not None
        browser = app.test_client()
        set_session_token(app, browser, sealed)
        page = browser.get("/signin")
        assert csrf_from(page) != "t"
        assert browser.get("/account").status_code == 303
    assert _rows(app) == 0


def test_a_form_token_is_bound_to_its_own_visitor_cookie(app: Flask) -> None:
    """Login CSRF: another visitor's form token (the attacker's own, from the attacker's
    cookie) does not pass with the victim's cookie, in either language."""
    create_account(app, "alice")
    attacker, victim = app.test_client(), app.test_client()
    attackers_token = csrf(attacker, "/signin")
    csrf(victim, "/signin")
    for language, words in (("en", CSRF_REFUSED), ("fr", CSRF_REFUSED_FR)):
        refused = _post_password(victim, attackers_token, **{"Accept-Language": language})
        assert refused.status_code == 400
        assert words in html.unescape(refused.get_data(as_text=True))
    assert (session_token(app, victim) or "").startswith(PREFIX)
    assert _rows(app) == 0


def test_an_idle_visitor_cookie_expires_like_an_idle_row_D5(app: Flask, clock: FrozenClock) -> None:
    create_account(app, "alice")
    browser = app.test_client()
    token = csrf(browser, "/signin")
    clock.advance(minutes=20, seconds=1)
    refused = _post_password(browser, token)
    assert refused.status_code == 400  # the cookie opens nothing: a new visitor
    # Activity restarts the idle clock, as a row's last-seen time did.
    token = csrf(browser, "/signin")
    for _ in range(3):
        clock.advance(minutes=15)
        assert browser.get("/signin").status_code == 200
    signed = _post_password(browser, token)
    assert signed.status_code == 303, "45 minutes of activity, never 20 idle"


def test_an_unchanged_visitor_cookie_is_not_sent_again_until_due(app: Flask,
                                                                 clock: FrozenClock) -> None:
    browser = app.test_client()
    first = browser.get("/signin?next=/account")
    assert "Set-Cookie" in first.headers
    again = browser.get("/signin?next=/account")
    assert "Set-Cookie" not in again.headers  # nothing changed: nothing to say
    clock.advance(seconds=61)
    renewed = browser.get("/signin?next=/account")
    assert "Set-Cookie" in renewed.headers  # re-sealed: its idle clock restarts


# --- planted before a sign-in (fixation) -----------------------------------------------------


def test_a_planted_visitor_cookie_is_worth_nothing_after_the_victims_sign_in_S20(
        app: Flask) -> None:
    create_account(app, "alice")
    attacker = app.test_client()
    csrf(attacker, "/signin?next=/account")
    planted = session_token(app, attacker)
    assert planted is not None
    victim = app.test_client()
    set_session_token(app, victim, planted)
    assert _post_password(victim, csrf(victim, "/signin")).status_code == 303
    assert session_token(app, victim) != planted
    # The attacker's cookie still opens only a visitor's session.
    assert attacker.get("/2fa/challenge").status_code == 303
    assert attacker.get("/account").status_code == 303


# --- anything else stored gets a row -------------------------------------------------------


def test_storing_anything_else_moves_the_visitor_to_a_row_with_what_it_held(app: Flask) -> None:
    create_account(app, "alice", email_address="alice@example.com", confirmed=True)
    browser = app.test_client()
    token = csrf(browser, "/forgot-password")
    assert (session_token(app, browser) or "").startswith(PREFIX)
    started = browser.post("/forgot-password", data={"csrf_token": token, "username": "alice"})
    assert started.status_code == 303
    held = session_token(app, browser)
    assert held is not None and not held.startswith(PREFIX)
    row = session_row(app, held)
    assert row is not None and TOKEN_KEY in row.data
    assert row.data["csrf_token"]  # the visitor's form token moved into the row
    assert browser.get("/forgot-password/code").status_code == 200


def test_a_next_too_long_for_a_cookie_is_kept_in_a_row(app: Flask) -> None:
    """``next`` may be 2,000 characters (idp.redirects.safe_next); encoded, some do not
    fit in a cookie. Those get a row, as before D15, never a cookie a browser drops."""
    create_account(app, "alice")
    browser = app.test_client()
    target = "/account?q=" + "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1980))
    response = browser.get("/signin", query_string={"next": target})
    assert response.status_code == 200
    assert len(response.headers["Set-Cookie"]) < 4096
    held = session_token(app, browser)
    assert held is not None and not held.startswith(PREFIX)
    assert session_row(app, held).data["next"] == target
    assert _post_password(browser, csrf_from(response)).status_code == 303


# --- the sealing itself ----------------------------------------------------------------------


def _cookies(clock: FrozenClock, secret: str = "s" * 40) -> VisitorCookies:
    return VisitorCookies(KeyRing(secret), clock, timedelta(minutes=20), timedelta(seconds=60))


def test_sealed_values_open_until_idle_then_never() -> None:
    clock = FrozenClock()
    cookies = _cookies(clock)
    sealed = cookies.seal({"csrf_token": "abc", "next": "/account"})
    assert sealed is not None and sealed.startswith(PREFIX)
    assert cookies.open(sealed) == ({"csrf_token": "abc", "next": "/account"}, False)
    clock.advance(seconds=60)
    assert cookies.open(sealed) == ({"csrf_token": "abc", "next": "/account"}, True)
    clock.advance(minutes=19, seconds=1)
    assert cookies.open(sealed) is None
    assert _cookies(FrozenClock(), "t" * 40).open(sealed or "") is None  # another secret


def test_only_text_values_open_and_too_long_is_not_sealed() -> None:
    cookies = _cookies(FrozenClock())
    assert cookies.open(cookies.seal({"csrf_token": ["a"]}) or "") is None  # type: ignore[dict-item]
    assert cookies.seal({"next": "/" + secrets.token_urlsafe(MAX_VALUE)}) is None
