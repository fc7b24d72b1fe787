"""Runs the shared load driver (``oidc_bench.py``, copied beside this file) against Clef.

Two things the driver does not do, added by wrapping it rather than editing it:

- every flow signs in a fresh account: the next index from a counter shared through a
  locked file, across the driver's processes, threads, warm-up and runs (Clef refuses a
  TOTP step twice, S11);
- on PostgreSQL, the database's CPU per operation: the CPU time of the ``clef_bench``
  backends (from /proc, via ``pg_stat_activity``) over each timed run, stored beside
  the server's CPU in the JSON as ``db_cpu_s`` and ``db_cpu_ms_per_iter``.

- a fixed-rate mode (``CLEF_BENCH_RATE`` flows per second over all the driver's threads,
  ``CLEF_BENCH_SLOTS`` of them): each thread starts its flows on a fixed schedule, and
  the latency of a flow is counted from its scheduled start, so a server that falls
  behind is charged for the wait (no coordinated omission); with
  ``CLEF_BENCH_LATENCY_DIR`` set, each process appends ``flow`` and ``password`` (the
  ``POST /signin`` step, timed by ``clef_adapter``) latencies there, measured runs only.

Environment: ``CLEF_BENCH_PREFIX`` (usernames), ``CLEF_BENCH_COUNTER`` (the counter
file), ``CLEF_BENCH_TOTP`` (the pool's secret), ``CLEF_BENCH_DB`` (a libpq URL, or empty
for SQLite). Other arguments go to the driver.
"""

from __future__ import annotations

import fcntl
import os
import random
import sys
import threading
import time
from dataclasses import replace
from typing import Any

sys.path.insert(0, os.environ["CLEF_BENCH_DRIVER_DIR"])
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import latency_log
import oidc_bench

PREFIX = os.environ["CLEF_BENCH_PREFIX"]
COUNTER = os.environ["CLEF_BENCH_COUNTER"]
TOTP = os.environ["CLEF_BENCH_TOTP"]
DB = os.environ.get("CLEF_BENCH_DB", "")
TCK = os.sysconf("SC_CLK_TCK")


def next_user() -> str:
    with open(COUNTER, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        n = int(f.read() or 0)
        f.seek(0)
        f.truncate()
        f.write(str(n + 1))
    return f"{PREFIX}{n}"


RATE = float(os.environ.get("CLEF_BENCH_RATE") or 0)
SLOTS = int(os.environ.get("CLEF_BENCH_SLOTS") or 8)
_schedule = threading.local()


_run_flow = oidc_bench.run_flow


def run_flow(http: Any, cfg: Any, adapter: Any) -> dict[str, Any]:
    cfg = replace(cfg, username=next_user(), totp_secret=TOTP)
    if not RATE:
        return _run_flow(http, cfg, adapter)
    interval = SLOTS / RATE
    now = time.monotonic()
    start = getattr(_schedule, "next", None)
    if start is None:  # threads start spread over one interval, not all at once
        start = now + random.uniform(0, interval)  # noqa: S311 (a schedule, not a secret)
    if start > now:
        time.sleep(start - now)
    _schedule.next = start + interval
    try:
        return _run_flow(http, cfg, adapter)
    finally:
        latency_log.record("flow", time.monotonic() - start)


def db_cpu() -> dict[int, float]:
    """CPU seconds of each backend connected to the benchmark's database."""
    import psycopg

    with psycopg.connect(DB) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid()")]
    out = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[pid] = (int(fields[11]) + int(fields[12])) / TCK
        except (OSError, ValueError, IndexError):
            pass
    return out


_snapshots: list[dict[int, float]] = []
_server_cpu = oidc_bench.server_cpu_seconds
_one_run = oidc_bench.one_run


def server_cpu_seconds(pid: int | None) -> float | None:
    if pid and DB:
        _snapshots.append(db_cpu())  # called exactly at the start and end of a timed run
    return _server_cpu(pid)


def one_run(scenario: str, cfg: Any, *args: Any) -> dict[str, Any]:
    _snapshots.clear()
    latency_log.measuring[0] = args[-1] is not None  # the warm-up passes no server pid
    result: dict[str, Any] = _one_run(scenario, cfg, *args)
    if len(_snapshots) >= 2:
        first, last = _snapshots[0], _snapshots[-1]
        used = sum(v - first.get(pid, 0.0) for pid, v in last.items())
        result["db_cpu_s"] = used
        result["db_cpu_ms_per_iter"] = used / result["ok"] * 1e3 if result["ok"] else None
    return result


oidc_bench.run_flow = run_flow
oidc_bench.server_cpu_seconds = server_cpu_seconds
oidc_bench.one_run = one_run

if __name__ == "__main__":
    sys.argv[0] = "oidc_bench.py"
    oidc_bench.main()
