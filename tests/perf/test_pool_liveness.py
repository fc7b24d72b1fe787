"""The pool checks its PostgreSQL connections without a round trip per request (issue 11).

``pool_pre_ping`` sent ``SELECT 1`` on every checkout. ``idp.db`` now looks at the
socket instead (a server that closed the connection leaves it readable) and pings only
after a long idle period; a dead connection is still replaced before a request sees it
(the restart itself: tests/faults/test_database_restart.py)."""

from __future__ import annotations

import pytest
from psycopg.pq import TransactionStatus
from sqlalchemy import text

from idp.db import make_engine
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs IDP_TEST_DATABASE_URL (PostgreSQL)")


def _status(conn) -> TransactionStatus:
    return conn.connection.dbapi_connection.info.transaction_status


def test_a_checkout_sends_no_statement():
    """A pre-ping's ``SELECT 1`` would leave the connection inside a transaction."""
    engine = make_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            conn.rollback()
        with engine.connect() as conn:  # the same pooled connection, checked out again
            assert _status(conn) == TransactionStatus.IDLE
    finally:
        engine.dispose()


def test_the_ping_after_a_long_idle_period_leaves_no_transaction(monkeypatch):
    """The ``SELECT 1`` after a long idle period runs outside a transaction: the request
    that gets the connection is not handed an open one (and a ROLLBACK to send)."""
    monkeypatch.setattr("idp.db.PING_AFTER_IDLE_SECONDS", -1.0)
    engine = make_engine(PG_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TEMPORARY TABLE pinged (a int)"))  # a write: BEGIN
            conn.commit()
        with engine.connect() as conn:  # pinged at this checkout
            assert _status(conn) == TransactionStatus.IDLE
    finally:
        engine.dispose()


def test_a_connection_the_server_ended_is_replaced_unseen():
    """The backend of the pooled connection is terminated between two checkouts: the
    next checkout gets a new connection, and its statement works."""
    engine = make_engine(PG_URL)
    killer = make_engine(PG_URL)
    try:
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            conn.rollback()
        with killer.connect() as other:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
        for _ in range(100):  # the termination reaches the socket within milliseconds
            with killer.connect() as other:
                alive = other.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                      {"pid": pid}).scalar_one()
                other.rollback()
            if not alive:
                break
        with engine.connect() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
    finally:
        engine.dispose()
        killer.dispose()


def test_prepared_statements_follow_the_setting():
    """psycopg prepares hot statements (issue 11); -1 turns it off for a pooler in
    transaction mode."""
    for setting, expected in ((2, 2), (-1, None)):
        engine = make_engine(PG_URL, prepare_threshold=setting)
        try:
            with engine.connect() as conn:
                assert conn.connection.dbapi_connection.prepare_threshold == expected
        finally:
            engine.dispose()
