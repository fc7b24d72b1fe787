"""UTC columns take aware datetimes and give them back aware, on both databases, though
PostgreSQL's values skip the type's result processing (idp.db.UTCDateTime, issue 11)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Engine, Integer, MetaData, Table, exc, insert, select

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
