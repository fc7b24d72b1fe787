"""A page left open times out, in real time (J4, D5), and so does a visitor's sign-in
page (D15).

Everything else in tests/browser moves a frozen clock; here the server runs on the
system clock with a 6-second idle timeout, and Chromium's own timer does what it does
in a tab nobody touches. The page's timer used to fire up to a second early; the server
then saw a live session, sent the page back and counted that as activity, so the tab
stayed signed in for ever. Now nothing the page does by itself is activity."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from idp import audit
from idp.clock import SystemClock
from idp.models import WebSession
from tests.browser.journey import LiveServer, Visitor
from tests.helpers import GOOD_PASSWORD, audit_events, create_account

pytestmark = pytest.mark.browser

IDLE_SECONDS = 6


@pytest.fixture
def clock() -> SystemClock:
    """The real time, for the server; the browser keeps its own real clock."""
    return SystemClock()


@pytest.fixture
def short_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 6-second idle timeout (a fraction of a minute), a warning 3 seconds before, and
    last-seen written at most once a second, shorter than the timeout, as by default."""
    monkeypatch.setenv("IDP_SESSION__IDLE_MINUTES", str(IDLE_SECONDS / 60))
    monkeypatch.setenv("IDP_SESSION__WARN_BEFORE_SECONDS", "3")
    monkeypatch.setenv("IDP_SESSION__TOUCH_INTERVAL_SECONDS", "1")


@pytest.fixture
def live_server(short_idle: None, live_server: LiveServer) -> Iterator[LiveServer]:
    yield live_server


def _signed_in_rows(server: LiveServer) -> list[WebSession]:
    db = server.app.extensions["clef"].session_factory()
    try:
        return list(db.scalars(select(WebSession).where(WebSession.account_id.is_not(None))))
    finally:
        db.close()


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_j4_d5_a_page_left_open_times_out_in_real_time(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J4, D5: signed in past the password, the second-factor page is left open. It
    warns, then goes to "Session expired" by itself, and stays there; the server ended
    the session (no signed-in row left) and audited the expiry once (S28)."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/signin", via="accept-language")
    w, page = v.words, v.page
    v.sign_in("alice", GOOD_PASSWORD)
    expect(page).to_have_url(v.url("/2fa/challenge"))
    assert len(_signed_in_rows(live_server)) == 1
    started = time.monotonic()

    expect(page).to_have_url(v.path_re("/session-expired"), timeout=4 * IDLE_SECONDS * 1000)
    assert time.monotonic() - started >= IDLE_SECONDS - 1  # not before the deadline
    expect(page.get_by_role("heading", level=1)).to_have_text(w.session_expired)
    v.check_page()
    assert v.query("next") == "/2fa/challenge"
    time.sleep(1.5)  # nothing more happens by itself: no loop back to the page
    expect(page).to_have_url(v.path_re("/session-expired"))
    assert len(v.loaded) == 3, v.loaded  # sign-in, second factor, expired: no reloads
    assert _signed_in_rows(live_server) == []
    assert len(audit_events(live_server.app, audit.SESSION_EXPIRED)) == 1


def _visitor_rows(server: LiveServer) -> int:
    """Rows of sessions that passed no step: a visitor's session is its cookie (D15)."""
    db = server.app.extensions["clef"].session_factory()
    try:
        return len(list(db.scalars(select(WebSession).where(WebSession.account_id.is_(None)))))
    finally:
        db.close()


def _sign_in_events(server: LiveServer) -> list[str]:
    return [e.tag for e in audit_events(server.app) if e.tag.startswith("account:login:")]


@pytest.mark.parametrize("locale", ["en", "fr"])
def test_d15_a_visitors_sign_in_page_left_open_expires_in_real_time(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """D15, D5: a visitor's session is its cookie, signed, with no row. A sign-in page
    left alone past the 6-second idle timeout has its form refused with the translated
    "form expired" page, and nothing is written; the page reloaded signs in. One kept
    busy (a reload every 4 seconds) stays good past the timeout."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/signin", via="accept-language")
    w, page = v.words, v.page
    time.sleep(IDLE_SECONDS + 1)
    v.sign_in("alice", GOOD_PASSWORD)
    expect(page.get_by_text(w.form_expired)).to_be_visible()
    v.check_page()
    # The refused post wrote nothing: no visitor's row, no sign-in attempt recorded.
    assert _visitor_rows(live_server) == 0
    assert _sign_in_events(live_server) == []

    v.goto("/signin")
    for _ in range(2):  # 8 seconds in all, never 6 idle
        time.sleep(IDLE_SECONDS - 2)
        v.reload()
    assert _visitor_rows(live_server) == 0
    v.sign_in("alice", GOOD_PASSWORD)
    expect(page).to_have_url(v.url("/2fa/challenge"))
    assert _sign_in_events(live_server) == [audit.LOGIN_SUCCESS]
