"""Transactions begin at the first write (``idp.db``, issue 11), and what must stay.

On PostgreSQL a plain SELECT outside a transaction runs in autocommit (no BEGIN, no
ROLLBACK round trip); a write, a locking SELECT or a statement the caller chose an
isolation level for keeps a transaction; ``execute_alone`` commits one statement on its
own only when nothing else of the transaction waits. Each test below abuses one of these
shortcuts: a lock released early, writes split apart, a pending change committed apart
from the statement it came with, a caller's own autocommit overridden.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask
from psycopg.errors import LockNotAvailable
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from idp import audit
from idp.db import execute_alone, reads_only
from idp.models import AuditEvent, LoginThrottle
from tests.perf.round_trips import round_trips

WHEN = datetime.fromisoformat("2026-01-01T00:00:00+00:00")


def _row(key: str) -> dict[str, object]:
    return {"key": key, "failures": 1, "locked_until": None, "updated_at": WHEN}


def _keys(app: Flask) -> set[str]:
    with app.extensions["clef"].session_factory() as db:
        return set(db.scalars(select(LoginThrottle.key)))


def _session(app: Flask) -> Session:
    return app.extensions["clef"].session_factory()


@pytest.mark.parametrize(("statement", "alone"), [
    ("SELECT sessions.id FROM sessions WHERE sessions.id = %(id)s", True),
    ("  select 1", True),
    ("SELECT login_throttles.key FROM login_throttles FOR UPDATE", False),
    ("SELECT a FROM t FOR NO KEY UPDATE NOWAIT", False),
    ("select a from t for share skip locked", False),
    ("SELECT a FROM t FOR\n KEY SHARE", False),
    ("SELECT pg_advisory_xact_lock(1)", False),
    ("SELECT pg_try_advisory_xact_lock_shared(1)", False),
    ("SELECT set_config('lock_timeout', '1s', true)", False),
    ("SELECT pg_notify('c', 'x')", False),
    ("WITH gone AS (DELETE FROM t RETURNING a) SELECT a FROM gone", False),
    ("INSERT INTO t (a) VALUES (1)", False),
    ("UPDATE t SET a = 1 RETURNING a", False),
    ("SET LOCAL lock_timeout = '1s'", False),
])
def test_only_a_plain_select_may_run_outside_a_transaction(statement: str, alone: bool) -> None:
    assert reads_only(statement) is alone


def test_a_locking_select_holds_its_lock_until_the_commit(app: Flask, backend: str) -> None:
    """S7, S11, S16 rely on ``FOR UPDATE``: run in autocommit, the lock would end with
    the statement and a second claimant would get the row at once."""
    if backend != "postgresql":
        pytest.skip("SQLite has no row locks (it locks the whole file at the first write)")
    with _session(app) as db:
        db.execute(insert(LoginThrottle).values(**_row("locked")))
        db.commit()
    holder, other = _session(app), _session(app)
    try:
        with round_trips(app.extensions["clef"].engine) as trips:
            held = holder.scalars(select(LoginThrottle).where(LoginThrottle.key == "locked")
                                  .with_for_update()).one()
        assert held.key == "locked" and trips.begins == 1
        with pytest.raises(OperationalError) as refused:
            other.execute(select(LoginThrottle.key).where(LoginThrottle.key == "locked")
                          .with_for_update(nowait=True))
        assert isinstance(refused.value.orig, LockNotAvailable)
        other.rollback()
        holder.commit()
        assert other.scalars(select(LoginThrottle.key).where(LoginThrottle.key == "locked")
                             .with_for_update(nowait=True)).one() == "locked"
    finally:
        holder.close()
        other.close()


def test_reads_run_outside_and_the_writes_after_them_stay_one_transaction(
        app: Flask, backend: str) -> None:
    with _session(app) as db, round_trips(app.extensions["clef"].engine) as trips:
        assert db.scalar(select(func.count()).select_from(LoginThrottle)) == 0
        assert trips.begins == 0
        db.execute(insert(LoginThrottle).values(**_row("first")))
        db.execute(insert(LoginThrottle).values(**_row("second")))
        assert db.scalar(select(func.count()).select_from(LoginThrottle)) == 2  # its own writes
        db.rollback()
    assert _keys(app) == set(), "a write ran outside the transaction"
    assert (trips.begins, trips.rollbacks) == (1, 1)


def test_a_read_only_session_sends_no_begin_and_no_rollback(app: Flask, backend: str) -> None:
    with round_trips(app.extensions["clef"].engine) as trips, _session(app) as db:
        db.scalar(select(func.count()).select_from(LoginThrottle))
        db.scalar(select(func.count()).select_from(AuditEvent))
    assert trips.summary() == (2, 0, 0, 0), trips.statements


def test_a_statement_alone_is_one_round_trip(app: Flask, backend: str) -> None:
    with _session(app) as db, round_trips(app.extensions["clef"].engine) as trips:
        execute_alone(db, insert(LoginThrottle).values(**_row("alone")))
        db.commit()
    assert _keys(app) == {"alone"}
    expected = (1, 0, 0, 0) if backend == "postgresql" else (1, 1, 1, 0)  # sqlite3 BEGINs
    assert trips.summary() == expected


def test_a_statement_alone_joins_the_orm_changes_pending_before_it(app: Flask) -> None:
    """Committed apart, the statement would stay although the transaction it came with
    was rolled back; even where the caller turned autoflush off."""
    with _session(app) as db, db.no_autoflush:
        db.add(LoginThrottle(**_row("pending")))
        execute_alone(db, insert(LoginThrottle).values(**_row("alone")))
        db.rollback()
    assert _keys(app) == set()


def test_a_statement_alone_joins_the_writes_sent_before_it(app: Flask) -> None:
    with _session(app) as db:
        db.execute(insert(LoginThrottle).values(**_row("sent")))
        execute_alone(db, delete(LoginThrottle).where(LoginThrottle.key == "sent"))
        db.rollback()
    assert _keys(app) == set()


def test_a_statement_alone_joins_the_audit_rows_recorded_before_it(app: Flask) -> None:
    """The audit rows are written just before the statement (``idp.audit``): they begin
    the transaction, and a rollback drops both."""
    with _session(app) as db:
        audit.record(db, WHEN, audit.LOGIN_FAILURE, actor="alice")
        execute_alone(db, insert(LoginThrottle).values(**_row("alone")))
        db.rollback()
    assert _keys(app) == set()
    with _session(app) as db:
        assert db.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_rows_written_by_one_executemany_after_a_read_stay_one_transaction(app: Flask) -> None:
    """The hook sits on the dialect's ``do_executemany`` too (issue 11): after a read
    left the connection in autocommit, several rows sent at once still begin a
    transaction, so a rollback takes back every one (in autocommit each would stay)."""
    engine = app.extensions["clef"].engine
    with engine.connect() as conn:
        conn.execute(select(func.count()).select_from(LoginThrottle))
        conn.execute(insert(LoginThrottle), [_row("many-1"), _row("many-2"), _row("many-3")])
        conn.rollback()
    assert _keys(app) == set()


def test_a_write_sent_without_parameters_after_a_read_stays_a_transaction(app: Flask) -> None:
    """And on ``do_execute_no_params`` (the ``no_parameters`` option): such a write
    after a read begins a transaction that a rollback takes back."""
    engine = app.extensions["clef"].engine
    with engine.connect() as conn:
        conn.execute(select(func.count()).select_from(LoginThrottle))
        conn.execution_options(no_parameters=True).exec_driver_sql(
            "INSERT INTO login_throttles (key, failures, updated_at)"
            " VALUES ('bare', 1, '2026-01-01 00:00:00+00:00')")
        conn.rollback()
    assert _keys(app) == set()


def test_a_connection_set_to_autocommit_by_its_caller_stays_so(app: Flask) -> None:
    """``bench/seed.py``, ``Tokens.find_bearer``: a caller's own isolation level wins; a
    write there is not turned into a transaction that the close then rolls back."""
    engine = app.extensions["clef"].engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(insert(LoginThrottle).values(**_row("kept")))
    assert _keys(app) == {"kept"}


def test_set_local_still_applies_to_its_transaction(app: Flask, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL settings")
    with _session(app) as db:
        db.execute(text("SET LOCAL lock_timeout = '1234ms'"))
        assert db.scalar(text("SHOW lock_timeout")) == "1234ms"
        db.rollback()


def test_a_streamed_read_gets_the_transaction_its_cursor_needs(app: Flask, backend: str) -> None:
    """``yield_per`` reads through a server-side cursor, a DECLARE that PostgreSQL allows
    only inside a transaction."""
    with _session(app) as db:
        for key in ("a", "b", "c"):
            db.execute(insert(LoginThrottle).values(**_row(key)))
        db.commit()
        keys = [row.key for row in db.scalars(
            select(LoginThrottle).order_by(LoginThrottle.key).execution_options(yield_per=2))]
        assert keys == ["a", "b", "c"]
