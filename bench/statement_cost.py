"""What running one hot statement costs the worker on PostgreSQL (issue 11), three ways:
SQLAlchemy Core as Clef runs it, SQLAlchemy's ``exec_driver_sql`` with the same SQL,
and the driver's own cursor alone.

    .venv/bin/python bench/statement_cost.py POSTGRESQL_URL [N]

The statement is UserInfo's bearer read (``idp.oidc.tokens._FIND_BEARER``: the token,
its client, its account and its sign-in session), of a token that does not exist, so the
database's work is one index probe and the figures are the client's own: the pool's
checkout and return, and the statement's round trip. Each way runs N times (default
3000) after 200 to warm up, three rounds in turn; the best of each is printed as
``time.process_time`` per statement (user and system CPU of this process). The
database's schema must be Clef's (``clef db upgrade``); nothing is written.

It measures what the driver's cursor would save UserInfo and the refresh, the two
statements answered in front of Flask on PostgreSQL: the difference between the first
and the last line. bench/RESULTS.md says why they stay on SQLAlchemy.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp.db import make_engine  # noqa: E402
from idp.oidc.liveness import NOW, SEEN_AFTER  # noqa: E402
from idp.oidc.tokens import _FIND_BEARER, token_hash  # noqa: E402


def ways(url: str) -> dict[str, Callable[[], Any]]:
    engine = make_engine(url)
    now = datetime.now(UTC)
    params = {"hash": token_hash("no such token"), NOW: now, SEEN_AFTER: now - timedelta(minutes=30)}
    compiled = _FIND_BEARER.compile(dialect=engine.dialect)
    sql, full = str(compiled), compiled.construct_params(params)

    def core() -> Any:
        with engine.connect() as conn:
            return conn.execute(_FIND_BEARER, params).first()

    def driver_sql() -> Any:
        with engine.connect() as conn:
            return conn.exec_driver_sql(sql, full).first()

    def cursor() -> Any:
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            driver.autocommit = True  # type: ignore[union-attr]  # as idp.db runs a read alone
            with driver.cursor() as cur:  # type: ignore[union-attr]
                cur.execute(sql, full, prepare=True)
                return cur.fetchone()
        finally:
            raw.close()

    return {"SQLAlchemy Core (as Clef runs it)": core,
            "exec_driver_sql, the same SQL": driver_sql,
            "the driver's cursor alone": cursor}


def main() -> None:
    url = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    best: dict[str, float] = {}
    for _ in range(3):
        for name, run in ways(url).items():
            for _ in range(200):
                run()
            started = time.process_time()
            for _ in range(n):
                run()
            took = (time.process_time() - started) / n
            best[name] = min(best.get(name, took), took)
    print(f"UserInfo's bearer read on PostgreSQL, {n} x 3 rounds, best round, CPU ms per statement")
    for name, took in best.items():
        print(f"{name:36} {took * 1e3:7.3f}")


if __name__ == "__main__":
    main()
