"""A right app code's writes in one statement on PostgreSQL (mfa.second_step_writes,
issue 11), abused: the statement's shape (the claim alone before it), a code whose step
was used meanwhile (a stale read, the same code posted twice at once, a second writer
waiting on the first's row lock), a wrong code, the lock reached, an error in the
statement or after it. On both databases unless said: SQLite keeps the claim, the check
and the writes one after the other in one transaction, and must answer the same.

What must hold (S7, S11, D4): every attempt counted before the check and never twice;
a step used once; a refused code writes nothing but its count and its failure row (no
count cleared, no success recorded); an error leaves nothing half-written."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, select

from idp import audit
from idp.audit import Where
from idp.models import AuditEvent, LoginThrottle
from idp.sessions import FULL, PASSWORD
from idp.throttle import PASSWORD_STEP
from mfa import events, second_step_writes
from mfa.checkers import Attempt, WrongCode
from mfa.runtime import EXTENSION_KEY
from tests.at_once import at_once
from tests.helpers import audit_events, create_account, csrf, current_totp, get_account, sign_in
from tests.mfa.flows import factor_of, failures, post_code, session_row
from tests.support.records import writes_during

NO_IP_LIMIT = {"second_factor_per_ip": "10000/minute", "signin_per_ip": "10000/minute"}


def successes(app: Flask) -> int:
    return len([e for e in audit_events(app, audit.LOGIN_SUCCESS)
                if e.details.get("step") == "second_factor"])


def code_failures(app: Flask) -> int:
    return [e.tag for e in audit_events(app)].count(events.FAILURE)


def wrong_code(app: Flask) -> str:
    return f"{(int(current_totp(app)) + 1) % 10**6:06d}"


def a_wrong_password(app: Flask, username: str) -> None:
    """One password-step failure for ``username``: a count the second step's success
    clears (D4) and nothing else may."""
    browser = app.test_client()
    response = browser.post("/signin", data={"csrf_token": csrf(browser, "/signin"),
                                             "username": username, "password": "not it"})
    assert response.status_code == 401
    assert failures(app, username, PASSWORD_STEP) == 1



def test_a_right_code_is_claimed_alone_then_written_in_one_statement(
        app: Flask, backend: str) -> None:
    """PostgreSQL: the claim, then ONE statement holding the guard, the clear, the
    session's renewal and the audit row (the guard first, the others reading it).
    SQLite: the same writes one by one."""
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    token = csrf(client, "/2fa/challenge")
    sent = writes_during(app, lambda: post_code(client, current_totp(app), token))
    assert session_row(app, client).level == FULL
    kinds = [s.split(" (")[0][:30] for s in sent]
    if backend == "postgresql":
        assert len(sent) == 2, sent
        assert sent[0].startswith("INSERT INTO login_throttles")
        one = sent[1]
        assert one.startswith("WITH guard AS (UPDATE second_factors SET last_totp_step"), one
        assert "DELETE FROM login_throttles" in one and "EXISTS (SELECT" in one
        assert "INSERT INTO audit_events" in one and "FROM guard) SELECT" in one
        assert "session_move AS (UPDATE sessions SET id=" in one  # mfa.second_step_writes
    else:
        assert kinds == ["INSERT INTO login_throttles", "UPDATE second_factors SET last",
                         "DELETE FROM login_throttles WH", "INSERT INTO audit_events",
                         "UPDATE sessions SET id=?, acco"], sent
    assert successes(app) == 1 and failures(app, "alice") == 0


def test_a_step_used_meanwhile_writes_nothing_but_its_count_and_failure_S11_S7(
        app: Flask) -> None:
    """A factor read before another sign-in used the code (the page's read, then the
    other's commit): the code passes the check in Python, and the database's guard
    refuses it. Nothing else is written: no count cleared (either step's), no second
    success; the attempt is counted once and recorded as a failure."""
    account = create_account(app, "alice")
    mfa, svc = app.extensions[EXTENSION_KEY], app.extensions["clef"]
    code = current_totp(app)
    with svc.session_factory() as db:
        stale = mfa.factors.get_challenge(db, account.id).factor
    assert stale is not None and stale.last_totp_step is None
    winner = app.test_client()
    sign_in(winner, "alice")
    assert post_code(winner, code).status_code == 303
    step = factor_of(app, "alice").last_totp_step
    assert step is not None and successes(app) == 1
    a_wrong_password(app, "alice")
    signed: list[list[str]] = []
    with svc.session_factory() as db:
        attempt = Attempt(account=get_account(app, "alice"), binding="b", where=Where())
        with pytest.raises(WrongCode):
            mfa.second_step.verify_factor(db, attempt, stale, code, svc.clock.now(),
                                          signed.append)
    assert signed == [], "not signed in"
    assert failures(app, "alice") == 1, "counted, and not cleared"
    assert failures(app, "alice", PASSWORD_STEP) == 1, "the other step's count kept"
    assert successes(app) == 1 and code_failures(app) == 1
    assert factor_of(app, "alice").last_totp_step == step


def test_one_code_posted_twice_at_once_passes_once_S11(make_app: Any) -> None:
    """Two sign-ins of one account post the same code at once (a connection each): one
    is signed in, the other refused and recorded as a failure; one success row."""
    app = make_app(rate_limit=NO_IP_LIMIT)
    create_account(app, "alice")
    clients = [app.test_client(), app.test_client()]
    tokens = []
    for client in clients:
        assert sign_in(client, "alice").status_code == 303
        tokens.append(csrf(client, "/2fa/challenge"))
    code = current_totp(app)
    responses = at_once(2, lambda i: post_code(clients[i], code, tokens[i]))
    assert sorted(r.status_code for r in responses) == [303, 401]
    assert sorted(session_row(app, c).level for c in clients) == [FULL, PASSWORD]
    assert successes(app) == 1 and code_failures(app) == 1
    # The loser's count is 1, or 0 when it was claimed before the winner's clear.
    assert failures(app, "alice") in (0, 1)


def test_a_second_writer_waiting_on_the_first_clears_nothing(app: Flask, backend: str) -> None:
    """PostgreSQL's statement itself, two transactions on one step: the second waits on
    the first's row lock, then finds the step used. Its clear (here of a witness row)
    and its audit row are not written: they hang on the guard's row, not on a snapshot
    taken before the first committed."""
    if backend != "postgresql":
        pytest.skip("the one statement is PostgreSQL's (SQLite: tests above)")
    account = create_account(app, "alice")
    mfa, svc = app.extensions[EXTENSION_KEY], app.extensions["clef"]
    now = svc.clock.now()
    with svc.session_factory() as db:
        db.execute(insert(LoginThrottle).values(key="witness", failures=3, locked_until=None,
                                                updated_at=now))
        db.commit()
        factor = mfa.factors.get_challenge(db, account.id).factor
    assert factor is not None
    step = mfa.factors.totp_step(factor, current_totp(app), now)
    assert step is not None

    def success() -> dict[str, Any]:
        return audit.row(now, audit.LOGIN_SUCCESS, actor="alice", account_id=account.id,
                         step="second_factor", method="totp")

    first, second = svc.session_factory(), svc.session_factory()
    outcome: list[bool] = []
    try:
        assert second_step_writes.write(first, mfa.factors.step_guard(factor, step), [],
                                        success())
        waiting = threading.Thread(target=lambda: outcome.append(second_step_writes.write(
            second, mfa.factors.step_guard(factor, step), ["witness"], success())))
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive(), "the second guard waits for the first's commit"
        first.commit()
        waiting.join(30)
        second.commit()
    finally:
        first.close()
        second.close()
    assert outcome == [False]
    with svc.session_factory() as db:
        assert db.get(LoginThrottle, "witness") is not None, "nothing cleared"
        rows = db.scalars(select(AuditEvent).where(AuditEvent.tag == audit.LOGIN_SUCCESS)).all()
    assert len(rows) == 1
    assert factor_of(app, "alice").last_totp_step == step


def test_a_wrong_code_is_counted_and_clears_nothing_S7_D4(app: Flask) -> None:
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    a_wrong_password(app, "alice")
    assert post_code(client, wrong_code(app)).status_code == 401
    assert failures(app, "alice") == 1 and failures(app, "alice", PASSWORD_STEP) == 1
    assert successes(app) == 0 and code_failures(app) == 1
    assert factor_of(app, "alice").last_totp_step is None
    # The right code then clears both steps' counts.
    assert post_code(client, current_totp(app)).status_code == 303
    assert failures(app, "alice") == 0 and failures(app, "alice", PASSWORD_STEP) == 0
    assert successes(app) == 1


def test_the_lock_reached_the_right_code_writes_no_guard_D4(app: Flask) -> None:
    create_account(app, "alice")
    client = app.test_client()
    sign_in(client, "alice")
    threshold = app.extensions["clef"].settings.lockout.threshold
    for _ in range(threshold):
        assert post_code(client, wrong_code(app)).status_code == 401
    token = csrf(client, "/2fa/challenge")
    responses: list[Any] = []
    sent = writes_during(app, lambda: responses.append(post_code(client, current_totp(app),
                                                                 token)))
    assert responses[0].status_code == 429
    assert not [s for s in sent if "second_factors" in s or "DELETE" in s], sent
    assert failures(app, "alice") == threshold and successes(app) == 0
    assert factor_of(app, "alice").last_totp_step is None
    assert session_row(app, client).level == PASSWORD


@pytest.mark.parametrize("where", ["statement", "sign-in"])
def test_an_error_in_the_writes_leaves_nothing_half_written_S7(
        app: Flask, where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An error in the success's statement (its audit row refused by the database), or
    after it (the session's sign-in): no guard without its audit row and clear, nor the
    reverse. The attempt stays counted once (PostgreSQL: its claim committed alone;
    SQLite: counted again after the rollback), the earlier count not cleared, the step
    not used up: the same code still passes afterwards."""
    account = create_account(app, "alice")
    mfa, svc = app.extensions[EXTENSION_KEY], app.extensions["clef"]
    client = app.test_client()
    sign_in(client, "alice")
    assert post_code(client, wrong_code(app)).status_code == 401

    def broken(_amr: list[str]) -> None:
        raise RuntimeError("the session could not be signed in")

    with svc.session_factory() as db, monkeypatch.context() as patched:
        if where == "statement":
            patched.setattr(audit, "LOGIN_SUCCESS", None)  # NOT NULL: refused
        factor = mfa.factors.get_challenge(db, account.id).factor
        assert factor is not None
        attempt = Attempt(account=get_account(app, "alice"), binding="b", where=Where())
        with pytest.raises(Exception) as raised:
            mfa.second_step.verify_factor(db, attempt, factor, current_totp(app),
                                          svc.clock.now(), broken if where == "sign-in"
                                          else lambda _amr: None)
        assert not isinstance(raised.value, WrongCode)
    assert failures(app, "alice") == 2, "counted once more, nothing cleared"
    assert factor_of(app, "alice").last_totp_step is None
    assert successes(app) == 0
    assert session_row(app, client).level == PASSWORD
    assert post_code(client, current_totp(app)).status_code == 303
    assert successes(app) == 1 and failures(app, "alice") == 0


def test_the_statement_is_built_once_and_cacheable() -> None:
    """One statement per guard, reused; SQLAlchemy can key it (a statement it cannot
    would be compiled again at every sign-in)."""
    from mfa.factors import _CLAIM_TOTP_STEP_RETURNING

    built = second_step_writes._combined(_CLAIM_TOTP_STEP_RETURNING)
    assert second_step_writes._combined(_CLAIM_TOTP_STEP_RETURNING) is built
    assert built._generate_cache_key() is not None
