"""Brute force without a lockout weapon (S7, J3, D4; NIST §3.2.2; ASVS 6.3.1): growing
temporary locks per normalised username, a permanent one only after 100 consecutive
failures, admin unlock, per-IP limits, and an atomic check-and-count."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from idp import audit
from idp.accounts import InvalidCredentials, TooManyAttempts
from idp.audit import Where
from idp.models import AuditEvent
from idp.settings import load_settings
from idp.throttle import PERMANENT, Throttle
from idp.usernames import username_key
from tests.helpers import GOOD_PASSWORD, audit_tags, create_account, csrf, session_token

WRONG = "not the right password"
PERMANENT_MESSAGE = "Sign-in with this username is locked."


def fullwidth(text: str) -> str:
    """The full-width compatibility forms of ASCII letters (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def _post(client, username: str, password: str):
    """A sign-in attempt with the client's current CSRF token."""
    return client.post("/signin", data={"csrf_token": csrf(client, "/signin"),
                                        "username": username, "password": password})


def _fail(client, username: str, times: int) -> list[int]:
    return [_post(client, username, WRONG).status_code for _ in range(times)]


def _state(app, username: str):
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        return svc.throttle.state(db, username_key(username))
    finally:
        db.close()


def _page(response, username: str) -> str:
    """The page with what legitimately differs between two requests masked: the form
    token and the username typed back into the field."""
    body = response.get_data(as_text=True)
    body = re.sub(r'(name="csrf_token" type="hidden" value=")[^"]+', r"\1TOKEN", body)
    return body.replace(f'value="{username}"', 'value="USERNAME"')


def test_defaults_follow_nist_S7_D4():
    """D4, NIST §3.2.2: the first lock after a few failures (5), permanent only after
    100 consecutive ones, growing from 1 minute to a cap."""
    lockout = load_settings(environ={}).lockout
    assert lockout.threshold == 5
    assert lockout.permanent_after == 100
    assert lockout.first_lock_minutes == 1
    assert lockout.max_lock_minutes == 60


def test_lock_schedule_grows_and_is_capped_S7_D4():
    throttle = Throttle(load_settings(environ={}).lockout, keys=None)  # type: ignore[arg-type]
    minutes = {n: throttle.lock_length(n) for n in (1, 4, 5, 6, 7, 8, 10, 11, 12, 99, 100, 150)}
    assert minutes[1] is None and minutes[4] is None
    assert minutes[5] == timedelta(minutes=1)
    assert minutes[6] == timedelta(minutes=2)
    assert minutes[7] == timedelta(minutes=4)
    assert minutes[8] == timedelta(minutes=8)
    assert minutes[10] == timedelta(minutes=32)
    assert minutes[11] == timedelta(minutes=60)  # 64, capped
    assert minutes[12] == minutes[99] == timedelta(minutes=60)
    assert minutes[100] == minutes[150] == PERMANENT


def test_threshold_failures_lock_with_the_same_message_for_any_username_S7_J3_D4_S6(app):
    """J3: after 5 failures the 6th try is refused; an unknown username is locked the
    same way with the same words and status, so the lock reveals nothing (D4, S6)."""
    create_account(app, "alice")
    known, unknown = app.test_client(), app.test_client()
    assert _fail(known, "alice", 5) == [401] * 5
    assert _fail(unknown, "nobody", 5) == [401] * 5
    locked_known = _post(known, "alice", WRONG)
    locked_unknown = _post(unknown, "nobody", WRONG)
    assert locked_known.status_code == locked_unknown.status_code == 429
    assert "Too many attempts. Try again in 1 minute." in locked_known.get_data(as_text=True)
    assert _page(locked_known, "alice") == _page(locked_unknown, "nobody")
    assert _state(app, "alice").failures == _state(app, "nobody").failures == 5
    assert audit_tags(app).count(audit.LOGIN_LOCKED) == 2


def test_lock_grows_1_2_4_minutes_S7_J3_D4(app, clock):
    create_account(app, "alice")
    client = app.test_client()
    _fail(client, "alice", 5)
    for minutes, words in ((1, "1 minute."), (2, "2 minutes."), (4, "4 minutes.")):
        locked = _post(client, "alice", WRONG)
        assert locked.status_code == 429
        assert f"Too many attempts. Try again in {words}" in locked.get_data(as_text=True)
        clock.advance(minutes=minutes, seconds=-1)
        assert _post(client, "alice", WRONG).status_code == 429  # not a second early
        clock.advance(seconds=1)
        assert _post(client, "alice", WRONG).status_code == 401  # one more try, then longer
    assert _state(app, "alice").failures == 8


def test_correct_password_refused_during_lock_then_works_and_resets_S7_J3_D4(app, clock):
    create_account(app, "alice")
    client = app.test_client()
    _fail(client, "alice", 5)
    before = session_token(app, client)
    refused = _post(client, "alice", GOOD_PASSWORD)
    assert refused.status_code == 429
    assert session_token(app, client) == before  # no step forward
    assert client.get("/2fa/challenge").status_code == 303
    clock.advance(minutes=1)
    assert _post(client, "alice", GOOD_PASSWORD).status_code == 303
    assert _state(app, "alice").failures == 0
    # The count really started again: four more failures do not lock.
    other = app.test_client()
    assert _fail(other, "alice", 4) == [401] * 4
    assert _post(other, "alice", GOOD_PASSWORD).status_code == 303


def test_counter_is_keyed_by_normalised_username_S7_D4(app):
    create_account(app, "alice")
    client = app.test_client()
    for variant in ("alice", "ALICE", " Alice ", "aLiCe", fullwidth("ALICE")):
        assert _post(client, variant, WRONG).status_code == 401
    assert _post(client, "alice", GOOD_PASSWORD).status_code == 429


def test_permanent_lock_after_consecutive_failures_and_admin_unlock_S7_D4(make_app, clock):
    """A permanent lock (here after 4, configured) survives any wait; the lock message
    says what to do; ``clef users unlock`` lifts it."""
    app = make_app(lockout={"threshold": 2, "permanent_after": 4})
    create_account(app, "alice")
    client = app.test_client()
    assert _fail(client, "alice", 2) == [401, 401]
    clock.advance(minutes=1)
    assert _fail(client, "alice", 1) == [401]
    clock.advance(minutes=2)
    assert _fail(client, "alice", 1) == [401]
    clock.advance(days=3650)
    locked = _post(client, "alice", GOOD_PASSWORD)
    assert locked.status_code == 429
    assert PERMANENT_MESSAGE in locked.get_data(as_text=True)
    assert "Reset your password or contact the help desk" in locked.get_data(as_text=True)

    result = app.test_cli_runner().invoke(args=["users", "unlock", "alice"])
    assert result.exit_code == 0, result.output
    assert "alice: unlocked" in result.output
    assert _state(app, "alice").failures == 0
    assert audit.ADMIN_UNLOCK in audit_tags(app)
    assert _post(client, "alice", GOOD_PASSWORD).status_code == 303


def test_unlock_works_for_a_username_without_account_D4(make_app):
    app = make_app(lockout={"threshold": 2, "permanent_after": 3})
    client = app.test_client()
    _fail(client, "ghost", 2)
    assert _state(app, "ghost").failures == 2
    runner = app.test_cli_runner()
    assert "unlocked" in runner.invoke(args=["users", "unlock", "GHOST"]).output
    assert _state(app, "ghost").failures == 0
    assert "was not locked" in runner.invoke(args=["users", "unlock", "ghost"]).output


def test_default_permanent_lock_after_exactly_100_failures_S7_D4(app, clock):
    """NIST §3.2.2 with the shipped schedule: 99 consecutive failures still leave a
    temporary lock; the 100th makes it permanent."""
    create_account(app, "alice")
    svc = app.extensions["clef"]
    db = svc.session_factory()
    here = Where(ip="192.0.2.1")
    try:
        for attempt in range(1, 101):
            with pytest.raises(InvalidCredentials):
                svc.accounts.verify_password(db, clock.now(), username="alice", password=WRONG,
                                            where=here)
            db.expire_all()
            state = svc.throttle.state(db, username_key("alice"))
            assert state.failures == attempt
            if attempt < 5:
                assert state.locked_until is None
                continue
            # Locked now, even against the right password.
            with pytest.raises(TooManyAttempts) as locked:
                svc.accounts.verify_password(db, clock.now(), username="alice",
                                            password=GOOD_PASSWORD, where=here)
            if attempt < 100:
                wait = locked.value.retry_after
                assert wait is not None
                assert timedelta(minutes=1) <= wait <= timedelta(minutes=60)
                clock.advance(seconds=wait.total_seconds())
            else:
                assert locked.value.retry_after is None
        clock.advance(days=365 * 5)
        with pytest.raises(TooManyAttempts):
            svc.accounts.verify_password(db, clock.now(), username="alice",
                                        password=GOOD_PASSWORD, where=here)
    finally:
        db.close()


def test_per_ip_limit_on_sign_in_gives_429_S7_D4(make_app):
    app = make_app(rate_limit={"signin_per_ip": "3/minute"})
    client = app.test_client()
    token = csrf(client, "/signin")
    statuses = [client.post("/signin", data={"csrf_token": token, "username": f"user{i}",
                                              "password": WRONG}).status_code
                for i in range(4)]
    assert statuses == [401, 401, 401, 429]
    assert "Too many requests" in client.post("/signin", data={
        "csrf_token": token, "username": "user9", "password": WRONG}).get_data(as_text=True)
    # Another address is not affected; GET is not limited.
    assert client.get("/signin").status_code == 200
    other = app.test_client()
    other_token = csrf(other, "/signin")
    assert other.post("/signin", data={"csrf_token": other_token, "username": "user0",
                                       "password": WRONG},
                      environ_base={"REMOTE_ADDR": "198.51.100.7"}).status_code == 401


# --- Concurrency ------------------------------------------------------------------------

ATTEMPTS = 100


def test_concurrent_wrong_passwords_count_no_more_than_threshold_S7_D4(app, backend):
    """D4: 100 simultaneous wrong tries at one account (each thread with its own
    database connection) record no more failures than the threshold allows: the claim
    is atomic, so the rest are refused before any password is checked."""
    create_account(app, "alice")
    svc = app.extensions["clef"]
    threshold = svc.settings.lockout.threshold
    barrier = threading.Barrier(ATTEMPTS, timeout=60)

    def attempt(i: int) -> str:
        db = svc.session_factory()
        try:
            barrier.wait()
            svc.accounts.verify_password(db, svc.clock.now(), username="alice",
                                        password=f"{WRONG} {i}", where=Where(ip="192.0.2.9"))
        except InvalidCredentials:
            return "failed"
        except TooManyAttempts:
            return "locked"
        finally:
            db.close()
        return "signed in"

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        outcomes = list(pool.map(attempt, range(ATTEMPTS)))

    assert outcomes.count("failed") == threshold, backend
    assert outcomes.count("locked") == ATTEMPTS - threshold
    assert _state(app, "alice").failures == threshold
    db = svc.session_factory()
    try:
        def count(tag: str) -> int:
            return db.scalar(select(func.count()).where(AuditEvent.tag == tag)) or 0

        assert count(audit.LOGIN_FAILURE) == threshold
        assert count(audit.LOGIN_LOCKED) == ATTEMPTS - threshold
    finally:
        db.close()
