"""The database: declarative base, engine and the per-request session.

SQLAlchemy 2 typed ORM. The same code runs on the embedded SQLite file and on
PostgreSQL; where the two differ (atomic upserts) the service picks the dialect's
construct. Schema changes go through Alembic (``idp/migrations``), never ``create_all``
outside tests of the migrations themselves.

Transactions begin at the first write (issue 11). On PostgreSQL, psycopg would send a
BEGIN before a request's first statement and the pool a ROLLBACK after a request that
only read: two round trips of nothing. ``_begin_at_first_write`` runs a plain SELECT met
outside a transaction in autocommit, and lets the first write, or a SELECT that locks
rows (``FOR UPDATE``, S7, S11, S16), begin the transaction, which then lasts to the
commit or rollback as before. This is what SQLite's driver has always done (a BEGIN
before the first write only), and it changes nothing Clef relies on: at READ COMMITTED
(PostgreSQL's default, which Clef never changes) every statement sees the data as of its
own start, inside a transaction or not, and a plain SELECT takes no row lock; writers
protect themselves with conditional UPDATEs and row locks, all inside the transaction.
"""

from __future__ import annotations

import re
import select
import time
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from types import MappingProxyType
from typing import Any, ClassVar

from psycopg.pq import TransactionStatus
from sqlalchemy import DateTime, Engine, Executable, MetaData, Result, create_engine, event, exc
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor, ExecutionContext
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.type_api import _ResultProcessorType
from sqlalchemy.types import TypeDecorator

from idp.clock import as_utc
from idp.pg_cursor import DescribedOnReadCursor

_IDLE = TransactionStatus.IDLE
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)

    def result_processor(self, dialect: Dialect, coltype: Any) -> _ResultProcessorType[Any] | None:
        """No processor on PostgreSQL, whose ``timestamptz`` the driver hands back aware
        already, in UTC (every UTC column is one, ``impl``; every session's ``TimeZone``
        is UTC, :func:`make_engine`): :meth:`process_result_value` would return each
        value as it came, at three Python calls a value (issue 11). SQLite, which drops
        the zone, keeps it."""
        if dialect.name == "postgresql":
            return self.impl_instance.result_processor(dialect, coltype)
        return super().result_processor(dialect, coltype)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while one writer writes; busy_timeout makes writers queue
    # instead of failing at once; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 10,
                prepare_threshold: int = 2) -> Engine:
    """An engine for ``url``; SQLite gets the pragmas above and its folder created.

    Statement parameters are kept out of SQL logging and error messages (S28): a
    username looked up may be a password typed in the wrong field. On PostgreSQL the
    pool's size and psycopg's prepared statements follow ``[database]`` (issue 11)."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False},
                               hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # No ``pool_pre_ping``: its ``SELECT 1`` on every checkout was a round trip per
    # request. ``_check_liveness`` below does the same job without one.
    # psycopg's prepare_threshold: None never prepares (config/defaults.toml: -1). Its
    # cursors describe a result only when asked (idp.pg_cursor).
    connect_args: dict[str, Any] = {
        "prepare_threshold": None if prepare_threshold < 0 else prepare_threshold}
    parsed = make_url(url)
    if parsed.get_driver_name() == "psycopg":
        connect_args["cursor_factory"] = DescribedOnReadCursor
    # Every session in UTC, whatever the server's or the database's ``TimeZone``: the
    # driver hands ``timestamptz`` back in the session's zone, and UTCDateTime promises
    # UTC out (a recovery token's fingerprint holds ``email_confirmed_at.isoformat()``,
    # which must read the same whether the value was just set or read back). Options
    # given in the URL are kept after it.
    given = parsed.query.get("options", ())
    connect_args["options"] = " ".join(
        ("-c TimeZone=UTC", *((given,) if isinstance(given, str) else given)))
    engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                           hide_parameters=True, connect_args=connect_args)
    event.listen(engine, "checkin", _stamp_checkin)
    event.listen(engine, "checkout", _check_liveness)
    if engine.dialect.driver == "psycopg":  # it reads psycopg's transaction status
        # A dialect event, not ``before_cursor_execute``: a connection event on the
        # engine makes every Connection dispatch all of its events (connect, begin,
        # before and after each execute, rollback, commit), about 80 Python calls per
        # statement of empty dispatches (issue 11); the dialect's ``do_execute`` events
        # are the only ones dispatched for this one, just before the cursor executes.
        event.listen(engine, "do_execute", _begin_at_first_write)
        event.listen(engine, "do_executemany", _begin_at_first_write)
        event.listen(engine, "do_execute_no_params", _begin_without_parameters)
    return engine


def driver_in_transaction(dbapi_connection: Any) -> bool:
    """Whether the driver's connection is inside a transaction, as the server sees it
    (psycopg's transaction status, sqlite3's ``in_transaction``): what a BEGIN, COMMIT
    or ROLLBACK really sent is counted by (bench/request_counts.py, tests/perf)."""
    info = getattr(dbapi_connection, "info", None)
    status = getattr(info, "transaction_status", None)
    if status is not None:
        return bool(status != _IDLE)
    return bool(getattr(dbapi_connection, "in_transaction", False))


# What a SELECT must run inside a transaction for: a row lock (held to the commit) or a
# function whose effect ends with the transaction. Read in the SQL sent, so it holds for
# ORM queries, Core statements and text alike; a false alarm costs only a BEGIN.
_NEEDS_TRANSACTION = re.compile(
    r"\bfor\s+(?:update|share|no\s+key\s+update|key\s+share)\b"
    r"|\b(?:pg_advisory_xact_lock\w*|pg_try_advisory_xact_lock\w*|set_config|pg_notify)\s*\(",
    re.IGNORECASE)


@lru_cache(maxsize=4096)
def reads_only(statement: str) -> bool:
    """Whether ``statement`` may run outside a transaction: a SELECT that neither locks
    rows nor calls a function tied to its transaction. Anything else (INSERT, UPDATE,
    DELETE, WITH, SET, DDL...) begins one.

    Remembered per statement text: the answer depends on the text alone, the hot paths
    send a few statements again and again (SQLAlchemy's compiled cache hands back the
    same string, whose hash Python keeps), and the search through a long SELECT cost
    about 25 us a read, a tenth of a UserInfo request's CPU (issue 11)."""
    return statement.lstrip()[:6].upper() == "SELECT" and not _NEEDS_TRANSACTION.search(statement)


def _begin_at_first_write(cursor: DBAPICursor, statement: str, _parameters: Any,
                          context: ExecutionContext) -> None:
    """Outside a transaction, a read (or a statement of :func:`execute_alone`) runs in
    autocommit and a write begins one (executed by the dialect right after: this
    returns None).

    Inside a transaction the statement simply joins it. A connection the caller set an
    isolation level on (``isolation_level`` execution option, in the context's options
    with the connection's) is left as it was set."""
    dbapi = cursor.connection
    if dbapi.pgconn.transaction_status != _IDLE:
        return
    options = context.execution_options
    if "isolation_level" in options:
        return
    alone = options.get(_ALONE, False)
    # A server-side cursor (``yield_per``, ``stream_results``) is a DECLARE, which
    # PostgreSQL allows only inside a transaction.
    server_side = getattr(cursor, "name", None) is not None
    autocommit = alone or (reads_only(statement) and not server_side)
    if dbapi.autocommit != autocommit:
        dbapi.autocommit = autocommit


def _begin_without_parameters(cursor: DBAPICursor, statement: str,
                              context: ExecutionContext) -> None:
    """:func:`_begin_at_first_write` for a statement sent without parameters."""
    _begin_at_first_write(cursor, statement, None, context)


# The execution option :func:`execute_alone` marks its statement with.
_ALONE = "clef_alone"
# The execution options of a statement run alone on a Connection the caller holds with
# no transaction begun (``Connection.execute(..., execution_options=ALONE)``): on
# PostgreSQL in autocommit, as :func:`execute_alone`.
ALONE: Mapping[str, Any] = MappingProxyType({_ALONE: True})


def execute_alone(db: Session, statement: Executable,
                  params: Mapping[str, Any] | None = None) -> Result[Any]:
    """Execute ONE statement that the caller commits right after, writing nothing else
    between. When no write of the transaction has been sent yet, the statement is the
    whole transaction, so it runs in autocommit on PostgreSQL: one round trip instead of
    BEGIN, statement, COMMIT (issue 11). A single statement is atomic on its own, and its
    row locks and conflict checks (``ON CONFLICT``, a conditional UPDATE) work as inside a
    transaction. What the session holds unwritten goes first: its ORM changes are flushed
    here and its audit rows before any statement (``idp.audit``), so when there is any,
    the transaction begins with it and this statement joins it, committed with it as
    before. SQLite is left as it is (its driver begins before a write)."""
    db.flush()
    return db.execute(statement, params, execution_options={_ALONE: True})


def execute_alone_on_connection(db: Session, statement: Executable,
                                params: Mapping[str, Any] | None = None) -> Result[Any]:
    """:func:`execute_alone` for a Core statement when ``db`` holds nothing unwritten
    (no ORM change, no audit row: the caller checks), sent straight on the connection
    without the ORM's execution machinery, a hundred-odd Python calls (issue 11). The
    same autocommit on PostgreSQL; inside a transaction already begun, it joins it."""
    return db.connection().execute(statement, params, execution_options={_ALONE: True})


# A connection idle longer than this is pinged at checkout: a dead peer that sent
# nothing (a network cut, a firewall dropping idle flows) is found before a request
# uses it. Busier connections are checked by the socket test alone.
PING_AFTER_IDLE_SECONDS = 30.0


def _stamp_checkin(_dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _check_liveness(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry,
                    _proxy: Any) -> None:
    """Refuse a pooled connection that is dead, so the pool replaces it unseen.

    An idle connection has nothing to read: a readable socket means the server closed it
    or said it is going away (a restart, a terminated backend), found with no round trip.
    After a long idle period a ``SELECT 1`` checks what the socket cannot show. Raising
    DisconnectionError makes the pool discard this connection and check out another."""
    fileno = getattr(dbapi_connection, "fileno", None)
    try:
        if fileno is not None and select.select([fileno()], [], [], 0)[0]:
            raise exc.DisconnectionError("the server closed this pooled connection")
        idle_since = record.info.get("idle_since")
        if idle_since is not None and time.monotonic() - idle_since > PING_AFTER_IDLE_SECONDS:
            # Outside a transaction: no BEGIN before it, none left open for the request
            # (and its ROLLBACK) after it (issue 11).
            dbapi_connection.autocommit = True
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("SELECT 1")
            finally:
                cursor.close()
    except exc.DisconnectionError:
        raise
    except Exception as error:  # a closed socket, a failed ping: the connection is gone
        raise exc.DisconnectionError(str(error)) from error


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
