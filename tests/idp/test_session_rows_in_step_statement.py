"""The session's waiting write carried by a step's own statement (issue 11,
``idp.session_rows.take_pending_write``): on PostgreSQL the password step's clear and
the consent answer's code take the session's move or change as a data-modifying CTE and
go alone, in autocommit; SQLite writes them apart in one transaction, as before.

Attacked on both databases: a session ended while the step ran (it stays ended, the
answer is the one it always was), two answers at once on one session, a statement that
fails (nothing of it is written: no audit row without the session's write, and no
session write without the rest), a change that must write only its own columns."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, NamedTuple, get_args

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp import audit, session_rows
from idp.models import WebSession
from idp.oidc import authorize_writes
from idp.oidc.models import AuthorizationCode, Consent
from idp.oidc.tokens import token_hash
from idp.password_step_writes import _CLEAR, MAX_AUDIT_ROWS, clear_password_count
from idp.sessions import FULL, PASSWORD, session_id
from idp.usernames import username_key
from tests.oidc.rp import RelyingParty, Request
from tests.oidc.test_issue11_authorize_one_read import _signed_in_at_consent
from tests.oidc.test_sign_in_handoff import untrusted
from tests.perf.round_trips import round_trips
from tests.support.accounts import GOOD_PASSWORD, create_account, get_account
from tests.support.records import (
    audit_events,
    new_db,
    session_row,
    session_store,
    session_token,
    set_session_token,
    statements_sent,
)
from tests.support.screens import csrf, csrf_from, sign_in

HERE = audit.Where(ip="192.0.2.7")


def _postgresql(app: Flask) -> bool:
    return bool(app.extensions["clef"].engine.dialect.name == "postgresql")


@contextmanager
def _ended_before_statement(app: Flask, token: str, number: int) -> Iterator[list[str]]:
    """The session of ``token`` deleted by another connection (a logout in another tab,
    the admin's ``sessions end``) just before the request's ``number``-th statement:
    after the request read the session, before the step's writes."""
    engine = app.extensions["clef"].engine
    seen: list[str] = []
    busy = [False]

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if busy[0]:
            return
        seen.append(" ".join(statement.split()))
        if len(seen) == number:
            busy[0] = True
            try:
                with engine.begin() as other:
                    gone = other.execute(delete(WebSession).where(
                        WebSession.id == session_id(token))).rowcount
                assert gone == 1
            finally:
                busy[0] = False

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)


def _sessions_of(app: Flask, account_id: int) -> list[WebSession]:
    with new_db(app) as db:
        rows = list(db.scalars(select(WebSession).where(WebSession.account_id == account_id)))
        db.expunge_all()
        return rows


def _store_throttle(app: Flask) -> Any:
    return app.extensions["clef"].throttle


def _failures(app: Flask, username: str) -> int:
    with new_db(app) as db:
        return int(_store_throttle(app).state(db, username_key(username)).failures)


# --- a session ended while the step ran ---------------------------------------------


def test_a_session_ended_during_the_password_step_stays_ended(app: Flask) -> None:
    """Ended between its read and the step's statement: the old token finds nothing
    after (the move found no row), and the sign-in gets a session of its own, as it
    always did (the renewal revives: a fresh sign-in). One row, the new one. The session
    is one that passed the password already and signs in again: a visitor's first
    session has no row to end (D15)."""
    create_account(app, "alice")
    alice = get_account(app, "alice")
    browser = app.test_client()
    assert sign_in(browser, "alice").status_code == 303
    form = csrf(browser, "/signin")
    old = session_token(app, browser)
    assert old is not None and session_row(app, old) is not None
    with _ended_before_statement(app, old, 2) as seen:  # the session read, then the claim
        response = browser.post("/signin", data={"csrf_token": form, "username": "alice",
                                                 "password": GOOD_PASSWORD})
    assert response.status_code == 303 and response.headers["Location"].endswith("/2fa/challenge")
    new = session_token(app, browser)
    assert new is not None and new != old
    assert session_row(app, old) is None, "the ended session stays ended"
    (row,) = _sessions_of(app, alice.id)
    assert row.id == session_id(new) and row.level == PASSWORD
    if _postgresql(app):
        (step,) = [s for s in seen if "DELETE FROM login_throttles" in s]
        assert "session_insert AS (INSERT INTO sessions" in step  # revived in the statement
    assert [e.tag for e in audit_events(app, audit.LOGIN_SUCCESS)] == [audit.LOGIN_SUCCESS] * 2
    assert _failures(app, "alice") == 0


def test_a_session_ended_during_the_consent_answer_stays_ended(app: Flask) -> None:
    """Ended between its read and the answer's statement: the statement's change of the
    session's data finds no row and writes none (no revival); the answer is the one it
    was before the change (a code: the person was signed in when the request came)."""
    create_account(app, "alice")
    alice = get_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    token = session_token(app, browser)
    assert token is not None and session_row(app, token).level == FULL
    with _ended_before_statement(app, token, 2) as seen:  # the session read, then the client
        allowed = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert "code" in jobs.callback(allowed)
    assert session_row(app, token) is None and _sessions_of(app, alice.id) == []
    if _postgresql(app):
        assert any("session_change AS (UPDATE sessions SET data=" in s for s in seen), seen
    assert browser.get("/account").status_code in (302, 303), "signed out, as ended"


def test_a_step_that_writes_more_keeps_one_transaction(app: Flask) -> None:
    """The account's language changed by this sign-in: its UPDATE begins the step's
    transaction, the clear (with the audit row and the session's new row on PostgreSQL:
    a visitor has none to move, D15) joins it, one COMMIT, as before this work;
    everything is written."""
    create_account(app, "alice")
    alice = get_account(app, "alice")
    browser = app.test_client()
    form = csrf(browser, "/signin")
    old = session_token(app, browser)
    with round_trips(app.extensions["clef"].engine) as trips:
        response = browser.post("/signin", data={
            "csrf_token": form, "username": "alice", "password": GOOD_PASSWORD},
            headers={"Accept-Language": "fr"})
    assert response.status_code == 303
    transactions = 1 if _postgresql(app) else 2  # SQLite's claim has one of its own
    assert (trips.begins, trips.commits, trips.rollbacks) == (transactions, transactions, 0)
    assert get_account(app, "alice").locale == "fr"
    assert old is not None and session_row(app, old) is None
    (row,) = _sessions_of(app, alice.id)
    assert row.id == session_id(session_token(app, browser) or "") and row.level == PASSWORD
    if _postgresql(app):
        writes = [s for s in trips.statements if not s.startswith("SELECT")]
        assert writes[-1].startswith("WITH audit0 AS")
        assert "session_insert AS (INSERT INTO sessions" in writes[-1], writes
        assert writes[-2].startswith("UPDATE accounts SET locale"), writes


# --- two answers at once on one session -----------------------------------------------


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(calls), timeout=30)

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def _browser_with(app: Flask, token: str) -> FlaskClient:
    browser = app.test_client()
    set_session_token(app, browser, token)
    return browser


def test_two_password_steps_at_once_on_one_session_each_get_a_session(app: Flask) -> None:
    """A double click: the old token dies (S20), each right answer's new token works
    (one moved the row, the other found it gone and revived its own: the revival is
    made certain by the session-deleted-during-the-step test above), and each wrote its
    audit row with its session."""
    create_account(app, "alice")
    alice = get_account(app, "alice")
    first = app.test_client()
    form = csrf(first, "/signin")
    old = session_token(app, first)
    assert old is not None
    second = _browser_with(app, old)
    data = {"csrf_token": form, "username": "alice", "password": GOOD_PASSWORD}
    answers = _at_once([lambda: first.post("/signin", data=data),
                        lambda: second.post("/signin", data=data)])
    # Each answer reads the session as it starts. One that starts after the other has
    # moved the row finds no session, so its form token is refused (400) before any
    # claim, as on any tab whose session has moved; otherwise both are right.
    statuses = [a.status_code for a in answers]
    assert sorted(statuses) in ([303, 303], [303, 400]), statuses
    won = [client for client, a in zip((first, second), answers, strict=True)
           if a.status_code == 303]
    tokens = {session_token(app, client) for client in won}
    assert None not in tokens and old not in tokens and len(tokens) == len(won)
    assert session_row(app, old) is None
    rows = _sessions_of(app, alice.id)
    assert sorted(r.id for r in rows) == sorted(session_id(t) for t in tokens if t)
    assert all(r.level == PASSWORD for r in rows)
    assert len(audit_events(app, audit.LOGIN_SUCCESS)) == len(won)
    assert _failures(app, "alice") == 0


class TwoTabs(NamedTuple):
    """Alice at an untrusted portal's consent page in one browser, and a second browser
    holding her session cookie."""
    alice: Any
    jobs: RelyingParty
    token: str
    browser: FlaskClient
    action: str
    page: Any
    other: FlaskClient


def _two_tabs_at_consent(app: Flask) -> TwoTabs:
    create_account(app, "alice")
    alice = get_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    token = session_token(app, browser)
    assert token is not None
    return TwoTabs(alice, jobs, token, browser, action, page, _browser_with(app, token))


def test_two_consent_answers_at_once_on_one_request_write_one_answer(app: Flask) -> None:
    """The same answer posted twice at once (S35): one code; the other answer's
    statement is refused whole (no consent rewrite, no audit row, no session change of
    its own in it), and the session is still the person's, signed in."""
    alice, _jobs, token, browser, action, page, other = _two_tabs_at_consent(app)
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    answers = _at_once([lambda: browser.post(action, data=form),
                        lambda: other.post(action, data=form)])
    results = sorted("code" if "code" in RelyingParty.callback(a) else
                     RelyingParty.callback(a)["error"] for a in answers)
    assert results == ["code", "invalid_request"]
    assert len(audit_events(app, audit.OIDC_AUTHORIZED)) == 1
    assert len(audit_events(app, audit.OIDC_CONSENT)) == 1
    with new_db(app) as db:
        assert db.scalar(select(func.count()).select_from(AuthorizationCode)) == 1
        assert db.scalar(select(func.count()).select_from(Consent)) == 1
    (row,) = _sessions_of(app, alice.id)
    assert row.id == session_id(token) and row.level == FULL


def test_two_consent_answers_at_once_for_two_requests_each_get_a_code(app: Flask) -> None:
    """Two tabs, two authorization requests, answered at once on one session: both
    codes, both audit rows, and the session's row written by both, still the one row."""
    alice, jobs, token, browser, action, page, other = _two_tabs_at_consent(app)
    second_action = jobs.authorize_url(Request())
    second_page = other.get(second_action)
    assert second_page.status_code == 200
    answers = _at_once([
        lambda: browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"}),
        lambda: other.post(second_action, data={"csrf_token": csrf_from(second_page),
                                                "decision": "allow"})])
    assert all("code" in RelyingParty.callback(a) for a in answers)
    assert len(audit_events(app, audit.OIDC_AUTHORIZED)) == 2
    (row,) = _sessions_of(app, alice.id)
    assert row.id == session_id(token) and row.level == FULL


# --- a statement that fails writes nothing ---------------------------------------------


def test_a_failed_password_step_writes_no_audit_row_and_no_session(app: Flask) -> None:
    """The step's writes are all or nothing: its session's move refused (the new id is
    taken, a collision made by hand) takes the clear and the audit row with it, on
    PostgreSQL within the one statement, on SQLite at the commit's rollback. A wrong
    implementation (the move sent apart, after an autocommitted clear) keeps the audit
    row and the cleared count."""
    create_account(app, "alice")
    alice = get_account(app, "alice")
    store, now = session_store(app), app.extensions["clef"].clock.now()
    key = username_key("alice")
    with new_db(app) as db:
        old_token = store.insert_anonymous(db, now, {"k": "v"})
        taken_token = store.insert_anonymous(db, now, {"other": "tab"})
        db.commit()
    db = new_db(app)
    try:
        _store_throttle(app).claim(db, key, now)  # the step's claim (a count of one)
        old = store.load(db, old_token, now).record
        _new_token, record = store.passed_password(db, old, alice.id, now)
        record.id = session_id(taken_token)  # the move will collide
        audit.record(db, now, audit.LOGIN_SUCCESS, actor="alice", account_id=alice.id,
                     where=HERE)
        with pytest.raises(IntegrityError):
            clear_password_count(db, _store_throttle(app), key, last=True)
            db.commit()
        db.rollback()
    finally:
        db.close()
    assert audit_events(app, audit.LOGIN_SUCCESS) == []
    assert _failures(app, "alice") == 1, "the count stays: the clear went with the rest"
    kept = session_row(app, old_token)
    assert kept is not None and kept.account_id is None and kept.data == {"k": "v"}
    assert session_row(app, taken_token).data == {"other": "tab"}


def _code_row(app: Flask, jobs: RelyingParty, account_id: int, nonce: str) -> dict[str, Any]:
    now = app.extensions["clef"].clock.now()
    return {"code_hash": token_hash(secrets.token_urlsafe(32)),
            "client_id": jobs.client_id, "account_id": account_id,
            "redirect_uri": jobs.redirect_uri, "scope": "openid", "nonce": nonce,
            "nonce_hash": token_hash(nonce), "code_challenge": None,
            "code_challenge_method": None, "auth_time": now, "amr": "pwd otp", "acr": "1",
            "sid": "sid-1", "partner_acr": None, "created_at": now,
            "expires_at": now + timedelta(seconds=60), "used_at": None, "reused_at": None}


def test_a_refused_code_writes_no_audit_row_and_no_session_change(app: Flask) -> None:
    """The consent answer's statement refused by the nonce's unique index (S35): its
    audit row and the session's changed data go with it (PostgreSQL: one statement;
    SQLite: one transaction rolled back). A wrong implementation keeps either."""
    create_account(app, "alice")
    alice = get_account(app, "alice")
    jobs = untrusted(app)
    store, now = session_store(app), app.extensions["clef"].clock.now()
    with new_db(app) as db:
        token = store.insert_anonymous(db, now, {"k": "v"})
        authorize_writes.write(db, _code_row(app, jobs, alice.id, "n-used"), None)
        db.commit()
    db = new_db(app)
    try:
        record = store.load(db, token, now).record
        assert record is not None
        record.data = {"k": "changed"}
        session_rows.queue_changes(db, record)
        audit.record(db, now, audit.OIDC_AUTHORIZED, actor="alice", account_id=alice.id,
                     where=HERE, client=jobs.client_id)
        with pytest.raises(IntegrityError):
            authorize_writes.write(db, _code_row(app, jobs, alice.id, "n-used"), None)
            db.commit()
        db.rollback()
    finally:
        db.close()
    assert audit_events(app, audit.OIDC_AUTHORIZED) == []
    assert session_row(app, token).data == {"k": "v"}


# --- what each shape writes ---------------------------------------------------------


def _step(app: Flask, queue: Callable[[Session], None]) -> list[str]:
    """A password step's clear carrying what ``queue`` leaves waiting, committed."""
    db = new_db(app)
    try:
        now = app.extensions["clef"].clock.now()
        _store_throttle(app).claim(db, username_key("alice"), now)
        queue(db)
        audit.record(db, now, audit.LOGIN_SUCCESS, actor="alice", where=HERE)
        with statements_sent(app.extensions["clef"].engine) as seen:
            clear_password_count(db, _store_throttle(app), username_key("alice"), last=True)
            db.commit()
        return seen
    finally:
        db.close()


def _one_statement_on_postgresql(app: Flask, seen: list[str], cte: str) -> None:
    if _postgresql(app):
        assert len(seen) == 1 and cte in seen[0], seen
    else:
        assert len(seen) == 3, seen  # the clear, the audit row, the session: apart


def _anonymous(app: Flask, data: dict[str, Any]) -> str:
    with new_db(app) as db:
        token = session_store(app).insert_anonymous(db, app.extensions["clef"].clock.now(), data)
        db.commit()
        return token


def test_a_renewal_that_does_not_revive_leaves_an_ended_session_ended(app: Flask) -> None:
    """S21's rule for the second factor's renewal (``revive=False``), carried by a
    step's statement: the old row gone meanwhile, nothing is written for the new token,
    and the rest of the statement is (the clear, the audit row)."""
    create_account(app, "alice")
    token = _anonymous(app, {"k": "v"})
    store, now = session_store(app), app.extensions["clef"].clock.now()
    made: list[str] = []

    def renew_ended(db: Session) -> None:
        old = store.load(db, token, now).record
        with new_db(app) as other:
            other.execute(delete(WebSession).where(WebSession.id == session_id(token)))
            other.commit()
        new, _ = store.renew(db, old, now, revive=False)
        made.append(new)

    _one_statement_on_postgresql(app, _step(app, renew_ended),
                                 "session_move AS (UPDATE sessions SET id=")
    assert session_row(app, token) is None and session_row(app, made[0]) is None
    assert len(audit_events(app, audit.LOGIN_SUCCESS)) == 1 and _failures(app, "alice") == 0


def test_a_renewal_moves_the_row_and_a_new_row_is_inserted(app: Flask) -> None:
    create_account(app, "alice")
    token = _anonymous(app, {"k": "v"})
    store, now = session_store(app), app.extensions["clef"].clock.now()
    made: list[str] = []

    def renew(db: Session) -> None:
        old = store.load(db, token, now).record
        new, _ = store.renew(db, old, now, revive=False)
        made.append(new)

    _one_statement_on_postgresql(app, _step(app, renew), "session_move AS (UPDATE sessions")
    assert session_row(app, token) is None and session_row(app, made[0]).data == {"k": "v"}

    def create(db: Session) -> None:
        new, record = store.create(db, now, {})
        record.data = {"fresh": True}
        made.append(new)

    _one_statement_on_postgresql(app, _step(app, create), "session_insert AS (INSERT INTO")
    assert session_row(app, made[1]).data == {"fresh": True}


@pytest.mark.parametrize("change", ["data", "seen", "data_seen"])
def test_a_change_writes_only_its_columns(app: Flask, change: str) -> None:
    """Only what changed is written: another request's change of the other column,
    made after this one's read, is kept (two tabs)."""
    create_account(app, "alice")
    token = _anonymous(app, {"k": "v"})
    store, now = session_store(app), app.extensions["clef"].clock.now()
    later = now + timedelta(minutes=3)
    elsewhere = now + timedelta(minutes=1)

    def changed(db: Session) -> None:
        record = store.load(db, token, now).record
        assert record is not None
        with new_db(app) as other:  # another tab writes both columns after this read
            other.execute(WebSession.__table__.update().where(
                WebSession.id == session_id(token)).values(
                data={"k": "other tab"}, last_seen_at=elsewhere))
            other.commit()
        if change in ("data", "data_seen"):
            record.data = {"k": "this tab"}
        if change in ("seen", "data_seen"):
            record.last_seen_at = later
        session_rows.queue_changes(db, record)

    seen = _step(app, changed)
    _one_statement_on_postgresql(app, seen, "session_change AS (UPDATE sessions SET")
    row = session_row(app, token)
    assert row.data == ({"k": "other tab"} if change == "seen" else {"k": "this tab"})
    assert row.last_seen_at == (elsewhere if change == "data" else later)


def test_the_consent_answer_writes_only_the_sessions_data(app: Flask) -> None:
    """The code's values are named as columns of ``sessions`` too (account_id,
    created_at, expires_at, auth_time, amr): none of them reaches the session's row."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    token = session_token(app, browser)
    assert token is not None
    before = session_row(app, token)
    app.extensions["clef"].clock.advance(seconds=30)
    with statements_sent(app.extensions["clef"].engine) as seen:
        allowed = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert "code" in RelyingParty.callback(allowed)
    after = session_row(app, token)
    for name in ("account_id", "level", "created_at", "expires_at", "auth_time", "amr"):
        assert getattr(after, name) == getattr(before, name), name
    if _postgresql(app):
        assert any("session_change AS (UPDATE sessions SET data=" in s for s in seen), seen


def test_parameters_named_as_a_sessions_column_are_refused() -> None:
    """SQLAlchemy would take them as values for the CTE's UPDATE of ``sessions``."""
    row = session_rows.SessionRow("id", None, "anonymous", {}, None, None)  # type: ignore[arg-type]
    write = session_rows.PendingWrite("data", {"session_key": "id"}, row)
    with pytest.raises(ValueError, match="account_id"):
        session_rows.bind_write({"account_id": 1}, write)
    params: dict[str, Any] = {"code_account_id": 1}
    session_rows.bind_write(params, write)
    session_rows.bind_write(params, None)
    assert params == {"code_account_id": 1, "session_key": "id"}


def test_more_than_one_waiting_write_is_left_to_the_commit(app: Flask) -> None:
    """Two writes waiting (two rows changed): none is taken, both go at the commit in
    the transaction, as before."""
    first, second = _anonymous(app, {"n": 1}), _anonymous(app, {"n": 2})
    store, now = session_store(app), app.extensions["clef"].clock.now()
    with new_db(app) as db:
        for token in (first, second):
            record = store.load(db, token, now).record
            assert record is not None
            record.data = {"n": 0}
            session_rows.queue_changes(db, record)
        assert session_rows.take_pending_write(db) is None and session_rows.unwritten(db)
        db.commit()
    assert session_row(app, first).data == session_row(app, second).data == {"n": 0}


def test_every_shape_of_the_clear_is_compiled_once() -> None:
    """A statement SQLAlchemy cannot key is compiled at every request: each shape the
    password step can make (audit rows, the session's write) must have a cache key."""
    for rows in range(MAX_AUDIT_ROWS + 1):
        for shape in (None, *get_args(session_rows.WriteShape)):
            statement = session_rows.with_write_as_cte(audit.with_rows_as_ctes(_CLEAR, rows),
                                                       shape)
            assert statement._generate_cache_key() is not None, (rows, shape)
