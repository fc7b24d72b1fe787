"""S20 with the renewal written as one UPDATE that moves the row to the new token
(issue 11): the old token finds nothing, a step raced in by two requests still leaves
each a working session, and a step that fails keeps the old one."""

from __future__ import annotations

from flask import Flask

from idp.models import WebSession
from idp.sessions import ANONYMOUS, FULL, PASSWORD, session_id
from tests.support.accounts import create_account
from tests.support.records import new_db, session_store, statements_sent


def _anonymous_row(app: Flask) -> str:
    db = new_db(app)
    try:
        token = session_store(app).insert_anonymous(db, app.extensions["clef"].clock.now(), {"k": "v"})
        db.commit()
        return token
    finally:
        db.close()


def _row(app: Flask, token: str) -> WebSession | None:
    db = new_db(app)
    try:
        row = db.get(WebSession, session_id(token))
        if row is not None:
            db.expunge(row)
        return row
    finally:
        db.close()


def test_the_password_step_moves_the_row_in_one_update_S20(app: Flask) -> None:
    account = create_account(app, "alice")
    old_token = _anonymous_row(app)
    db = new_db(app)
    now = app.extensions["clef"].clock.now()
    try:
        old = session_store(app).load(db, old_token, now).record
        with statements_sent(db.get_bind()) as seen:
            new_token, _ = session_store(app).passed_password(db, old, account.id, now)
            db.commit()
    finally:
        db.close()
    sessions = [s for s in seen if "sessions" in s]
    assert len(sessions) == 1 and sessions[0].startswith("UPDATE sessions SET id="), seen
    assert _row(app, old_token) is None  # the token captured before the step: nothing
    moved = _row(app, new_token)
    assert moved is not None and moved.level == PASSWORD and moved.account_id == account.id
    assert moved.data == {"k": "v"}


def test_a_step_raced_in_by_two_requests_leaves_each_a_session(app: Flask) -> None:
    """Both requests loaded the old row; the first moves it. The second's UPDATE then
    finds nothing to move, and its new row is inserted instead (a double click)."""
    account = create_account(app, "alice")
    old_token = _anonymous_row(app)
    now = app.extensions["clef"].clock.now()
    first, second = new_db(app), new_db(app)
    try:
        late = session_store(app).load(second, old_token, now).record
        second.commit()  # ends its read, as a request between statements would
        early = session_store(app).load(first, old_token, now).record
        first_token, _ = session_store(app).passed_password(first, early, account.id, now)
        first.commit()
        second_token, _ = session_store(app).passed_password(second, late, account.id, now)
        second.commit()
    finally:
        first.close()
        second.close()
    assert _row(app, old_token) is None
    for token in (first_token, second_token):
        row = _row(app, token)
        assert row is not None and row.level == PASSWORD and row.account_id == account.id


def test_a_step_after_a_logout_elsewhere_still_gets_its_session(app: Flask) -> None:
    """The old row ended by another tab between the load and the step: the step's own
    session is written, never a 500 (the same answer as before the move)."""
    account = create_account(app, "alice")
    old_token = _anonymous_row(app)
    now = app.extensions["clef"].clock.now()
    db, other = new_db(app), new_db(app)
    try:
        old = session_store(app).load(db, old_token, now).record
        db.commit()
        ended = other.get(WebSession, session_id(old_token))
        assert ended is not None
        session_store(app).end(other, ended)
        other.commit()
        token, _ = session_store(app).passed_password(db, old, account.id, now)
        db.commit()
    finally:
        db.close()
        other.close()
    row = _row(app, token)
    assert row is not None and row.level == PASSWORD


def test_a_step_rolled_back_keeps_the_old_session(app: Flask) -> None:
    account = create_account(app, "alice")
    old_token = _anonymous_row(app)
    now = app.extensions["clef"].clock.now()
    db = new_db(app)
    try:
        old = session_store(app).load(db, old_token, now).record
        new_token, _ = session_store(app).passed_password(db, old, account.id, now)
        db.flush()  # the move is written, then the step fails
        db.rollback()
    finally:
        db.close()
    kept = _row(app, old_token)
    assert kept is not None and kept.level == ANONYMOUS
    assert _row(app, new_token) is None


def test_the_second_factor_moves_the_row_again(app: Flask) -> None:
    account = create_account(app, "alice")
    token = _anonymous_row(app)
    now = app.extensions["clef"].clock.now()
    db = new_db(app)
    try:
        old = session_store(app).load(db, token, now).record
        pending, record = session_store(app).passed_password(db, old, account.id, now)
        db.commit()
        full, _ = session_store(app).passed_second_factor(db, record, ["pwd", "otp"], now)
        db.commit()
    finally:
        db.close()
    assert _row(app, token) is None and _row(app, pending) is None
    row = _row(app, full)
    assert row is not None and row.level == FULL and row.amr == "pwd otp"


def test_both_steps_in_one_transaction_move_the_first_row_once(app: Flask) -> None:
    """A partner's sign-in passes both steps in one request: the row loaded at the
    start is moved to the last token, and neither earlier token finds anything (S20)."""
    account = create_account(app, "alice")
    token = _anonymous_row(app)
    now = app.extensions["clef"].clock.now()
    db = new_db(app)
    try:
        old = session_store(app).load(db, token, now).record
        pending, record = session_store(app).passed_password(db, old, account.id, now)
        full, _ = session_store(app).passed_second_factor(db, record, ["fed"], now)
        db.commit()
    finally:
        db.close()
    assert _row(app, token) is None and _row(app, pending) is None
    row = _row(app, full)
    assert row is not None and row.level == FULL and row.account_id == account.id
