"""Test set-up: every app-level test runs on SQLite, and again on PostgreSQL + Redis when
IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL are set (``.ci/run`` sets them).

Time is a :class:`FrozenClock` the test moves; argon2 uses cheap parameters (STYLE.md);
mail goes to the outbox under the test's own instance folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from idp.app import create_app
from idp.clock import FrozenClock
from idp.db import Base
from idp.migrate import upgrade
from tests.helpers import deep_merge

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_SECRET = "test-secret-" + "x" * 40
CHEAP_ARGON2 = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}


def pytest_report_header() -> list[str]:
    lines = [f"storage backends under test: {', '.join(BACKENDS)}"]
    if not PG_URL:
        lines.append("IDP_TEST_DATABASE_URL not set: PostgreSQL + Redis runs are skipped")
    return lines


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file; each test copies it (migrations run once, not per test)."""
    path = tmp_path_factory.mktemp("template") / "clef.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_ready() -> str:
    """The PostgreSQL test database, emptied and migrated once per run."""
    engine = create_engine(PG_URL)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(PG_URL)
    return PG_URL


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_ready")
        _empty_postgres(url)
        return url
    template = request.getfixturevalue("sqlite_template")
    target = tmp_path / "clef.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture
def limiter_url(backend: str) -> str:
    if backend == "postgresql" and REDIS_URL:
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        return REDIS_URL
    return "memory://"


@pytest.fixture
def make_app(
    database_url: str, limiter_url: str, tmp_path: Path, clock: FrozenClock
) -> Iterator[Callable[..., Flask]]:
    """Build an app with extra settings layered on the test defaults."""
    made: list[Flask] = []

    def build(**overrides: Any) -> Flask:
        base: dict[str, Any] = {
            "service": {"secret_key": TEST_SECRET, "instance_dir": str(tmp_path / "instance")},
            "database": {"url": database_url},
            "rate_limit": {"storage_url": limiter_url},
            "argon2": CHEAP_ARGON2,
        }
        app = create_app(deep_merge(base, overrides), clock=clock)
        app.config["TESTING"] = True
        made.append(app)
        return app

    yield build
    for app in made:
        app.extensions["clef"].engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
