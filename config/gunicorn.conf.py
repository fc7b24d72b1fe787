"""gunicorn settings: gunicorn is a supported alternative to `clef serve` (granian,
idp/serve.py, which `make run` and the deployment guide use):
``gunicorn -c config/gunicorn.conf.py --bind HOST:PORT idp.wsgi:app``.

Workers: Flask-Limiter's ``memory://`` storage (the embedded default) counts in each
process, so two workers would each allow the whole per-address limit (S27). With it, one
worker serves with threads; with a shared store (``rate_limit.storage_url`` on Redis)
there are several workers. ``--workers`` on the command line still wins, with a warning
when it splits a memory:// limit.

Ctrl-C in a terminal sends SIGINT to the master and to every worker. gunicorn's own
reaction is a quick shutdown that cuts requests in flight; here the workers ignore the
terminal's SIGINT and the master treats it as SIGTERM, so requests in flight finish
(up to ``graceful_timeout``) and the server stops cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from typing import Any

from idp.settings import load_settings

MEMORY_STORAGE = "memory://"


def per_process_limits(storage_url: str) -> bool:
    """True when the rate-limit counters live in each process (Flask-Limiter memory://)."""
    return storage_url.strip().lower().startswith(MEMORY_STORAGE)


def worker_layout(storage_url: str) -> tuple[int, int]:
    """(workers, threads): one process when the limits are per process, so every limit
    is the configured one (S27); several when they are shared."""
    return (1, 8) if per_process_limits(storage_url) else (2, 4)


STORAGE_URL = load_settings().rate_limit.storage_url
workers, threads = worker_layout(STORAGE_URL)
preload_app = True  # load Clef once, before the workers fork
graceful_timeout = 5
accesslog = "-"
# gunicorn's control socket sits at one path per user by default, so two servers (Clef
# and the sample portal under `make run`, or a second checkout) would take each other's.
# Nothing here uses it.
control_socket_disable = True

# Prometheus metrics (idp.metrics) from every worker: each writes its values to files in
# this folder and /metrics sums them. A fresh folder per server start unless the operator
# names one (then it must be emptied before each start, as prometheus-client requires).
# Set here, before the app (and prometheus-client) is loaded.
METRICS_DIR_MADE = ""
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    METRICS_DIR_MADE = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="clef-metrics-")


def on_starting(server: Any) -> None:
    if per_process_limits(STORAGE_URL) and server.cfg.workers > 1:
        server.log.warning(
            "%d workers with rate_limit.storage_url = memory://: each worker counts alone, "
            "so every per-address limit is multiplied by %d. Use one worker or a shared "
            "store (redis://).", server.cfg.workers, server.cfg.workers)


def when_ready(server: Any) -> None:
    server.handle_int = server.handle_term


def post_worker_init(worker: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def on_exit(server: Any) -> None:
    if METRICS_DIR_MADE:
        shutil.rmtree(METRICS_DIR_MADE, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges leave the sums (prometheus-client multi-process)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
