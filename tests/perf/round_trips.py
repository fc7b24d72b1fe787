"""What a request costs the database in round trips (issue 11): statements, and the
BEGIN, COMMIT and ROLLBACK the driver really sends.

SQLAlchemy's ``begin``, ``commit`` and ``rollback`` events are logical: they fire on a
connection in autocommit too, where psycopg sends nothing. So each is counted only when
the DBAPI connection says it went to the server: a BEGIN when a statement found the
connection outside a transaction and left it inside one; a COMMIT or ROLLBACK when the
connection is inside a transaction as it is asked to end it (the pool's rollback on
return included). The same rule reads SQLite's own implicit BEGIN (before a write only).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

from idp.db import driver_in_transaction


@dataclass
class Trips:
    statements: list[str] = field(default_factory=list)
    begins: int = 0
    commits: int = 0
    rollbacks: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Every exchange with the server: statements, BEGIN, COMMIT and ROLLBACK."""
        return len(self.statements) + self.begins + self.commits + self.rollbacks

    def count(self, prefix: str) -> int:
        return sum(s.startswith(prefix) for s in self.statements)

    def summary(self) -> tuple[int, int, int, int]:
        """(statements, begins, commits, rollbacks)."""
        return len(self.statements), self.begins, self.commits, self.rollbacks


@contextmanager
def round_trips(engine: Engine) -> Iterator[Trips]:
    trips = Trips()
    outside: list[bool] = []

    def before(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        trips.statements.append(" ".join(statement.split()))
        trips.log.append(trips.statements[-1][:150])
        outside.append(not driver_in_transaction(conn.connection.dbapi_connection))

    def after(conn: Any, *_args: Any) -> None:
        if outside.pop() and driver_in_transaction(conn.connection.dbapi_connection):
            trips.begins += 1
            trips.log.insert(len(trips.log) - 1, "BEGIN")

    def failed(context: Any) -> None:
        conn = context.connection
        if outside and conn is not None and not conn.invalidated:
            after(conn)

    def committed(conn: Any) -> None:
        if driver_in_transaction(conn.connection.dbapi_connection):
            trips.commits += 1
            trips.log.append("COMMIT")

    def rolled_back(conn: Any) -> None:
        if not conn.invalidated and driver_in_transaction(conn.connection.dbapi_connection):
            trips.rollbacks += 1
            trips.log.append("ROLLBACK")

    def reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
        if not state.transaction_was_reset and driver_in_transaction(dbapi_connection):
            trips.rollbacks += 1

    listeners = [(engine, "before_cursor_execute", before),
                 (engine, "after_cursor_execute", after),
                 (engine, "handle_error", failed),
                 (engine, "commit", committed),
                 (engine, "rollback", rolled_back),
                 (engine.pool, "reset", reset)]
    for target, name, fn in listeners:
        event.listen(target, name, fn)
    try:
        yield trips
    finally:
        for target, name, fn in listeners:
            event.remove(target, name, fn)
