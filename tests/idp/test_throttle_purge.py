"""The worker forgets sign-in counts that no longer matter (D4, S6): made-up usernames
no longer pile up for ever; permanent locks, locks in force and counts inside the window
survive; existing and made-up usernames are treated alike."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from idp.models import LoginThrottle
from idp.throttle import PERMANENT, SECOND_FACTOR_STEP
from idp.usernames import username_key
from tests.helpers import create_account, run_cli

FORGET = timedelta(days=30)  # config/defaults.toml [lockout] forget_after_days


def _claim(app, clock, name: str, times: int = 1, step: str = "password") -> None:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        for _ in range(times):
            svc.throttle.claim(db, username_key(name), clock.now(), step)
    finally:
        db.close()


def _put(app, name: str, failures: int, locked_until, updated_at) -> None:
    """A row as the schedule leaves it, written directly (100 real failures take hours)."""
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        db.add(LoginThrottle(key=svc.throttle.key_for(username_key(name)), failures=failures,
                             locked_until=locked_until, updated_at=updated_at))
        db.commit()
    finally:
        db.close()


def _failures(app, name: str, step: str = "password") -> int:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        return svc.throttle.state(db, username_key(name), step).failures
    finally:
        db.close()


def _rows(app) -> int:
    db = app.extensions["clef"].session_factory()
    try:
        return int(db.scalar(select(func.count()).select_from(LoginThrottle)) or 0)
    finally:
        db.close()


def _worker_pass(app) -> None:
    result = run_cli(app, "oidc", "deliver")
    assert result.exit_code == 0, result.output


def test_d4_the_worker_forgets_counts_of_made_up_usernames_after_the_window(app, clock):
    _claim(app, clock, "ghost-one", 3)
    _claim(app, clock, "ghost-two", 1, SECOND_FACTOR_STEP)
    clock.advance(days=29)
    _claim(app, clock, "ghost-three", 2)
    _worker_pass(app)
    assert _rows(app) == 3  # all inside the window
    clock.advance(days=1)
    _worker_pass(app)
    assert _failures(app, "ghost-one") == 0
    assert _failures(app, "ghost-two", SECOND_FACTOR_STEP) == 0
    assert _failures(app, "ghost-three") == 2  # its last failure is 1 day old
    assert _rows(app) == 1


def test_d4_s6_existing_and_made_up_usernames_are_forgotten_alike(app, clock):
    """S6: the rule reads the row, never the accounts, so what survives says nothing
    about whether a username exists."""
    create_account(app, "alice")
    _claim(app, clock, "alice", 5)  # locked for a minute
    _claim(app, clock, "nobody", 5)
    assert _failures(app, "alice") == _failures(app, "nobody") == 5
    clock.advance(days=30, minutes=1)
    _worker_pass(app)
    assert _failures(app, "alice") == _failures(app, "nobody") == 0


def test_d4_permanent_locks_and_locks_in_force_survive(app, clock):
    old = clock.now()
    clock.advance(days=400)
    now = clock.now()
    _put(app, "locked-for-good", 100, old + PERMANENT, old)
    _put(app, "locked-now", 50, now + timedelta(minutes=30), old)
    _put(app, "lock-over", 50, now - timedelta(minutes=1), old)
    _worker_pass(app)
    assert _failures(app, "locked-for-good") == 100
    assert _failures(app, "locked-now") == 50
    assert _failures(app, "lock-over") == 0
