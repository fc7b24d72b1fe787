"""Alembic migrations are the only way the schema is made: they must build exactly what
the models declare, and go down and up again, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import idp.oidc.models  # noqa: F401 - every table is on the one metadata
import mfa.models  # noqa: F401
import recovery.models  # noqa: F401
from idp.db import Base
from idp.migrate import downgrade, upgrade


def _differences(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"render_as_batch": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_migrations_build_what_the_models_declare(database_url):
    assert _differences(database_url) == []


def test_migrations_go_down_and_up_again(database_url):
    downgrade(database_url, "base")
    engine = create_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
    upgrade(database_url)
    assert _differences(database_url) == []
