"""Races on the second step (real connections, one per thread; PostgreSQL when
IDP_TEST_DATABASE_URL is set, SQLite always): one recovery code and one emailed code,
each redeemed 20 times at once, pass exactly once (S12, S13); 100 wrong codes at once
record exactly the failures the lockout schedule allows, and the lock engages (D4, S7)."""

from __future__ import annotations

from idp import audit
from idp.throttle import SECOND_FACTOR_STEP
from mfa import events
from mfa.runtime import EXTENSION_KEY
from tests.at_once import at_once, clones
from tests.helpers import (
    audit_events,
    create_account,
    csrf,
    current_totp,
    emailed_code,
    get_account,
    outbox,
    sign_in,
)

RACERS = 20
# The recovery-code and emailed-code races measure the code itself: the step's lock
# must not step in before every racer has reached it.
NO_LOCK = {"threshold": 10_000, "permanent_after": 10_000}
NO_IP_LIMIT = {"second_factor_per_ip": "10000/minute", "signin_per_ip": "10000/minute",
               "email_code_per_ip": "10000/minute"}


def _recovery_codes(app, username: str) -> list[str]:
    svc = app.extensions["clef"]
    account = get_account(app, username)
    with svc.session_factory() as db:
        codes = app.extensions[EXTENSION_KEY].recovery_codes.replace(db, account.id, svc.clock.now())
        db.commit()
    return codes


def _second_step_failures(app, username: str) -> int:
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        state = svc.throttle.state(db, get_account(app, username).username_key, SECOND_FACTOR_STEP)
    return state.failures


def test_s13_one_recovery_code_raced_by_20_sign_ins_passes_once(make_app):
    """Twenty sign-in attempts (each its own session) send the same recovery code."""
    app = make_app(lockout=NO_LOCK, rate_limit=NO_IP_LIMIT)
    create_account(app, "alice")
    code = _recovery_codes(app, "alice")[0]
    racers = [app.test_client() for _ in range(RACERS)]
    tokens = []
    for client in racers:
        assert sign_in(client, "alice").status_code == 303
        tokens.append(csrf(client, "/2fa/recover"))
    responses = at_once(RACERS, lambda i: racers[i].post(
        "/2fa/recover", data={"csrf_token": tokens[i], "code": code}))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [303] + [401] * (RACERS - 1), statuses
    tags = [e.tag for e in audit_events(app)]
    assert tags.count(events.RECOVERY_CODE_USED) == 1
    assert tags.count(events.RECOVERY_CODE_FAILURE) == RACERS - 1


def test_s12_one_emailed_code_raced_20_times_passes_once(make_app):
    """One sign-in attempt (its code is bound to it) sends its emailed code 20 times."""
    app = make_app(lockout=NO_LOCK, rate_limit=NO_IP_LIMIT)
    create_account(app, "alice", email_address="alice@example.org", confirmed=True,
                   second_factor="email")
    client = app.test_client()
    sign_in(client, "alice")
    token = csrf(client, "/2fa/challenge")  # the page sends the code
    code = emailed_code(outbox(app)[-1])
    racers = clones(app, client, RACERS)
    responses = at_once(RACERS, lambda i: racers[i].post(
        "/2fa/challenge", data={"csrf_token": token, "code": code}))
    passed = [r for r in responses if r.status_code == 303
              and r.headers["Location"] == "/2fa/done"]
    assert len(passed) == 1, [(r.status_code, r.headers.get("Location")) for r in responses]
    successes = [e for e in audit_events(app, audit.LOGIN_SUCCESS)
                 if e.details.get("step") == "second_factor"]
    assert len(successes) == 1
    for response in responses:
        assert response.status_code < 500


def test_d4_100_wrong_second_step_codes_at_once_count_exactly_to_the_lock_S7(make_app):
    """D4: the claim is atomic, so of 100 concurrent wrong codes exactly ``threshold``
    are checked and counted; the rest find the lock and are refused unchecked."""
    app = make_app(rate_limit=NO_IP_LIMIT)
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    token = csrf(client, "/2fa/challenge")
    wrong = f"{(int(current_totp(app)) + 1) % 10**6:06d}"
    racers = clones(app, client, 100)
    responses = at_once(100, lambda i: racers[i].post(
        "/2fa/challenge", data={"csrf_token": token, "code": wrong}))
    threshold = app.extensions["clef"].settings.lockout.threshold
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * threshold + [429] * (100 - threshold), statuses
    assert _second_step_failures(app, "alice") == threshold
    assert [e.tag for e in audit_events(app)].count(events.FAILURE) == threshold
    # The lock holds for the right code too.
    assert racers[0].post("/2fa/challenge", data={"csrf_token": token,
                                                  "code": current_totp(app)}).status_code == 429
