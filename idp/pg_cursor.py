"""psycopg cursors whose ``description`` is built only when something reads it (issue 11).

psycopg builds ``cursor.description`` afresh on every access: one ``Column`` per result
column, each decoding its name and looking its type up (about a dozen Python calls a
column). SQLAlchemy reads it after every statement that returns rows, but on a compiled
statement it has run before (the hot paths' every statement) it takes the result's
metadata from its cache and only tests the description against ``None``: a sign-in
step's session and account row (24 columns) cost some 300 calls for nothing.

:class:`DescribedOnReadCursor` returns psycopg's own answer wrapped in
:class:`ColumnsOnRead`, which holds the result and builds psycopg's ``Column`` objects,
with psycopg's code, the first time its length, an item or an iteration is asked for.
What it describes is the result current when ``description`` was read, even if the
cursor has moved on since. A result with no columns takes psycopg's path unchanged
(``None``, or the empty list of ``SELECT ;``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

from psycopg import Column, Cursor
from psycopg.pq.abc import PGresult


class _ResultSource:
    """What ``psycopg.Column`` reads from its cursor, fixed to one result: the result,
    the connection's text encoding and the cursor's adapters (for the type names)."""

    __slots__ = ("_encoding", "adapters", "pgresult")

    def __init__(self, cursor: Cursor[Any], pgresult: PGresult) -> None:
        self.pgresult = pgresult
        self._encoding = cursor._encoding
        self.adapters = cursor.adapters


class ColumnsOnRead(Sequence[Column]):
    """The description of one result, as psycopg would give it, built on first read."""

    __slots__ = ("_columns", "_cursor", "_result")

    def __init__(self, cursor: Cursor[Any], pgresult: PGresult) -> None:
        self._cursor = cursor
        self._result = pgresult
        self._columns: list[Column] | None = None

    def _built(self) -> list[Column]:
        if self._columns is None:
            source = _ResultSource(self._cursor, self._result)
            self._columns = [Column(source, i)  # type: ignore[arg-type]
                             for i in range(self._result.nfields)]
        return self._columns

    def __len__(self) -> int:
        return self._result.nfields

    @overload
    def __getitem__(self, index: int) -> Column: ...

    @overload
    def __getitem__(self, index: slice) -> list[Column]: ...

    def __getitem__(self, index: int | slice) -> Column | list[Column]:
        return self._built()[index]

    def __iter__(self) -> Iterator[Column]:
        return iter(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


class DescribedOnReadCursor(Cursor[Any]):
    """psycopg's cursor, its ``description`` a :class:`ColumnsOnRead`."""

    @property
    def description(self) -> list[Column] | None:
        result = self.pgresult
        if result is None or not result.nfields:
            return super().description
        return ColumnsOnRead(self, result)  # type: ignore[return-value]
