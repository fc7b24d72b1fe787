"""Per-request counts for the benchmark, shared by both servers' hooks
(``counting_wsgi.py`` under granian, ``gunicorn_conf.py`` under gunicorn).

Per ``METHOD path``: requests, worker CPU seconds, SQL statements, commits, argon2
verifications and statuses, written as JSON to ``$CLEF_BENCH_COUNTS/counts-<pid>.json``
when the worker exits (and a cProfile with ``CLEF_BENCH_PROFILE``). The hooks patch
classes (SQLAlchemy's Engine events, argon2's verify), never Clef's code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

stats: dict[str, dict[str, Any]] = {}
current: dict[str, Any] = {"key": "-"}


def bump(field: str) -> None:
    row = stats.setdefault(current["key"], {})
    row[field] = row.get(field, 0) + 1


def install(profile_clock: Callable[[], float]) -> Any:
    """Count statements, commits and argon2 runs; returns a cProfile (timed by
    ``profile_clock``: CPU, not waits) when ``CLEF_BENCH_PROFILE`` is set, else None."""
    import argon2
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", lambda *a, **k: bump("sql"))
    event.listen(Engine, "commit", lambda *a, **k: bump("commits"))
    verify = argon2.PasswordHasher.verify

    def counted_verify(self: Any, hash: Any, password: Any) -> Any:
        bump("argon2")
        return verify(self, hash, password)

    argon2.PasswordHasher.verify = counted_verify  # type: ignore[method-assign]
    if os.environ.get("CLEF_BENCH_PROFILE"):
        import cProfile

        current["profile"] = cProfile.Profile(profile_clock)
    return current.get("profile")


def finish(cpu_s: float, status: str) -> None:
    """The request under ``current["key"]`` is done: its CPU and status."""
    row = stats.setdefault(current["key"], {})
    row["requests"] = row.get("requests", 0) + 1
    row["cpu_s"] = row.get("cpu_s", 0.0) + cpu_s
    statuses = row.setdefault("status", {})
    statuses[status] = statuses.get(status, 0) + 1
    current["key"] = "-"


def dump() -> None:
    folder = os.environ.get("CLEF_BENCH_COUNTS")
    if not folder:
        return
    if "profile" in current:
        current["profile"].disable()
        current["profile"].dump_stats(os.path.join(folder, f"profile-{os.getpid()}.pstats"))
    with open(os.path.join(folder, f"counts-{os.getpid()}.json"), "w") as out:
        json.dump(stats, out)
