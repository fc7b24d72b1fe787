"""gunicorn settings for the benchmark, with per-request accounting in the worker.

Counts, per ``METHOD path``: requests, worker CPU (``time.process_time`` around the
request, so the driver's speed does not enter), SQL statements, commits and argon2
verifications. Written as JSON to ``$CLEF_BENCH_COUNTS`` when the worker exits. The
hooks patch classes (SQLAlchemy's Engine events, argon2's verify), never Clef's code.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

bind = os.environ.get("CLEF_BENCH_BIND", "127.0.0.1:8800")
workers = int(os.environ.get("CLEF_BENCH_WORKERS", "1"))
worker_class = os.environ.get("CLEF_BENCH_WORKER_CLASS", "sync")
threads = int(os.environ.get("CLEF_BENCH_THREADS", "1"))
backlog = 256
keepalive = 5
accesslog = None
loglevel = "warning"
timeout = 60

_stats: dict[str, dict[str, float]] = {}
_current: dict[str, Any] = {"key": "-", "cpu": 0.0}


def _bump(field: str) -> None:
    row = _stats.setdefault(_current["key"], {})
    row[field] = row.get(field, 0) + 1


def post_fork(server: Any, worker: Any) -> None:
    import argon2
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", lambda *a, **k: _bump("sql"))
    event.listen(Engine, "commit", lambda *a, **k: _bump("commits"))
    verify = argon2.PasswordHasher.verify

    def counted_verify(self: Any, hash: Any, password: Any) -> Any:
        _bump("argon2")
        return verify(self, hash, password)

    argon2.PasswordHasher.verify = counted_verify  # type: ignore[method-assign]
    if os.environ.get("CLEF_BENCH_PROFILE"):
        import cProfile

        _current["profile"] = cProfile.Profile(time.process_time)  # CPU, not waits
        _current["profile"].enable()


def pre_request(worker: Any, req: Any) -> None:
    _current["key"] = f"{req.method} {req.path}"
    _current["cpu"] = time.process_time()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    row = _stats.setdefault(_current["key"], {})
    row["requests"] = row.get("requests", 0) + 1
    row["cpu_s"] = row.get("cpu_s", 0.0) + time.process_time() - _current["cpu"]
    row.setdefault("status", {})
    status = str(getattr(resp, "status_code", "?"))
    row["status"][status] = row["status"].get(status, 0) + 1  # type: ignore[index]
    _current["key"] = "-"


def worker_exit(server: Any, worker: Any) -> None:
    folder = os.environ.get("CLEF_BENCH_COUNTS")
    if folder and "profile" in _current:
        _current["profile"].disable()
        _current["profile"].dump_stats(os.path.join(folder, f"profile-{os.getpid()}.pstats"))
    if folder:
        with open(os.path.join(folder, f"counts-{os.getpid()}.json"), "w") as out:
            json.dump(_stats, out)
