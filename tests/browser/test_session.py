"""Session expiry in Chromium, in English and in French (J4; D5, S21, S22): the
expired page after idle time, the idle warning and "Stay signed in", and deep links
into pages behind sign-in. Every page visited is checked with axe.

Time moves without sleeping: the server's FrozenClock and, where the page's script must
see it, the browser's clock (Playwright's ``page.clock``), by the same amount."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.journey import LiveServer, Visitor
from tests.helpers import GOOD_PASSWORD, create_account

pytestmark = pytest.mark.browser

IDLE_MINUTES = 20  # config/defaults.toml [session] idle_minutes (D5)
WARN_SECONDS = 120  # [session] warn_before_seconds


def _signed_in_to_second_factor(v: Visitor) -> None:
    v.sign_in("alice", GOOD_PASSWORD)
    expect(v.page).to_have_url(v.url("/2fa/challenge"))


def test_idle_session_expires_and_offers_sign_in_again_J4_S21_S22(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J4: after the password step, 20 idle minutes; the next request shows "Session
    expired" with "Sign in again", which leads to sign-in and back to the same page."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/signin")
    w, page = v.words, v.page
    _signed_in_to_second_factor(v)

    live_server.clock.advance(minutes=IDLE_MINUTES, seconds=1)
    v.reload()
    expect(page).to_have_url(v.path_re("/session-expired"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.session_expired)

    v.follow(w.sign_in_again)
    expect(page).to_have_url(v.path_re("/signin"))
    assert v.query("next") == "/2fa/challenge"
    _signed_in_to_second_factor(v)


def test_idle_warning_stay_signed_in_keeps_the_session_J4_D5_S22(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J4 / D5: a page left alone warns before the idle deadline; the warning is a
    dialog whose "Stay signed in" button has the focus. Pressing it renews the session
    on the server: pressed again 37 minutes after the password step (past the 20-minute
    limit without the first press), it still finds the session alive. Left alone past
    the deadline, the page goes to "Session expired" by itself, and the server has
    ended the session too."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/signin", via="accept-language")
    w, page = v.words, v.page
    page.clock.install()
    _signed_in_to_second_factor(v)
    warning = page.get_by_role("alertdialog", name=w.idle_warning_title)
    expect(warning).to_be_hidden()

    for _ in range(2):  # at 18:30 and 37:00 after the password step
        _stay_idle(v, live_server, minutes=IDLE_MINUTES - 2, seconds=30)
        expect(warning).to_be_visible()
        expect(warning.get_by_role("button", name=w.stay_signed_in)).to_be_focused()
        # Modal: the rest of the page is inert until the person answers.
        assert page.evaluate("document.getElementById('idle-warning').matches(':modal')")
        v.check_page()  # the page with its dialog open
        v.submit(w.stay_signed_in)
        expect(page).to_have_url(v.url("/2fa/challenge"))
        expect(page.get_by_role("heading", level=1)).to_have_text(w.two_factor_title)
        expect(warning).to_be_hidden()

    with page.expect_navigation():
        _stay_idle(v, live_server, minutes=IDLE_MINUTES)
    v.check_page()
    expect(page).to_have_url(v.path_re("/session-expired"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.session_expired)
    assert v.query("next") == "/2fa/challenge"
    v.goto("/2fa/challenge")  # the server agrees: the session is gone
    expect(page).to_have_url(v.path_re("/signin"))


def _stay_idle(v: Visitor, live_server: LiveServer, **delta: int) -> None:
    """Nothing happens for a while: the server's clock and the page's clock move on."""
    live_server.clock.advance(**delta)
    v.page.clock.fast_forward(int(timedelta(**delta).total_seconds() * 1000))


def test_loading_a_page_is_activity_so_it_carries_a_fresh_deadline_J4_D5(
    open_browser, live_server: LiveServer
) -> None:
    """J4 / D5: any request renews the idle clock, so the page it returns states the
    deadline it leaves behind and does not warn of an expiry 20 minutes away (the
    deadline used to be computed before the request's own activity was recorded)."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser("en", "/signin")
    page = v.page
    _signed_in_to_second_factor(v)
    warning = page.get_by_role("alertdialog", name=v.words.idle_warning_title)
    live_server.clock.advance(minutes=IDLE_MINUTES - 1)
    v.reload()
    shown_deadline = int(page.locator("#idle-warning").get_attribute("data-deadline") or 0)
    warned = warning.is_visible()

    live_server.clock.advance(minutes=2)  # 21 minutes after the password step
    v.reload()
    expect(page).to_have_url(v.url("/2fa/challenge"))  # so the first reload renewed it
    assert shown_deadline > WARN_SECONDS, (
        f"the page loaded at 19 minutes said the session ends in {shown_deadline} s"
    )
    assert not warned, "the page loaded at 19 minutes warned of an expiry 20 minutes away"


def test_deep_link_behind_sign_in_leads_to_sign_in_keeping_next_J4_S10(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J4: /account opened without a session (a bookmark) leads to sign-in with
    next=/account, kept through the language toggle; the password alone leads to the
    second factor, not to the account page (S10)."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/account")
    w, page = v.words, v.page
    expect(page).to_have_url(v.path_re("/signin"))
    assert v.query("next") == "/account"
    expect(page.get_by_role("heading", level=1)).to_have_text(w.sign_in)
    _signed_in_to_second_factor(v)
