"""CPU of the common refresh on PostgreSQL + Redis (issue 11): the worker's and the
database's, in-process.

    .venv/bin/python bench/refresh_cost.py POSTGRESQL_URL REDIS_URL [N] [ROUNDS]

    e.g. postgresql+psycopg://postgres@127.0.0.1:5432/clef_bench redis://127.0.0.1:6379/15

The database is migrated and a portal, an account (named afresh each run) and one real
sign-in through the screens (tests/oidc's helpers) are added to it; the Redis database
holds the limit's counters. Then ROUNDS rounds (default 5) of N refreshes (default
2000), each sending the refresh token the previous one returned (``request_cost.Refresh``,
in front of Flask as a server would answer it). Per round: the worker's CPU is
``time.process_time`` over the N requests; PostgreSQL's is the user and system time of
every backend of the database, read from ``/proc/<pid>/stat`` (the server must run on
this host) before and after, in clock ticks (so N should be in the thousands). The
limit is raised high enough for the loop; everything else is as configured. Rounds vary
on a shared host: compare medians of several runs, alternating the versions compared.
"""

from __future__ import annotations

import base64
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from request_cost import Refresh, _environ, _start_response  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
# The tests' key (the signing keys are sealed with it): the bench may share their database.
SECRET_KEY = "test-secret-" + "x" * 40


def backends_cpu(dsn: str) -> float:
    """Seconds of CPU (user + system) used so far by the database's backends."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()")]
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / TICK


def refresher(database_url: str, redis_url: str, folder: str) -> Refresh:
    from idp.app import create_app
    from idp.migrate import upgrade
    from tests.helpers import create_account
    from tests.oidc.conftest import full_flow
    from tests.oidc.rp import RelyingParty, register_client

    many = "1000000/minute"
    app = create_app({"service": {"instance_dir": folder, "secret_key": SECRET_KEY},
                      "database": {"url": database_url},
                      "rate_limit": {"storage_url": redis_url, "token_per_ip": many,
                                     "token_per_client": many, "signin_per_ip": many,
                                     "second_factor_per_ip": many},
                      "argon2": {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}})
    upgrade(app.extensions["clef"].settings.database_url)
    with app.app_context():
        from idp.oidc.runtime import oidc
        from idp.runtime import db, services

        oidc().signing_keys.ensure(db(), services().clock.now())
        db().commit()
    client_id, secret = register_client(app, "--name", "Bench portal", "--redirect-uri",
                                        "https://portal.example/callback", "--trusted")
    username = f"bench{secrets.token_hex(4)}"
    create_account(app, username)
    tokens = full_flow(RelyingParty(app, client_id, secret or ""), username=username).tokens
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")
    return Refresh(app, basic, tokens["refresh_token"])


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    database_url, redis_url = args[0], args[1]
    n = int(args[2]) if len(args) > 2 else 2000
    rounds = int(args[3]) if len(args) > 3 else 5
    dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with tempfile.TemporaryDirectory(prefix="clef-refresh-") as folder:
        refresh = refresher(database_url, redis_url, folder)
        environ = _environ("/token")
        for _ in range(200):  # warm: statements prepared, pools filled
            b"".join(refresh(environ, _start_response))
        worker, database = [], []
        for _ in range(rounds):
            pg_before = backends_cpu(dsn)
            started = time.process_time()
            for _ in range(n):
                b"".join(refresh(environ, _start_response))
            worker.append((time.process_time() - started) / n * 1e3)
            database.append((backends_cpu(dsn) - pg_before) / n * 1e3)
        show: dict[str, Any] = {"worker": worker, "PostgreSQL": database,
                                "total": [w + d for w, d in zip(worker, database, strict=True)]}
        print(f"{n} refreshes x {rounds} rounds, ms of CPU per refresh (median; rounds)")
        for name, values in show.items():
            print(f"{name:11} {statistics.median(values):6.3f}  "
                  + " ".join(f"{v:.3f}" for v in values))


if __name__ == "__main__":
    main()
