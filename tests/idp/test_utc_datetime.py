"""UTC columns take aware datetimes and give them back aware, on both databases, though
PostgreSQL's values skip the type's result processing (idp.db.UTCDateTime, issue 11)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Column, Engine, Integer, MetaData, Table, exc, insert, select, text

from idp.db import UTCDateTime, make_engine
from tests.conftest import PG_URL

URLS = ["sqlite://"] + ([PG_URL] if PG_URL else [])
METADATA = MetaData()
STAMPS = Table("utc_datetime_probe", METADATA, Column("id", Integer, primary_key=True),
               Column("at", UTCDateTime()), prefixes=["TEMPORARY"])


@pytest.fixture(params=URLS, ids=lambda url: url.split(":")[0])
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    made = make_engine(request.param, pool_size=1, max_overflow=0)
    try:
        yield made
    finally:
        made.dispose()


def test_values_come_back_aware_and_the_same_instant(engine: Engine) -> None:
    utc = datetime(2026, 3, 1, 12, 30, 15, 250, tzinfo=UTC)
    with engine.connect() as conn:
        METADATA.create_all(conn)
        conn.execute(insert(STAMPS), [{"id": 1, "at": utc}, {"id": 2, "at": None}])
        read = {row.id: row.at for row in conn.execute(select(STAMPS.c.id, STAMPS.c.at))}
        conn.rollback()
    assert read == {1: utc, 2: None}
    assert read[1] is not None and read[1].utcoffset() == timedelta(0)


def test_a_naive_datetime_is_refused(engine: Engine) -> None:
    with engine.connect() as conn:
        METADATA.create_all(conn)
        with pytest.raises(exc.StatementError, match="naive datetime"):
            conn.execute(insert(STAMPS), {"id": 1, "at": datetime(2026, 3, 1)})  # noqa: DTZ001
        conn.rollback()


def test_postgresql_reads_them_without_a_processor() -> None:
    if not PG_URL:
        pytest.skip("needs IDP_TEST_DATABASE_URL (PostgreSQL)")
    engine = make_engine(PG_URL)
    try:
        assert STAMPS.c.at.type.dialect_impl(engine.dialect).result_processor(
            engine.dialect, None) is None
    finally:
        engine.dispose()


def test_postgresql_sessions_are_in_utc_whatever_the_databases_zone() -> None:
    """A database whose default ``TimeZone`` is not UTC (a server set up in local time):
    a plain connection reads ``timestamptz`` in that zone, Clef's engine still in UTC,
    so a value read back is the same text as the value written (idp.db.make_engine)."""
    if not PG_URL:
        pytest.skip("needs IDP_TEST_DATABASE_URL (PostgreSQL)")
    conninfo = PG_URL.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        name = admin.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        admin.execute(sql.SQL("ALTER DATABASE {} SET TimeZone TO 'America/Toronto'").format(
            sql.Identifier(name)))
        try:
            with psycopg.connect(conninfo) as plain:
                local = plain.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
            assert local.utcoffset() != timedelta(0), "the database's zone did not apply"
            engine = make_engine(PG_URL, pool_size=1, max_overflow=0)
            try:
                with engine.connect() as conn:
                    assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
                    METADATA.create_all(conn)
                    utc = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
                    conn.execute(insert(STAMPS), {"id": 1, "at": utc})
                    read = conn.execute(select(STAMPS.c.at)).scalar_one()
                    conn.rollback()
            finally:
                engine.dispose()
            assert read.isoformat() == utc.isoformat()
        finally:
            admin.execute(sql.SQL("ALTER DATABASE {} RESET TimeZone").format(sql.Identifier(name)))


def test_options_given_in_the_url_are_kept() -> None:
    if not PG_URL:
        pytest.skip("needs IDP_TEST_DATABASE_URL (PostgreSQL)")
    joiner = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{joiner}options=-c%20application_name%3Dclef-probe",
                         pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW TimeZone")).scalar() == "UTC"
            assert conn.execute(text("SHOW application_name")).scalar() == "clef-probe"
    finally:
        engine.dispose()
