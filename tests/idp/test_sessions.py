"""Server-side sessions (D5, D6; S20-S22; J4): renewed at each step, the pending state
grants only the next step, logout and expiry end the row, idle 20 minutes and absolute
12 hours, the admin CLI ends sessions, deep links come back after sign-in."""

from __future__ import annotations

import base64
import html
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from idp import audit
from idp.models import WebSession
from idp.sessions import FULL, PASSWORD, SessionStore
from idp.settings import SessionSettings, load_settings
from idp.views.common import after_sign_in_target
from tests.helpers import (
    GOOD_PASSWORD,
    audit_tags,
    create_account,
    csrf,
    get_account,
    pass_second_factor,
    run_cli,
    session_cookie_name,
    session_row,
    session_token,
    set_session_token,
    sign_in,
)


def _rows(app) -> list[WebSession]:
    db = app.extensions["clef"].session_factory()
    try:
        rows = list(db.scalars(select(WebSession)))
        db.expunge_all()
        return rows
    finally:
        db.close()


def signed_in(app, username: str = "alice"):
    """A client fully signed in through the screens: password, then a TOTP code."""
    client = app.test_client()
    assert sign_in(client, username).status_code == 303
    pass_second_factor(app, client, username)
    assert client.get("/account").status_code == 200
    return client


def goes_to(response, path: str, next_: str | None = None) -> bool:
    """True when ``response`` is a 303 to ``path`` carrying ``next_`` (None: no next)."""
    if response.status_code != 303:
        return False
    location = urlsplit(response.headers["Location"])
    if location.scheme or location.netloc or location.path != path:
        return False
    return parse_qs(location.query).get("next") == ([next_] if next_ else None)


def is_anonymous(client) -> bool:
    """The session grants neither the account page nor the second-factor step."""
    account = client.get("/account")
    challenge = client.get("/2fa/challenge")
    return (account.status_code == 303 and challenge.status_code == 303
            and challenge.headers["Location"].startswith("/signin"))


# --- S20: renewal and the pending state --------------------------------------------------


def test_token_is_long_random_and_stored_only_hashed_S20_D6(app):
    # Rows from the password step: a visitor's first session has none (D15).
    create_account(app, "alice")
    client = app.test_client()
    assert sign_in(client, "alice").status_code == 303
    token = session_token(app, client)
    assert token is not None
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) * 8 >= 128
    other = app.test_client()
    assert sign_in(other, "alice").status_code == 303
    assert session_token(app, other) != token
    rows = _rows(app)
    assert len(rows) == 2
    assert all(token not in (row.id, str(row.data)) for row in rows)
    assert session_row(app, token) is not None  # found by its hash


def test_password_step_renews_the_token_and_old_cookie_is_dead_S20(app):
    create_account(app, "alice")
    client = app.test_client()
    client.get("/signin")
    anonymous_token = session_token(app, client)
    assert sign_in(client, "alice").status_code == 303
    pending_token = session_token(app, client)
    assert pending_token != anonymous_token
    assert session_row(app, anonymous_token) is None
    assert session_row(app, pending_token).level == PASSWORD
    # Replaying the pre-sign-in cookie gets nothing.
    replay = app.test_client()
    set_session_token(app, replay, anonymous_token)
    assert is_anonymous(replay)
    # The holder of the new cookie is at the second-factor step.
    assert client.get("/2fa/challenge").status_code == 200


def test_second_factor_renews_the_token_again_S20(app):
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    pending_token = session_token(app, client)
    pass_second_factor(app, client)
    full_token = session_token(app, client)
    assert full_token != pending_token
    assert session_row(app, pending_token) is None
    row = session_row(app, full_token)
    assert row.level == FULL and row.amr == "pwd otp" and row.auth_time is not None
    replay = app.test_client()
    set_session_token(app, replay, pending_token)
    assert is_anonymous(replay)
    assert client.get("/account").status_code == 200


def test_pending_state_grants_only_the_next_step_S20(app):
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    assert goes_to(client.get("/account"), "/signin", "/account")
    assert client.get("/2fa/challenge").status_code == 200
    home = client.get("/")
    assert home.status_code == 200  # the welcome page, not the account
    assert 'action="/signout"' not in home.get_data(as_text=True)


def test_second_factor_requires_the_password_step_S20():
    store = SessionStore(load_settings(environ={}).session)
    anonymous = WebSession(id="x", level="anonymous", data={}, account_id=None)
    with pytest.raises(ValueError):
        store.passed_second_factor(None, anonymous, ["pwd", "otp"], None)  # type: ignore[arg-type]


# --- S21: logout --------------------------------------------------------------------------


def test_sign_out_is_post_only_S21(app):
    create_account(app, "alice")
    client = signed_in(app)
    assert client.get("/signout").status_code == 405
    assert client.get("/account").status_code == 200  # still signed in


def test_sign_out_without_csrf_token_changes_nothing_S21_S24(app):
    create_account(app, "alice")
    client = signed_in(app)
    assert client.post("/signout").status_code == 400
    assert client.get("/account").status_code == 200


def test_sign_out_ends_the_server_row_and_refuses_the_old_cookie_S21(app):
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    page = client.get("/account").get_data(as_text=True)
    form_token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post("/signout", data={"csrf_token": form_token})
    assert response.status_code == 303
    assert response.headers["Location"] == "/signed-out"
    cleared = response.headers["Set-Cookie"]
    assert cleared.startswith(f"{session_cookie_name(app)}=;")
    assert "Max-Age=0" in cleared or "Expires=Thu, 01 Jan 1970" in cleared
    assert session_row(app, token) is None
    assert audit.LOGOUT in audit_tags(app)
    replay = app.test_client()
    set_session_token(app, replay, token)
    assert is_anonymous(replay)
    # Not "session expired": it was ended on purpose.
    assert replay.get("/account").headers["Location"].startswith("/signin")


# --- S22: timeouts --------------------------------------------------------------------------


def test_timeouts_default_to_20_minutes_idle_and_12_hours_absolute_S22_D5():
    session = load_settings(environ={}).session
    assert session.idle_minutes == 20
    assert session.absolute_hours == 12


def test_store_idle_and_absolute_boundaries_S22_D5(clock):
    store = SessionStore(SessionSettings(idle_minutes=20, absolute_hours=12,
                                         warn_before_seconds=120, touch_interval_seconds=60,
                                         fresh_minutes=10, expired_notice_hours=12))
    start = clock.now()
    row = WebSession(id="x", level=FULL, data={}, created_at=start, last_seen_at=start,
                     expires_at=start + timedelta(hours=12))
    assert not store.is_expired(row, start + timedelta(minutes=20) - timedelta(seconds=1))
    assert store.is_expired(row, start + timedelta(minutes=20))
    row.last_seen_at = start + timedelta(hours=11, minutes=59)
    assert not store.is_expired(row, start + timedelta(hours=12) - timedelta(seconds=1))
    assert store.is_expired(row, start + timedelta(hours=12))


def test_idle_timeout_after_20_minutes_without_activity_S22_J4(app, clock):
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    for _ in range(3):  # activity keeps it alive well past 20 minutes in all
        clock.advance(minutes=19)
        assert client.get("/account").status_code == 200
    clock.advance(minutes=20)
    assert goes_to(client.get("/account"), "/session-expired", "/account")
    assert session_row(app, token) is None  # S21: ended on the server
    assert audit_tags(app)[-1] == audit.SESSION_EXPIRED  # S28: and recorded


def test_absolute_timeout_after_12_hours_even_when_active_S22_D5(app, clock):
    create_account(app, "alice")
    client = signed_in(app)
    for _ in range(47):  # 47 * 15 min = 11 h 45
        clock.advance(minutes=15)
        assert client.get("/account").status_code == 200
    clock.advance(minutes=15)
    assert client.get("/account").headers["Location"].startswith("/session-expired")


def test_stay_signed_in_renews_the_idle_clock_J4_S22(app, clock):
    create_account(app, "alice")
    client = signed_in(app)
    clock.advance(minutes=19)
    token = csrf(client, "/signin")
    response = client.post("/session/keepalive", data={"csrf_token": token, "next": "/account"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/account"
    clock.advance(minutes=19)
    assert client.get("/account").status_code == 200


def test_pages_warn_before_idle_expiry_J4_D5(app, clock):
    create_account(app, "alice")
    client = signed_in(app)
    clock.advance(minutes=5)
    page = client.get("/account").get_data(as_text=True)
    assert 'id="idle-warning"' in page
    assert 'data-deadline="1200"' in page  # this request counts: 20 minutes left
    clock.advance(seconds=30)  # within the touch interval, last-seen is not rewritten
    assert 'data-deadline="1170"' in client.get("/account").get_data(as_text=True)
    assert 'data-warn="120"' in page
    assert "/session/keepalive" in page


def test_session_expired_page_shown_once_then_sign_in_with_next_J4(app, clock):
    create_account(app, "alice")
    client = signed_in(app)
    clock.advance(minutes=21)
    first = client.get("/account")
    assert goes_to(first, "/session-expired", "/account")
    page = client.get(first.headers["Location"])
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Session expired" in body
    link = re.search(r'<a class="button" href="([^"]+)"', body).group(1)
    assert parse_qs(urlsplit(html.unescape(link)).query)["next"] == ["/account"]
    assert goes_to(client.get("/account"), "/signin", "/account")


def test_pending_session_expiry_is_also_announced_J4(app, clock):
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    clock.advance(minutes=20)
    assert client.get("/2fa/challenge").headers["Location"].startswith("/session-expired")


def test_anonymous_session_expiry_is_not_announced_J4(app, clock):
    client = app.test_client()
    client.get("/signin")
    clock.advance(minutes=30)
    response = client.get("/signin")
    assert response.status_code == 200
    assert "Session expired" not in response.get_data(as_text=True)


def test_deep_link_comes_back_after_full_sign_in_J4_S26(app):
    create_account(app, "alice")
    client = app.test_client()
    bounced = client.get("/account?tab=sessions")
    assert goes_to(bounced, "/signin", "/account?tab=sessions")
    token = csrf(client, bounced.headers["Location"])  # the sign-in page keeps next
    assert client.post("/signin", data={"csrf_token": token, "username": "alice",
                                        "password": GOOD_PASSWORD}).status_code == 303
    response = pass_second_factor(app, client)
    assert response.headers["Location"] == "/account?tab=sessions"
    with client:
        client.get("/account")
        assert after_sign_in_target() == "/account"  # consumed once


# --- S22: the admin ends sessions -----------------------------------------------------------


def test_cli_ends_one_persons_sessions_then_everyones_S22(app):
    create_account(app, "alice")
    create_account(app, "bob")
    alice_1, alice_2, bob = signed_in(app, "alice"), signed_in(app, "alice"), signed_in(app, "bob")
    anonymous = app.test_client()
    anonymous.get("/signin")

    result = run_cli(app, "sessions", "end", "alice")
    assert result.exit_code == 0, result.output
    assert "2 session(s) ended" in result.output
    assert is_anonymous(alice_1) and is_anonymous(alice_2)
    assert bob.get("/account").status_code == 200

    result = run_cli(app, "sessions", "end", "--all")
    assert result.exit_code == 0, result.output
    assert "1 session(s) ended" in result.output
    assert is_anonymous(bob)
    assert audit_tags(app).count(audit.ADMIN_SESSIONS_END) == 2
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        signed = db.scalar(select(func.count()).where(WebSession.account_id.is_not(None)))
        assert signed == 0
        assert svc.sessions.count_for_account(db, get_account(app, "alice").id) == 0
    finally:
        db.close()


def test_cli_sessions_end_needs_a_name_or_all_S22(app):
    assert run_cli(app, "sessions", "end").exit_code != 0
    assert run_cli(app, "sessions", "end", "alice", "--all").exit_code != 0


def test_form_token_is_fresh_after_the_password_step_S20_S24(app):
    """The CSRF token of the anonymous page does not survive the privilege step."""
    create_account(app, "alice")
    client = app.test_client()
    before = csrf(client, "/signin")
    assert sign_in(client, "alice").status_code == 303
    after = csrf(client, "/2fa/challenge")
    # The page carries a signed form of the raw session token; compare the raw values.
    raw = [base64.urlsafe_b64decode(t.split(".")[0] + "==") for t in (before, after)]
    assert raw[0] != raw[1]


def test_expired_page_sends_a_live_session_back_J4(app):
    """A tab whose timer ran out while another tab kept the session alive is not told
    "Session expired": it goes back to where it was."""
    create_account(app, "alice")
    client = signed_in(app)
    response = client.get("/session-expired?next=/account")
    assert goes_to(response, "/account")
    anonymous = app.test_client()
    page = anonymous.get("/session-expired?next=/account")
    assert page.status_code == 200
    assert "Session expired" in page.get_data(as_text=True)


def test_logout_is_audited_with_the_username_S28(app):
    create_account(app, "alice")
    client = signed_in(app)
    token = csrf(client, "/account")
    client.post("/signout", data={"csrf_token": token})
    db = app.extensions["clef"].session_factory()
    try:
        events = audit.recent(db, 5)
        logout = next(e for e in events if e.tag == audit.LOGOUT)
        assert logout.actor == "alice"
        assert logout.account_id == get_account(app, "alice").id
    finally:
        db.close()
