"""Signing in through the real screens in Chromium, in English and in French: the
password step (J1), too many attempts (J3), a revoked credential (J12).

Every page visited is checked with axe-core (WCAG 2.1 A/AA) by the ``open_browser``
fixture's visitor."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.journey import LiveServer, Visitor
from tests.helpers import GOOD_PASSWORD, create_account

pytestmark = pytest.mark.browser


def test_sign_in_reaches_second_factor_step_J1_S8_S9_S20_S23(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J1 from the home page, French chosen with the toggle. S9: the password field is
    type=password, offered to password managers, and accepts a pasted password. S8: the
    password post answers 303. S20: the session id changes at the password step. S23 on
    loopback http: HttpOnly, SameSite=Lax, Path=/, out of reach of scripts."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/")
    w, page = v.words, v.page
    v.follow(w.sign_in)
    expect(page).to_have_url(v.path_re("/signin"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.sign_in)

    password = v.field(w.password)
    expect(password).to_have_attribute("type", "password")
    expect(password).to_have_attribute("autocomplete", "current-password")
    expect(v.field(w.username)).to_have_attribute("autocomplete", "username")
    anonymous = v.session_cookie()
    assert anonymous is not None, "the sign-in form's CSRF token lives in a session"

    v.field(w.username).fill("Alice")  # usernames are not case-sensitive
    v.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=v.server.url)
    page.evaluate("text => navigator.clipboard.writeText(text)", GOOD_PASSWORD)
    password.focus()
    page.keyboard.press("ControlOrMeta+V")
    expect(password).to_have_value(GOOD_PASSWORD)
    with page.expect_response(
        lambda r: r.request.method == "POST" and r.url == v.url("/signin")
    ) as posted:
        v.submit(w.continue_)
    assert posted.value.status == 303

    expect(page).to_have_url(v.url("/2fa/challenge"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.two_factor_title)
    expect(page.get_by_role("main")).to_contain_text(w.challenge_handoff)
    pending = v.session_cookie()
    assert pending is not None
    assert pending["value"] != anonymous["value"]
    assert pending["httpOnly"] is True
    assert pending["sameSite"] == "Lax"
    assert pending["path"] == "/"
    assert pending["value"] not in page.evaluate("document.cookie")


def test_too_many_attempts_same_for_known_and_unknown_usernames_J3_S6_S7(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J3 / D4: five wrong passwords lock the username for 1 minute (even the right
    password is refused then); the next failure after it doubles the lock to 2 minutes.
    A username that does not exist gets the very same messages (S6). French through
    the browser's Accept-Language."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/signin", via="accept-language")
    w = v.words
    alert = v.page.get_by_role("alert")

    for username in ("alice", "nobody-by-that-name"):
        for _ in range(5):
            v.sign_in(username, "not the password at all")
            expect(alert).to_have_text(w.wrong_credentials)
        v.sign_in(username, GOOD_PASSWORD)
        expect(alert).to_have_text(w.locked_1_minute)
        expect(v.field(w.username)).to_have_value(username)

    live_server.clock.advance(minutes=1)
    for username in ("alice", "nobody-by-that-name"):
        v.sign_in(username, "not the password at all")
        expect(alert).to_have_text(w.wrong_credentials)
        v.sign_in(username, GOOD_PASSWORD)
        expect(alert).to_have_text(w.locked_2_minutes)


def test_revoked_credential_cannot_sign_in_and_points_to_register_J12_S21(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J12: an administrator revokes a credential with the CLI. The session it had ends
    at once (S21); the right password then shows the revoked page, which points to
    registering again; a wrong password still says only "not correct"."""
    app = live_server.app
    create_account(app, "alice")
    v: Visitor = open_browser(locale, "/signin", via="accept-language")
    w, page = v.words, v.page
    v.sign_in("alice", GOOD_PASSWORD)
    expect(page).to_have_url(v.url("/2fa/challenge"))

    result = app.test_cli_runner().invoke(
        args=["users", "revoke", "alice", "--reason", "compromised"]
    )
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.output

    v.reload()
    expect(page).to_have_url(v.path_re("/signin"))
    assert v.query("next") == "/2fa/challenge"

    v.sign_in("alice", "not the password at all")
    expect(page.get_by_role("alert")).to_have_text(w.wrong_credentials)

    v.sign_in("alice", GOOD_PASSWORD)
    expect(page.get_by_role("heading", level=1)).to_have_text(w.revoked_title)
    expect(page.get_by_role("main")).to_contain_text(w.register_again)
    v.follow(w.register)
    expect(page).to_have_url(v.url("/register"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.register)
