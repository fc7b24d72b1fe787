"""What "a refused request changes nothing" compares: the rows of the tables, read
through the app's own engine, as sorted tuples per table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Flask
from sqlalchemy import select

from idp.db import Base

# A session row changes with every page (the form token, last seen): never compared.
ALWAYS_MOVING = frozenset({"sessions"})


def table_rows(app: Flask, skip: Iterable[str] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table except ``skip`` and :data:`ALWAYS_MOVING`, sorted by
    their text so two snapshots compare whatever order the database returns."""
    skipped = ALWAYS_MOVING | set(skip)
    db = app.extensions["clef"].session_factory()
    try:
        state: dict[str, list[tuple[Any, ...]]] = {}
        for table in Base.metadata.sorted_tables:
            if table.name in skipped:
                continue
            rows = [tuple(row) for row in db.execute(select(table))]
            state[table.name] = sorted(rows, key=repr)
        return state
    finally:
        db.close()


def changed_tables(before: dict[str, list[tuple[Any, ...]]],
                   after: dict[str, list[tuple[Any, ...]]]) -> list[str]:
    return [name for name in after if before.get(name) != after[name]]
