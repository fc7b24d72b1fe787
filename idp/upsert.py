"""One atomic insert-or-update for both databases (the lockout counters, the answer
limits, the password-reset flows).

SQLite and PostgreSQL both speak ``INSERT ... ON CONFLICT DO UPDATE`` but SQLAlchemy
builds it from each dialect's own ``insert``; this is the one place that picks it, so a
service writes its upsert once and it holds across instances (one statement, no
read-then-write race)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Column, ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import InstrumentedAttribute, Session

Upsert = postgresql.Insert | sqlite.Insert


def upsert(db: Session, model: type[Any] | Table, values: Mapping[str, Any], *,
           key: InstrumentedAttribute[Any] | Column[Any], update: Mapping[str, Any],
           where: ColumnElement[bool] | None = None) -> Upsert:
    """``INSERT values`` into ``model``'s table, or, when a row with the same ``key``
    exists, ``UPDATE`` it with ``update`` (only where ``where`` holds, when given).
    ``model`` may be the table itself: a hot statement built on the table runs as Core,
    without the ORM's bulk-insert path (issue 11).

    Returns the statement, for the caller to add ``returning`` and execute."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement: Upsert = dialect.insert(model).values(**values)
    return statement.on_conflict_do_update(index_elements=[key], set_=dict(update), where=where)


_BUILT: dict[tuple[str, str], Upsert] = {}


def built_once(name: str, dialect: str, build: Callable[[Any], Upsert]) -> Upsert:
    """The statement ``name`` for ``dialect`` ("postgresql" or "sqlite"), made once by
    ``build(insert)`` from that dialect's ``insert`` and kept: a hot path binds only its
    values (issue 11: building a statement cost more CPU than running it)."""
    statement = _BUILT.get((name, dialect))
    if statement is None:
        statement = build(postgresql.insert if dialect == "postgresql" else sqlite.insert)
        _BUILT[(name, dialect)] = statement
    return statement
