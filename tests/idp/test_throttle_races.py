"""D4: 100 wrong passwords for one account at once (real connections, one per thread;
PostgreSQL when IDP_TEST_DATABASE_URL is set, SQLite always) record exactly the
failures the lockout schedule allows: the claim is one atomic statement, so no update is
lost and none slips past the lock."""

from __future__ import annotations

from idp import audit
from idp.throttle import PASSWORD_STEP
from tests.at_once import at_once
from tests.helpers import GOOD_PASSWORD, audit_events, create_account, csrf, sign_in

RACERS = 100


def _failures(app, username: str) -> tuple[int, bool]:
    svc = app.extensions["clef"]
    from idp.usernames import username_key

    with svc.session_factory() as db:
        state = svc.throttle.state(db, username_key(username), PASSWORD_STEP)
    return state.failures, state.locked_until is not None


def _race(app, username: str, racers: int = RACERS) -> list[int]:
    clients = [app.test_client() for _ in range(racers)]
    tokens = [csrf(client, "/signin") for client in clients]
    responses = at_once(racers, lambda i: clients[i].post(
        "/signin", data={"csrf_token": tokens[i], "username": username,
                         "password": f"wrong password number {i}"}))
    return sorted(r.status_code for r in responses)


def test_d4_100_wrong_passwords_at_once_count_exactly_to_the_lock(make_app):
    app = make_app(rate_limit={"signin_per_ip": "10000/minute"})
    create_account(app, "alice")
    threshold = app.extensions["clef"].settings.lockout.threshold
    assert _race(app, "alice") == [401] * threshold + [429] * (RACERS - threshold)
    assert _failures(app, "alice") == (threshold, True)
    tags = [e.tag for e in audit_events(app)]
    assert tags.count(audit.LOGIN_FAILURE) == threshold
    assert tags.count(audit.LOGIN_LOCKED) == RACERS - threshold
    assert sign_in(app.test_client(), "alice", GOOD_PASSWORD).status_code == 429  # locked


def test_d4_s6_an_unknown_username_counts_the_same_under_the_same_race(make_app):
    """The same 100 at once for a name nobody registered: the same answers and count
    (S6: "too many attempts" says nothing about whether the account exists)."""
    app = make_app(rate_limit={"signin_per_ip": "10000/minute"})
    threshold = app.extensions["clef"].settings.lockout.threshold
    assert _race(app, "nobody-here") == [401] * threshold + [429] * (RACERS - threshold)
    assert _failures(app, "nobody-here") == (threshold, True)


def test_d4_the_schedule_up_to_the_permanent_lock_is_exact_under_races(make_app, clock):
    """Each time a temporary lock runs out, a race gets exactly one more try; at
    ``permanent_after`` the lock is for good and a race changes nothing (D4). Races of
    20 here: the 100 above already show the first lock."""
    app = make_app(rate_limit={"signin_per_ip": "10000/minute"},
                   lockout={"threshold": 5, "permanent_after": 7})
    create_account(app, "alice")
    assert _race(app, "alice", 20) == [401] * 5 + [429] * 15
    for failures in (6, 7):
        clock.advance(minutes=10)  # past the temporary lock
        assert _race(app, "alice", 20) == [401] + [429] * 19
        assert _failures(app, "alice") == (failures, True)
    clock.advance(days=30)
    assert _race(app, "alice", 20) == [429] * 20
    assert _failures(app, "alice") == (7, True)
