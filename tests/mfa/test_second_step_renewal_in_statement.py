"""The session's renewal (S20) carried by the right app code's one statement on
PostgreSQL (mfa.second_step_writes, ``session=True``; issue 11): the session is signed
in before the statement, its move conditional on the code's guard IN SQL, and taken
back in memory when the guard refuses. On both databases unless said: SQLite (the
renewal at the commit, after the guard) must answer the same.

Attacked: a replayed code, the same code posted twice at once (two sessions, and one
session from two tabs), the session ended during the check, a wrong code, an error in
the statement, a sign-in that also writes the account (it falls back to the
transaction). What must hold: a refused code renews nothing (the session keeps its
token, its level and its form token, and the answer sets no cookie); exactly one renewal
per code; an ended session stays ended; nothing half-written."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, select, update
from werkzeug.test import TestResponse

from idp import audit
from idp.audit import Where
from idp.models import Account, WebSession
from idp.sessions import FULL, PASSWORD, session_id
from idp.throttle import PASSWORD_STEP
from mfa.checkers import Attempt
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY
from tests.at_once import at_once, clones
from tests.helpers import (
    create_account,
    csrf,
    current_totp,
    fresh_totp,
    get_account,
    session_cookie_name,
    session_row,
    session_token,
    sign_in,
)
from tests.mfa.flows import factor_of
from tests.mfa.test_second_step_one_statement import (
    NO_IP_LIMIT,
    a_wrong_password,
    code_failures,
    failures,
    successes,
    writes_during,
    wrong_code,
)
from tests.perf.round_trips import round_trips


def _postgresql(app: Flask) -> bool:
    return bool(app.extensions["clef"].engine.dialect.name == "postgresql")


def _at_password_step(app: Flask, username: str = "alice") -> tuple[FlaskClient, str, str]:
    """A browser past the password: its token and the challenge's form token."""
    browser = app.test_client()
    assert sign_in(browser, username).status_code == 303
    form = csrf(browser, "/2fa/challenge")
    token = session_token(app, browser)
    assert token is not None and session_row(app, token).level == PASSWORD
    return browser, token, form


def _post(browser: FlaskClient, code: str, form: str) -> TestResponse:
    return browser.post("/2fa/challenge", data={"csrf_token": form, "code": code})


def _sets_cookie(app: Flask, response: TestResponse) -> bool:
    name = session_cookie_name(app)
    return any(header.startswith(f"{name}=") for header in response.headers.getlist("Set-Cookie"))


def _sessions_of(app: Flask, username: str) -> list[WebSession]:
    account = get_account(app, username)
    with app.extensions["clef"].session_factory() as db:
        rows = list(db.scalars(select(WebSession).where(WebSession.account_id == account.id)))
        db.expunge_all()
        return rows


def _not_renewed(app: Flask, browser: FlaskClient, token: str) -> None:
    """The browser keeps its token, its row keeps its id and the password level."""
    assert session_token(app, browser) == token, "no new cookie"
    row = session_row(app, token)
    assert row is not None and row.level == PASSWORD and row.amr is None


@contextmanager
def _before_the_writes(app: Flask, action: Callable[[], None]) -> Iterator[list[str]]:
    """``action`` run on another connection once, after the request read the session,
    just before the step's writes: PostgreSQL, before the statement holding the code's
    guard (the claim committed); SQLite, before the claim, which takes the database's
    write lock for the step's transaction (another writer would wait for it)."""
    engine = app.extensions["clef"].engine
    seen: list[str] = []
    marker = "SET last_totp_step" if _postgresql(app) else "INSERT INTO login_throttles"

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if marker in statement and not seen:
            seen.append(" ".join(statement.split()))
            action()

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)


def test_the_renewal_rides_in_the_guards_statement_alone(app: Flask, backend: str) -> None:
    """PostgreSQL: the read (the session with its factor), the claim, then ONE statement
    in autocommit whose session move waits on the guard (``AND (EXISTS (SELECT ... FROM
    guard))``): 3 round trips, no BEGIN, no COMMIT. SQLite: the renewal's UPDATE apart, at the commit."""
    create_account(app, "alice")
    browser, old, form = _at_password_step(app)
    engine = app.extensions["clef"].engine
    with round_trips(engine) as trips:
        response = _post(browser, current_totp(app), form)
    assert response.status_code == 303 and _sets_cookie(app, response)
    new = session_token(app, browser)
    assert new is not None and new != old and session_row(app, old) is None
    row = session_row(app, new)
    assert row.level == FULL and row.amr == "pwd otp"
    (only,) = _sessions_of(app, "alice")
    assert only.id == session_id(new)
    moves = [s for s in trips.statements if "UPDATE sessions SET id" in s]
    if backend == "postgresql":
        assert trips.summary() == (3, 0, 0, 0), trips.log
        (move,) = moves
        assert move.startswith("WITH guard AS (UPDATE second_factors")
        at = move.index("session_move AS (UPDATE sessions")
        assert "FROM guard)" in move[at:move.index("audit0 AS")], "conditional on the guard"
    else:
        assert len(moves) == 1 and moves[0].startswith("UPDATE sessions")


def test_a_replayed_code_renews_nothing_S11_S20(make_app: Any) -> None:
    """The code another sign-in just used, posted by a second browser: refused (401),
    counted, recorded; its session keeps its token, level and form token (the undone
    sign-in's new form token would refuse the next post as a forgery, 400), no cookie
    set. The browser's next code then passes and renews it once."""
    app = make_app(rate_limit=NO_IP_LIMIT)
    create_account(app, "alice")
    first, _token, first_form = _at_password_step(app)
    code = current_totp(app)
    assert _post(first, code, first_form).status_code == 303
    second, token, form = _at_password_step(app)
    a_wrong_password(app, "alice")
    engine = app.extensions["clef"].engine
    with round_trips(engine) as trips:
        response = _post(second, code, form)
    assert response.status_code == 401 and not _sets_cookie(app, response)
    _not_renewed(app, second, token)
    assert not any(s.startswith("UPDATE sessions SET id") for s in trips.statements)
    assert failures(app, "alice") == 1 and failures(app, "alice", PASSWORD_STEP) == 1
    assert successes(app) == 1 and code_failures(app) == 1
    # The same form token still serves (it was not replaced in memory and stored).
    assert _post(second, wrong_code(app), form).status_code == 401
    _not_renewed(app, second, token)
    response = _post(second, fresh_totp(app, "alice"), form)
    assert response.status_code == 303
    assert session_row(app, token) is None
    assert session_row(app, session_token(app, second)).level == FULL
    assert successes(app) == 2 and failures(app, "alice", PASSWORD_STEP) == 0


def test_a_code_used_between_the_read_and_the_guard_renews_nothing_S11_S20(
        app: Flask) -> None:
    """The race made certain: another sign-in uses the code after this request read the
    factor (the check passes in Python) and before its guard; the guard refuses in the
    database, and the renewal riding with it must not move the session (its condition
    is the guard, in SQL): 401, the token, the level and the form token kept, no
    cookie, no success row."""
    account = create_account(app, "alice")
    mfa, svc = app.extensions[EXTENSION_KEY], app.extensions["clef"]
    browser, token, form = _at_password_step(app)
    code = current_totp(app)
    with svc.session_factory() as db:
        factor = mfa.factors.get_challenge(db, account.id).factor
        step = mfa.factors.totp_step(factor, code, svc.clock.now())
    assert step is not None

    def used_elsewhere() -> None:
        with svc.engine.begin() as other:
            other.execute(update(SecondFactor).where(SecondFactor.account_id == account.id)
                          .values(last_totp_step=step))

    with _before_the_writes(app, used_elsewhere) as seen:
        response = _post(browser, code, form)
    assert seen and response.status_code == 401 and not _sets_cookie(app, response)
    if _postgresql(app):
        assert "session_move AS (UPDATE sessions" in seen[0]
    _not_renewed(app, browser, token)
    assert [row.id for row in _sessions_of(app, "alice")] == [session_id(token)]
    assert successes(app) == 0 and code_failures(app) == 1 and failures(app, "alice") == 1
    assert _post(browser, fresh_totp(app, "alice"), form).status_code == 303


def test_one_code_from_two_sessions_at_once_renews_one_S11_S20(make_app: Any) -> None:
    """Two sign-ins post the same code at once: one 303 and renewed, the other 401 with
    its token, row and level as they were; one success row, two session rows."""
    app = make_app(rate_limit=NO_IP_LIMIT)
    create_account(app, "alice")
    racers = [_at_password_step(app) for _ in range(2)]
    code = current_totp(app)
    responses = at_once(2, lambda i: _post(racers[i][0], code, racers[i][2]))
    assert sorted(r.status_code for r in responses) == [303, 401]
    won = next(i for i, r in enumerate(responses) if r.status_code == 303)
    lost = 1 - won
    winner, winner_old, _ = racers[won]
    loser, loser_token, _ = racers[lost]
    assert not _sets_cookie(app, responses[lost])
    _not_renewed(app, loser, loser_token)
    assert session_row(app, winner_old) is None
    assert session_row(app, session_token(app, winner)).level == FULL
    assert sorted(row.level for row in _sessions_of(app, "alice")) == [FULL, PASSWORD]
    assert successes(app) == 1 and code_failures(app) == 1


def test_one_session_posting_its_code_twice_at_once_is_renewed_once_S20(
        make_app: Any) -> None:
    """One session (two tabs) posts the right code twice at once: one 303 with the new
    token; the other a 401 that sets no cookie (it read the session before the move),
    or a 400 (it read it after: the old token finds nothing, the form is stale). The
    session is one row, FULL, at the winner's token; the old token finds nothing."""
    app = make_app(rate_limit=NO_IP_LIMIT)
    create_account(app, "alice")
    browser, old, form = _at_password_step(app)
    tabs = clones(app, browser, 2)
    code = current_totp(app)
    responses = at_once(2, lambda i: _post(tabs[i], code, form))
    won = next(i for i, r in enumerate(responses) if r.status_code == 303)
    lost = responses[1 - won]
    assert lost.status_code in (400, 401), lost.status_code
    assert _sets_cookie(app, responses[won])
    new = session_token(app, tabs[won])
    assert new is not None and new != old
    if lost.status_code == 401:
        assert not _sets_cookie(app, lost) and session_token(app, tabs[1 - won]) == old
    (row,) = _sessions_of(app, "alice")
    assert row.id == session_id(new) and row.level == FULL
    assert session_row(app, old) is None
    assert successes(app) == 1 and code_failures(app) == (lost.status_code == 401)


def test_a_session_ended_during_the_check_stays_ended_S21(app: Flask) -> None:
    """Ended (a logout in another tab, the admin's revocation) after the request read it,
    before the code's statement: the code is used and recorded as today, the answer is
    today's (303), and no session row comes back, at either token (the renewal does not
    revive it)."""
    create_account(app, "alice")
    browser, old, form = _at_password_step(app)
    engine = app.extensions["clef"].engine

    def end() -> None:
        with engine.begin() as other:
            assert other.execute(delete(WebSession).where(
                WebSession.id == session_id(old))).rowcount == 1

    with _before_the_writes(app, end) as seen:
        response = _post(browser, current_totp(app), form)
    assert seen, "the session was ended before the writes"
    if _postgresql(app):
        assert "session_move AS (UPDATE sessions" in seen[0]
    assert response.status_code == 303
    assert _sessions_of(app, "alice") == [], "the ended session stays ended"
    new = session_token(app, browser)
    assert new is not None and session_row(app, new) is None
    assert browser.get("/account").status_code in (302, 303), "signed out, as ended"
    assert successes(app) == 1 and factor_of(app, "alice").last_totp_step is not None


def test_a_wrong_code_renews_nothing_and_clears_nothing_S7_D4(app: Flask) -> None:
    create_account(app, "alice")
    browser, token, form = _at_password_step(app)
    a_wrong_password(app, "alice")
    sent: list[Any] = []
    writes = writes_during(app, lambda: sent.append(_post(browser, wrong_code(app), form)))
    assert sent[0].status_code == 401 and not _sets_cookie(app, sent[0])
    assert not [s for s in writes if "sessions" in s or "second_factors" in s], writes
    _not_renewed(app, browser, token)
    assert failures(app, "alice") == 1 and failures(app, "alice", PASSWORD_STEP) == 1
    assert successes(app) == 0 and code_failures(app) == 1


def test_an_error_in_the_statement_renews_nothing_and_keeps_the_token(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The success's audit row refused by the database (PostgreSQL: inside the one
    statement; SQLite: at the commit): a 500, and nothing of it written: no renewal
    without the guard, no guard or audit row without the rest. The sign-in made ahead
    is taken back in memory, so the answer keeps the old cookie and the same browser,
    with the same form token, passes with the same code afterwards."""
    create_account(app, "alice")
    browser, token, form = _at_password_step(app)
    code = current_totp(app)
    with monkeypatch.context() as patched:
        patched.setattr(audit, "LOGIN_SUCCESS", None)  # NOT NULL: refused
        response = _post(browser, code, form)
    assert response.status_code == 500 and not _sets_cookie(app, response)
    _not_renewed(app, browser, token)
    assert factor_of(app, "alice").last_totp_step is None and successes(app) == 0
    assert failures(app, "alice") == 1, "counted once"
    assert [row.id for row in _sessions_of(app, "alice")] == [session_id(token)]
    response = _post(browser, code, form)
    assert response.status_code == 303
    assert session_row(app, session_token(app, browser)).level == FULL
    assert session_row(app, token) is None and successes(app) == 1


def test_a_sign_in_that_writes_the_account_keeps_the_transaction_D7(app: Flask) -> None:
    """A last use older than the precision (D7's clock restarted: an UPDATE of the
    account) cannot go in one statement alone: the step signs in after the guard and
    writes the renewal at the commit, in one transaction, as before. A replayed code in
    that state writes neither the account nor the session."""
    create_account(app, "alice")
    svc = app.extensions["clef"]
    now = svc.clock.now()
    with svc.session_factory() as db:
        db.execute(update(Account).where(Account.username == "alice")
                   .values(last_used_at=now - timedelta(days=3)))
        db.commit()
    browser, old, form = _at_password_step(app)
    code = current_totp(app)
    engine = svc.engine
    with round_trips(engine) as trips:
        assert _post(browser, code, form).status_code == 303
    assert get_account(app, "alice").last_used_at == now
    assert session_row(app, session_token(app, browser)).level == FULL
    assert session_row(app, old) is None
    if _postgresql(app):
        assert trips.summary()[1:3] == (1, 1), trips.log  # BEGIN ... COMMIT
        assert not any("session_move AS" in s for s in trips.statements)
        assert any(s.startswith("UPDATE sessions SET id") for s in trips.statements)
    # Replayed by another sign-in while the last use is old again: nothing written.
    with svc.session_factory() as db:
        db.execute(update(Account).where(Account.username == "alice")
                   .values(last_used_at=now - timedelta(days=3)))
        db.commit()
    second, token, second_form = _at_password_step(app)
    assert _post(second, code, second_form).status_code == 401
    _not_renewed(app, second, token)
    assert get_account(app, "alice").last_used_at == now - timedelta(days=3)


def test_the_service_takes_the_sign_in_back_when_the_guard_refuses(app: Flask) -> None:
    """The service's contract, without the web layer: on PostgreSQL the sign-in runs
    before the statement and, the guard refusing (the step used meanwhile), is taken
    back exactly once, with no renewal left waiting; on SQLite it never runs."""
    account = create_account(app, "alice")
    mfa, svc = app.extensions[EXTENSION_KEY], app.extensions["clef"]
    code = current_totp(app)
    with svc.session_factory() as db:
        stale = mfa.factors.get_challenge(db, account.id).factor
    winner, _, form = _at_password_step(app)
    assert _post(winner, code, form).status_code == 303
    calls: list[str] = []
    with svc.session_factory() as db:
        attempt = Attempt(account=get_account(app, "alice"), binding="b", where=Where())
        with pytest.raises(Exception) as refused:
            mfa.second_step.verify_factor(db, attempt, stale, code, svc.clock.now(),
                                          lambda _amr: calls.append("in"),
                                          lambda: calls.append("back"))
        assert type(refused.value).__name__ == "WrongCode"
        assert not db.info.get("clef.session_rows.pending")
    assert calls == (["in", "back"] if _postgresql(app) else [])
    assert successes(app) == 1 and code_failures(app) == 1
