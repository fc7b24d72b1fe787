"""PostgreSQL cursors describe a result only when asked, and then as psycopg would
(idp.pg_cursor, issue 11)."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from idp.db import make_engine
from idp.pg_cursor import ColumnsOnRead, DescribedOnReadCursor
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(not PG_URL, reason="needs IDP_TEST_DATABASE_URL (PostgreSQL)")

QUERY = ("SELECT 1::integer AS n, 'x'::varchar(12) AS word, now() AS at,"
         " 2.5::numeric(6, 2) AS amount, NULL::json AS doc, ARRAY[1, 2] AS pair")


def _plain(description: Any) -> list[tuple[Any, ...]]:
    return [(*column, column.type_display) for column in description]


def _conninfo() -> str:
    return PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)


def test_the_description_is_psycopgs_own() -> None:
    with psycopg.connect(_conninfo()) as plain, \
            psycopg.connect(_conninfo(), cursor_factory=DescribedOnReadCursor) as lazy:
        expected = plain.execute(QUERY).description
        cursor = lazy.cursor()
        described = cursor.execute(QUERY).description
        assert isinstance(cursor, DescribedOnReadCursor)
        assert isinstance(described, ColumnsOnRead)
        assert len(described) == 6
        assert _plain(described) == _plain(expected)
        assert [c.name for c in described[1:3]] == ["word", "at"]
        assert described[-1].name == "pair"


def test_a_description_read_before_the_next_statement_keeps_its_result() -> None:
    with psycopg.connect(_conninfo(), cursor_factory=DescribedOnReadCursor) as conn:
        cursor = conn.cursor()
        first = cursor.execute("SELECT 1 AS one, 2 AS two").description
        cursor.execute("SELECT 'a' AS letter")
        cursor.close()
        assert first is not None
        assert [c.name for c in first] == ["one", "two"]


def test_results_without_columns_are_described_as_psycopg_does() -> None:
    with psycopg.connect(_conninfo(), cursor_factory=DescribedOnReadCursor) as conn:
        cursor = conn.cursor()
        assert cursor.description is None  # nothing run yet
        cursor.execute("CREATE TEMPORARY TABLE t (n integer)")
        assert cursor.description is None
        assert cursor.execute("SELECT").description == []


def test_the_engine_uses_it_and_sqlalchemy_reads_rows_by_name() -> None:
    engine = make_engine(PG_URL)
    try:
        with engine.connect() as conn:
            for _ in range(3):  # the compiled statement's cached metadata from the second on
                row = conn.execute(text("SELECT 7 AS seven, 'z' AS zed")).one()
                assert (row.seven, row.zed) == (7, "z")
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            assert isinstance(cursor, DescribedOnReadCursor)
            cursor.close()
    finally:
        engine.dispose()
