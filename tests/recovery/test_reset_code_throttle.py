"""Wrong reset codes count per username across codes and flows (D4, S16, S6).

A code dies after five wrong tries, but a new flow mailed a new code every 30 seconds
with five fresh tries, for ever: about ten guesses a minute at six digits for any
account, limited only per address. The third count of the core's throttle
(``RESET_CODE_STEP``) now counts each code typed before it is checked: five wrong in a
row lock the code step for a minute, doubling to an hour, never for good (anyone may
type codes for any username). A code that passes clears it. The first tests failed
before (found by an adversarial review)."""

from __future__ import annotations

from flask import Flask

from idp.clock import FrozenClock
from tests.recovery.flows import last_code, other_than, post_code, start, text
from tests.recovery.test_forgot_password import alice
from tests.support.app import run_cli

NO_ADDRESS_LIMIT = {"forgot_password_per_ip": "10000/minute"}


def _five_wrong(client, app: Flask, username: str) -> None:  # type: ignore[no-untyped-def]
    """A new flow and five wrong codes: the code dies, and the username's count is five."""
    assert start(client, username).status_code == 303
    code = last_code(app) if username == "alice" else "000000"
    for _ in range(5):
        assert post_code(client, other_than(code)).status_code in (303, 400)


def test_d4_wrong_codes_across_flows_lock_the_code_step(make_app, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit=NO_ADDRESS_LIMIT)
    alice(app, questions=False)
    client = app.test_client()
    _five_wrong(client, app, "alice")
    clock.advance(seconds=31)  # a new code may be mailed
    start(client, "alice")
    locked = post_code(client, last_code(app))
    assert locked.status_code == 429
    assert "Too many attempts. Try again in 1 minute." in text(locked)
    clock.advance(seconds=61)
    assert post_code(client, last_code(app)).headers["Location"] == "/forgot-password/new"


def test_d4_each_further_wrong_code_doubles_the_wait(make_app, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    """25 codes typed in a row, one flow after another, as the review's attacker: the
    locks grow, and the right code of the last flow is still refused."""
    app = make_app(rate_limit=NO_ADDRESS_LIMIT)
    alice(app, questions=False)
    client = app.test_client()
    _five_wrong(client, app, "alice")
    refused = 0
    for _ in range(20):
        clock.advance(seconds=31)
        start(client, "alice")
        answer = post_code(client, other_than(last_code(app)))
        refused += answer.status_code == 429
    assert refused >= 15  # a 1-, 2-, 4-minute lock... against a try every 31 s
    start(client, "alice")
    assert post_code(client, last_code(app)).status_code == 429


def test_d4_a_code_that_passes_clears_the_count(make_app, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit=NO_ADDRESS_LIMIT)
    alice(app, questions=False)
    client = app.test_client()
    start(client, "alice")
    for _ in range(4):
        assert post_code(client, other_than(last_code(app))).status_code == 400
    assert post_code(client, last_code(app)).headers["Location"] == "/forgot-password/new"
    clock.advance(seconds=31)
    other = app.test_client()
    start(other, "alice")
    for _ in range(4):  # four more: not five in a row
        assert post_code(other, other_than(last_code(app))).status_code == 400
    assert post_code(other, last_code(app)).headers["Location"] == "/forgot-password/new"


def test_s6_an_unknown_username_is_locked_the_same_way(make_app, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit=NO_ADDRESS_LIMIT)
    client = app.test_client()
    _five_wrong(client, app, "nobody")
    clock.advance(seconds=31)
    start(client, "nobody")
    locked = post_code(client, "123456")
    assert locked.status_code == 429
    assert "Too many attempts. Try again in 1 minute." in text(locked)


def test_the_lock_is_said_in_french(make_app, clock: FrozenClock) -> None:  # type: ignore[no-untyped-def]
    app = make_app(rate_limit=NO_ADDRESS_LIMIT)
    alice(app, questions=False)
    client = app.test_client()
    client.get("/language/fr")
    _five_wrong(client, app, "alice")
    clock.advance(seconds=31)
    start(client, "alice")
    locked = post_code(client, last_code(app))
    assert locked.status_code == 429
    assert "Trop de tentatives. Réessayez dans 1 minute." in text(locked)


def test_d4_an_admin_unlock_lifts_the_reset_code_lock(make_app, clock: FrozenClock,  # type: ignore[no-untyped-def]
                                                     monkeypatch) -> None:
    """`clef users unlock` lifts every count of the username, the reset codes' too (it
    lifted the sign-in's only)."""
    monkeypatch.setenv("LOGNAME", "opal")
    app = make_app(rate_limit=NO_ADDRESS_LIMIT)
    alice(app, questions=False)
    client = app.test_client()
    _five_wrong(client, app, "alice")
    assert run_cli(app, "users", "unlock", "alice").exit_code == 0
    clock.advance(seconds=31)
    start(client, "alice")
    assert post_code(client, last_code(app)).headers["Location"] == "/forgot-password/new"
