"""Per-request counts for the benchmark, shared by both servers' hooks
(``counting_wsgi.py`` under granian, ``gunicorn_conf.py`` under gunicorn).

Per ``METHOD path``: requests, worker CPU seconds, SQL statements, the BEGIN, COMMIT
and ROLLBACK the driver really sent (``begins``, ``commits``, ``rollbacks``; with the
statements, the request's round trips to the database), argon2 verifications and
statuses, written as JSON to ``$CLEF_BENCH_COUNTS/counts-<pid>.json``
when the worker exits (and a cProfile with ``CLEF_BENCH_PROFILE``). The hooks patch
classes (SQLAlchemy's Engine events, argon2's verify), never Clef's code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

stats: dict[str, dict[str, Any]] = {}
current: dict[str, Any] = {"key": "-"}


def bump(field: str) -> None:
    row = stats.setdefault(current["key"], {})
    row[field] = row.get(field, 0) + 1


def install(profile_clock: Callable[[], float]) -> Any:
    """Count argon2 runs, and statements and transaction round trips when
    ``CLEF_BENCH_COUNT_SQL`` is set; returns a cProfile (timed by ``profile_clock``: CPU,
    not waits) when ``CLEF_BENCH_PROFILE`` is set, else None.

    The statement counts are left out of the timed runs: SQLAlchemy's Engine events make
    every statement and commit dispatch them, about 130 Python calls a statement that
    production never runs (a refresh, one statement: 761 calls without them, 895 with),
    so ``run.py`` counts them in a pass of their own."""
    import argon2

    if os.environ.get("CLEF_BENCH_COUNT_SQL"):
        count_round_trips()
    verify = argon2.PasswordHasher.verify

    def counted_verify(self: Any, hash: Any, password: Any) -> Any:
        bump("argon2")
        return verify(self, hash, password)

    argon2.PasswordHasher.verify = counted_verify  # type: ignore[method-assign]
    if os.environ.get("CLEF_BENCH_PROFILE"):
        import cProfile

        current["profile"] = cProfile.Profile(profile_clock)
    return current.get("profile")


def count_round_trips() -> None:
    """Statements, and the BEGIN, COMMIT and ROLLBACK the driver sends (issue 11).

    SQLAlchemy's ``begin``/``commit``/``rollback`` events are logical: they fire on a
    connection in autocommit too, where psycopg sends nothing. So a BEGIN is counted when
    a statement found the connection outside a transaction and left it inside one (psycopg
    sends BEGIN first; sqlite3 before a write), a COMMIT or ROLLBACK when the connection is
    inside a transaction as it is ended (the pool's rollback on return included)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    from idp.db import driver_in_transaction

    outside: list[bool] = []

    def before(conn: Any, *_args: Any) -> None:
        bump("sql")
        outside.append(not driver_in_transaction(conn.connection.dbapi_connection))

    def after(conn: Any, *_args: Any) -> None:
        if outside.pop() and driver_in_transaction(conn.connection.dbapi_connection):
            bump("begins")

    def failed(context: Any) -> None:
        conn = context.connection
        if outside and conn is not None and not conn.invalidated:
            after(conn)

    def ended(field: str) -> Callable[[Any], None]:
        def count(conn: Any) -> None:
            if not conn.invalidated and driver_in_transaction(conn.connection.dbapi_connection):
                bump(field)
        return count

    def reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
        if not state.transaction_was_reset and driver_in_transaction(dbapi_connection):
            bump("rollbacks")

    event.listen(Engine, "before_cursor_execute", before)
    event.listen(Engine, "after_cursor_execute", after)
    event.listen(Engine, "handle_error", failed)
    event.listen(Engine, "commit", ended("commits"))
    event.listen(Engine, "rollback", ended("rollbacks"))
    event.listen(Pool, "reset", reset)


def finish(cpu_s: float, status: str) -> None:
    """The request under ``current["key"]`` is done: its CPU and status."""
    row = stats.setdefault(current["key"], {})
    row["requests"] = row.get("requests", 0) + 1
    row["cpu_s"] = row.get("cpu_s", 0.0) + cpu_s
    statuses = row.setdefault("status", {})
    statuses[status] = statuses.get(status, 0) + 1
    current["key"] = "-"


def dump() -> None:
    folder = os.environ.get("CLEF_BENCH_COUNTS")
    if not folder:
        return
    if "profile" in current:
        current["profile"].disable()
        current["profile"].dump_stats(os.path.join(folder, f"profile-{os.getpid()}.pstats"))
    with open(os.path.join(folder, f"counts-{os.getpid()}.json"), "w") as out:
        json.dump(stats, out)
