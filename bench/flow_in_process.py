"""Where the flow's CPU goes besides argon2 (issue 11): each request of a sign-in flow,
measured inside the app, with the flows run one after another in-process.

    .venv/bin/python bench/flow_in_process.py [FLOWS]

``bench/request_cost.py`` measures each request kind in a loop of the same request,
where every cache of the CPU stays warm. A real flow runs eight different requests in
turn, and one of them sweeps 19 MiB of memory through argon2id. This runs whole flows
(the tests' screens: authorize, the sign-in page and its POST, the second step's page
and its POST, authorize again, the code exchange; a trusted portal, so no consent page)
on an embedded SQLite database, and reads each request's CPU (``time.thread_time``
around the app's WSGI call: the test client's own work is outside it). Twice: with a
cheap argon2id (1 MiB, one pass), then with the service's own. Pinned to one core, as
the bench's server is. Beside ``run.py``'s table of the same requests under granian,
it shows how much of their cost is the mix itself, and how much argon2 adds to the
others.

    .venv/bin/python bench/flow_in_process.py [FLOWS] --database POSTGRESQL_URL [--redis URL]

runs them on that PostgreSQL database instead (its schema is dropped and migrated
afresh), the limits' counters in Redis (default: in memory), and adds each request's
database CPU: the CPU time of the database's backends over the request, read from
``/proc/<pid>/schedstat`` (nanoseconds; the server must run on this host). The
database's backends are not pinned.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp.app import create_app  # noqa: E402
from idp.migrate import upgrade  # noqa: E402
from tests.helpers import create_account  # noqa: E402
from tests.oidc.conftest import full_flow  # noqa: E402
from tests.oidc.rp import RelyingParty, register_client  # noqa: E402

CHEAP = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}


class DatabaseCpu:
    """The CPU time used so far by a PostgreSQL database's backends on this host, in
    seconds, from ``/proc/<pid>/schedstat`` (nanoseconds: a request's share shows, where
    ``/proc/<pid>/stat``'s clock ticks are 10 ms). ``None``: no database to read."""

    def __init__(self, url: str | None) -> None:
        self.url = url.replace("+psycopg", "") if url else None
        self.pids: list[int] = []

    def find_backends(self) -> None:
        """The backends connected now (the app's pool, once warm, keeps them)."""
        if self.url is None:
            return
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            self.pids = [row[0] for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()")]

    def __call__(self) -> float:
        total = 0
        for pid in self.pids:
            try:
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
            except OSError:
                continue  # ended meanwhile
        return total / 1e9


class Timed:
    """The app's WSGI callable, with each request's thread CPU kept by ``METHOD path``
    (and the database's, when ``database`` reads one)."""

    def __init__(self, inner: Callable[..., Iterable[bytes]],
                 database: DatabaseCpu | None = None) -> None:
        self.inner = inner
        self.database = database or DatabaseCpu(None)
        self.cpu: dict[str, list[float]] = defaultdict(list)
        self.db_cpu: dict[str, list[float]] = defaultdict(list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started, db_started = time.thread_time(), self.database()
        try:
            return self.inner(environ, start_response)
        finally:
            key = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"
            self.cpu[key].append(time.thread_time() - started)
            self.db_cpu[key].append(self.database() - db_started)


def flow_app(folder: str, argon2: dict[str, int] | None, database: str | None = None,
             redis: str | None = None) -> tuple[Any, RelyingParty]:
    """An app on an embedded SQLite database in ``folder`` (or on ``database``, its
    schema made afresh, with the limits' counters in ``redis``), migrated, its
    per-address limits raised for thousands of flows from one address, and a trusted
    portal registered with it (no consent page), for the flows of the tests' screens
    (``full_flow``); ``argon2``: its parameters, else the service's own."""
    overrides: dict[str, Any] = {
        "service": {"instance_dir": folder, "secret_key": "flow-in-process-" + "x" * 40},
        "database": {"url": database or f"sqlite:///{folder}/clef.sqlite3"},
        "rate_limit": {k: "1000000/minute" for k in (
            "signin_per_ip", "second_factor_per_ip", "token_per_ip", "token_per_client")}}
    if redis:
        overrides["rate_limit"]["storage_url"] = redis
    if argon2:
        overrides["argon2"] = argon2
    if database:
        fresh_schema(database)
    app = create_app(overrides)
    upgrade(app.extensions["clef"].settings.database_url)
    client_id, secret = register_client(app, "--name", "Bench portal", "--redirect-uri",
                                        "https://portal.example/callback", "--trusted")
    return app, RelyingParty(app, client_id, secret or "")


def fresh_schema(url: str) -> None:
    """An empty schema (a database may hold another run's keys, sealed under another
    secret)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def flows(argon2: dict[str, int] | None, count: int, database: str | None = None,
          redis: str | None = None) -> Timed:
    with tempfile.TemporaryDirectory(prefix="clef-flow-") as folder:
        app, rp = flow_app(folder, argon2, database, redis)
        timed = Timed(app.wsgi_app, DatabaseCpu(database))
        app.wsgi_app = timed  # type: ignore[method-assign]
        for n in range(count + 5):
            if n == 5:  # the first flows warm the app up
                timed.cpu.clear()
                timed.db_cpu.clear()
                timed.database.find_backends()
            username = f"flow{secrets.token_hex(6)}"
            create_account(app, username)
            full_flow(rp, username=username)
        return timed


def _option(args: list[str], name: str) -> str | None:
    if name not in args:
        return None
    at = args.index(name)
    value = args[at + 1]
    del args[at:at + 2]
    return value


def main() -> None:
    args = sys.argv[1:]
    database, redis = _option(args, "--database"), _option(args, "--redis")
    count = int(args[0]) if args else 200
    os.sched_setaffinity(0, {0})
    cheap = flows(CHEAP, count, database, redis)
    real = flows(None, max(count // 4, 20), database, redis)
    print(f"{count} flows (cheap argon2id), {max(count // 4, 20)} flows (the service's own)"
          f" on {'PostgreSQL' if database else 'SQLite'}; median thread CPU ms per request"
          + ("; the database's CPU, mean ms per request (cheap flows)" if database else ""))
    print(f"{'request':24} {'calls':>5} {'cheap':>8} {'own':>8}" + (f" {'database':>9}" if database else ""))
    total = {"cheap": 0.0, "own": 0.0, "database": 0.0}
    for key in cheap.cpu:
        per_flow = len(cheap.cpu[key]) / count
        a = statistics.median(cheap.cpu[key]) * 1e3
        b = statistics.median(real.cpu.get(key, [0.0])) * 1e3
        d = statistics.fmean(cheap.db_cpu[key]) * 1e3
        total["cheap"] += a * per_flow
        total["own"] += b * per_flow
        total["database"] += d * per_flow
        print(f"{key:24} {per_flow:5.1f} {a:8.3f} {b:8.3f}" + (f" {d:9.3f}" if database else ""))
    print(f"{'per flow':24} {'':5} {total['cheap']:8.2f} {total['own']:8.2f}"
          + (f" {total['database']:9.2f}" if database else ""))


if __name__ == "__main__":
    main()
