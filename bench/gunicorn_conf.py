"""gunicorn settings for the benchmark, with per-request accounting in the worker.

Counts, per ``METHOD path``: requests, worker CPU (``time.process_time`` around the
request, so the driver's speed does not enter), SQL statements, BEGIN, COMMIT and ROLLBACK round trips, argon2
verifications (``request_counts.py``, shared with granian's ``counting_wsgi.py``).
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

# gunicorn reads this file by path: its folder holds the shared counters.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import request_counts

bind = os.environ.get("CLEF_BENCH_BIND", "127.0.0.1:8800")
workers = int(os.environ.get("CLEF_BENCH_WORKERS", "1"))
worker_class = os.environ.get("CLEF_BENCH_WORKER_CLASS", "sync")
threads = int(os.environ.get("CLEF_BENCH_THREADS", "1"))
backlog = 256
keepalive = 5
accesslog = None
loglevel = "warning"
timeout = 60


def post_fork(server: Any, worker: Any) -> None:
    profile = request_counts.install(time.process_time)
    if profile is not None:
        profile.enable()


def pre_request(worker: Any, req: Any) -> None:
    request_counts.current["key"] = f"{req.method} {req.path}"
    request_counts.current["cpu"] = time.process_time()


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    request_counts.finish(time.process_time() - request_counts.current["cpu"],
                          str(getattr(resp, "status_code", "?")))


def worker_exit(server: Any, worker: Any) -> None:
    request_counts.dump()
