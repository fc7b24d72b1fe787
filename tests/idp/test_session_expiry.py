"""A page left open times out (J4, D5), and "session expired" survives the worker (J4).

The server half of the idle timer: what a page asks by itself never counts as activity,
and the deadline it is given is never early. Then the notice after a timeout, whoever
ended the session first (the person coming back or the worker's purge), idle or
absolute, audited exactly once. The browser half is tests/browser/test_idle_real_time.py."""

from __future__ import annotations

import html
import re
import threading

import pytest

from idp import audit
from tests.helpers import audit_events, create_account, run_cli, session_row, session_token
from tests.idp.test_sessions import goes_to, signed_in


def _purge(app) -> str:
    result = run_cli(app, "sessions", "purge")
    assert result.exit_code == 0, result.output
    return result.output


def test_j4_d5_the_timer_asking_what_is_left_is_not_activity(app, clock):
    """J4, D5: the page's timer asks /session/remaining; the answer counts down and the
    question never renews the session, so a tab left open reaches 0 and the session
    is over on the server."""
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    seen = session_row(app, token).last_seen_at
    clock.advance(minutes=19, seconds=59)
    assert client.get("/session/remaining").get_json() == {"remaining": 1}
    assert session_row(app, token).last_seen_at == seen  # not activity
    clock.advance(seconds=1)
    answer = client.get("/session/remaining")
    assert answer.status_code == 200
    assert answer.get_json() == {"remaining": 0}
    assert session_row(app, token) is None  # ended on the server
    assert [e.details["timeout"] for e in audit_events(app, audit.SESSION_EXPIRED)] == ["idle"]
    page = client.get("/session-expired?next=/account")
    assert "Session expired" in page.get_data(as_text=True)


def test_j4_d5_the_expired_page_reached_early_does_not_renew_the_session(app, clock):
    """J4, D5: the old timer went to /session-expired up to a second early; the server
    saw a live session, sent the page back and counted it as activity, for ever. That
    request is no activity now: the session still ends on time."""
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    seen = session_row(app, token).last_seen_at
    clock.advance(minutes=19, seconds=59)
    back = client.get("/session-expired?next=/account")  # alive: it goes back
    assert back.status_code == 303 and back.headers["Location"] == "/account"
    assert session_row(app, token).last_seen_at == seen
    clock.advance(seconds=1)
    assert client.get("/session/remaining").get_json() == {"remaining": 0}


def test_j4_another_tabs_activity_rearms_the_timer(app, clock):
    """J4: a request of the person's (another tab) renews the session; the timer of the
    tab left open then hears how long is left instead of signing out."""
    create_account(app, "alice")
    client = signed_in(app)
    clock.advance(minutes=10)
    assert client.get("/account").status_code == 200  # the other tab
    clock.advance(minutes=10)
    assert client.get("/session/remaining").get_json() == {"remaining": 600}


def test_j4_the_page_deadline_is_rounded_up_never_early(app, clock):
    """J4: half a second into a session, 1199.5 s are left: the page says 1200, not
    1199 (a timer that fired early was the start of the loop above)."""
    create_account(app, "alice")
    client = signed_in(app)
    clock.advance(seconds=0.5)
    page = client.get("/account").get_data(as_text=True)
    assert 'data-deadline="1200"' in page
    assert 'data-remaining-url="/session/remaining"' in page


def test_j4_remaining_for_an_anonymous_visitor_is_zero(app):
    assert app.test_client().get("/session/remaining").get_json() == {"remaining": 0}


@pytest.mark.parametrize("timeout", ["idle", "absolute"])
@pytest.mark.parametrize("first", ["worker", "person"])
def test_j4_session_expired_is_shown_whoever_ends_it_first(app, clock, timeout, first):
    """J4: coming back after an idle or absolute timeout shows "Session expired" with
    "Sign in again", whether or not the worker purged the session first; the expiry is
    audited exactly once, with its kind (S28); afterwards the plain sign-in page."""
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    if timeout == "idle":
        clock.advance(minutes=20, seconds=1)
    else:
        for _ in range(48):  # active every 15 minutes: only the 12-hour limit ends it
            clock.advance(minutes=15)
            if _past_absolute(app, token):
                break
            _touch(app, token, clock)
    if first == "worker":
        assert "1 expired session(s) deleted" in _purge(app)
        assert session_row(app, token) is None
    back = client.get("/account")
    assert goes_to(back, "/session-expired", "/account")
    page = client.get(back.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Session expired" in body and "Sign in again" in body
    link = html.unescape(re.search(r'<a class="button" href="([^"]+)"', body).group(1))
    assert link == "/signin?next=/account"
    if first == "person":
        assert "0 expired session(s) deleted" in _purge(app)
    events = audit_events(app, audit.SESSION_EXPIRED)
    assert [(e.actor, e.details["timeout"]) for e in events] == [("alice", timeout)]
    # Told once: the next request is the plain sign-in page, nothing more audited.
    assert goes_to(client.get("/account"), "/signin", "/account")
    assert len(audit_events(app, audit.SESSION_EXPIRED)) == 1


def _touch(app, token: str, clock) -> None:
    """Activity without the test client following the page (keeps the loop short)."""
    from idp.models import WebSession
    from idp.sessions import session_id

    db = app.extensions["clef"].session_factory()
    try:
        row = db.get(WebSession, session_id(token))
        if row is not None:
            row.last_seen_at = clock.now()
            db.commit()
    finally:
        db.close()


def _past_absolute(app, token: str) -> bool:
    row = session_row(app, token)
    return bool(row.expires_at <= app.extensions["clef"].clock.now())


def test_j4_the_notice_is_kept_only_expired_notice_hours(app, clock):
    """J4: the record behind the notice goes after ``expired_notice_hours`` (12): a
    browser back after that gets the plain sign-in page."""
    create_account(app, "alice")
    client = signed_in(app)
    clock.advance(minutes=21)
    _purge(app)
    clock.advance(hours=12)
    _purge(app)
    assert goes_to(client.get("/account"), "/signin", "/account")


def test_j4_a_purged_anonymous_session_leaves_no_notice(app, clock):
    client = app.test_client()
    client.get("/signin")
    clock.advance(minutes=30)
    _purge(app)
    response = client.get("/signin")
    assert response.status_code == 200
    assert "Session expired" not in response.get_data(as_text=True)


def test_j4_s28_an_expiry_seen_at_once_by_many_is_audited_once(app, clock):
    """S28, J4: the person's requests (several tabs) and the worker's purge meet the
    same expired session at once, each on its own connection: one of them ends it, the
    expiry is audited exactly once, and exactly one request is told "expired" (the one
    that ended it, or the one that took the notice the worker left)."""
    from concurrent.futures import ThreadPoolExecutor

    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    clock.advance(minutes=21)
    svc = app.extensions["clef"]
    barrier = threading.Barrier(6)

    def person() -> bool:
        db = svc.session_factory()
        try:
            barrier.wait()
            return svc.sessions.load(db, token, clock.now()).expired
        finally:
            db.close()

    def worker() -> int:
        db = svc.session_factory()
        try:
            barrier.wait()
            ended = svc.sessions.purge_expired(db, clock.now())
            db.commit()
            return ended
        finally:
            db.close()

    with ThreadPoolExecutor(6) as pool:
        people = [pool.submit(person) for _ in range(5)]
        purged = pool.submit(worker).result()
        told = [future.result() for future in people]
    assert len(audit_events(app, audit.SESSION_EXPIRED)) == 1
    assert purged in (0, 1)
    assert told.count(True) == 1  # the winner, or the one who took the worker's notice
    assert session_row(app, token) is None
