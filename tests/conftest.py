"""Test set-up: every app-level test runs on SQLite, and again on PostgreSQL + Redis when
IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL are set (``.ci/run`` sets them).

Time is a :class:`FrozenClock` the test moves; argon2 uses cheap parameters (STYLE.md);
mail goes to the outbox under the test's own instance folder.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import Engine, create_engine, event, insert, text
from sqlalchemy.orm import Session

from idp.app import create_app
from idp.clock import FrozenClock
from idp.db import Base
from idp.keys import KeyRing
from idp.migrate import upgrade
from idp.oidc.keys import SigningKeys
from idp.oidc.models import SigningKey
from idp.oidc.runtime import EXTENSION_KEY as OIDC_EXTENSION_KEY
from idp.secret_box import SecretBox
from tests.support.app import deep_merge
from tests.support.limit_windows import clear_of_minute_edge, counts_to_a_minute_limit
from tests.support.rule_builders import share_rule_builders

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
TEST_SECRET = "test-secret-" + "x" * 40
CHEAP_ARGON2 = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}


@event.listens_for(Engine, "connect")
def _sqlite_commits_without_fsync(dbapi_connection: Any, _record: Any) -> None:
    """A test database need not survive a power cut: SQLite commits without waiting for
    the disk (an fsync costs about 3 ms here, against 0.02 ms without, and a run makes
    thousands of commits). Locking, WAL and foreign keys stay the service's (``idp.db``)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA synchronous=OFF")
        cursor.close()


def pytest_report_header() -> list[str]:
    lines = [f"storage backends under test: {', '.join(BACKENDS)}"]
    if not PG_URL:
        lines.append("IDP_TEST_DATABASE_URL not set: PostgreSQL + Redis runs are skipped")
    return lines


# Fixtures that start a process: a test using one is marked ``process`` (make check leaves
# those to make test; the rest of the fast loop runs in-process).
PROCESS_FIXTURES = {"serve", "own_postgres"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.process)


@pytest.fixture(scope="session")
def signing_keys() -> list[dict[str, Any]]:
    """The provider's RS256 and ES256 signing keys, made once per run and sealed as an app
    with :data:`TEST_SECRET` seals them (making an RSA key costs more than most tests).
    Every test database starts with them, active from the :class:`FrozenClock` start, as
    if a first token had been signed; rotation tests still make fresh ones."""
    keys = SigningKeys(SecretBox([], KeyRing(TEST_SECRET)), timedelta(0), timedelta(0))
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[SigningKey.__table__])
    with Session(engine) as db:
        made = keys.ensure(db, FrozenClock().now())
        rows = [{c.key: getattr(row, c.key) for c in SigningKey.__table__.columns} for row in made]
    engine.dispose()
    return rows


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory,
                    signing_keys: list[dict[str, Any]]) -> Path:
    """One migrated and seeded SQLite file; each test copies it (migrations run once)."""
    path = tmp_path_factory.mktemp("template") / "clef.sqlite3"
    upgrade(f"sqlite:///{path}")
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.execute(insert(SigningKey), signing_keys)
    engine.dispose()  # the last connection folds the WAL into the file before it is copied
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


def _empty_postgres(url: str, signing_keys: list[dict[str, Any]]) -> None:
    """Every table emptied, then the seeded signing keys put back.

    Between tests no transaction may be open; one left open by an earlier test (a thread
    of a race test that died holding its connection) would make TRUNCATE wait for ever,
    so such connections are ended first, and the wait is bounded in any case."""
    engine = create_engine(url)
    tables = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
    with engine.begin() as connection:
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state LIKE 'idle in transaction%'"))
        connection.execute(text("SET LOCAL lock_timeout = '30s'"))
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        connection.execute(insert(SigningKey), signing_keys)
    engine.dispose()


class SharedTemplateCode(BytecodeCache):
    """Every test builds its own app, and each app's Jinja would parse and compile every
    page again; they share the compiled templates instead (Jinja checks each entry
    against its template's source, so an edited template is compiled afresh)."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = SharedTemplateCode()
share_rule_builders()
# Signing keys opened (decrypted and parsed) by any app of this run, by kid. Parsing an RSA
# key checks it, which costs tens of milliseconds; the seeded keys are the same in every
# test, so each process parses them once. A kid names one key (random part included).
OPENED_SIGNING_KEYS: dict[str, Any] = {}


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
        _empty_postgres(url, request.getfixturevalue("signing_keys"))
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
        if counts_to_a_minute_limit(overrides.get("rate_limit", {})):
            clear_of_minute_edge()
        app = create_app(deep_merge(base, overrides), clock=clock)
        app.config["TESTING"] = True
        app.jinja_env.bytecode_cache = TEMPLATE_CODE
        app.extensions[OIDC_EXTENSION_KEY].signing_keys._opened = OPENED_SIGNING_KEYS
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
