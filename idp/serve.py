"""``clef serve``: Clef under granian, the server it is run and deployed with (issue 11).

granian's server (Rust, keep-alive) costs a third of gunicorn's sync worker per request
(bench/RESULTS.md, "The WSGI server"); its options live here, in one place, as
config/gunicorn.conf.py holds gunicorn's (gunicorn stays a supported alternative).

Workers: Flask-Limiter's ``memory://`` storage (the embedded default) counts in each
process, so two workers would each allow the whole per-address limit (S27). With it,
one worker serves with threads; with a shared store (``rate_limit.storage_url`` on
Redis) there is one worker per core. ``--workers`` still wins, with a warning when it
splits a memory:// limit.

SIGTERM and SIGINT (Ctrl-C, which a terminal sends to the main process and the workers
alike) are a graceful stop: the workers finish the requests in flight, for up to
``GRACE_SECONDS``, then are killed.

Prometheus metrics (idp.metrics) from every worker: each writes its values to files in
``PROMETHEUS_MULTIPROC_DIR`` and /metrics sums them. A fresh folder per start, removed at
the end, unless the operator names one: then its files are deleted at start, as
prometheus-client requires. granian has no hook when a worker dies, so a dead worker's
files stay until the next start; Clef has counters and histograms only, which a dead
worker's files must go on counting, and no live gauge that would need removing.

No Flask here: the command runs in granian's main process, which never loads the app;
each worker imports ``idp.wsgi`` itself.

granian copies the process environment into every request's WSGI environ (CGI style),
``IDP_*`` variables and any secret in them included: nothing may render or log
``request.environ`` whole. The access log has the path, never the query string.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import click

MEMORY_STORAGE = "memory://"
TARGET = "idp.wsgi:app"
METRICS_DIR = "PROMETHEUS_MULTIPROC_DIR"
GRACE_SECONDS = 5
EMBEDDED_THREADS = 8  # as under gunicorn; fewer on small machines (worker_layout)
SCALE_OUT_THREADS = 4
DEFAULT_BIND = "127.0.0.1:5000"
# The files prometheus-client's multi-process mode writes: <type>_<pid>.db.
VALUE_FILE = re.compile(r"(counter|histogram|summary|gauge_[a-z]+)_\d+\.db")


def per_process_limits(storage_url: str) -> bool:
    """True when the rate-limit counters live in each process (Flask-Limiter memory://)."""
    return storage_url.strip().lower().startswith(MEMORY_STORAGE)


def worker_layout(storage_url: str, cores: int | None) -> tuple[int, int]:
    """(workers, threads per worker): one process when the limits are per process, so
    every limit is the configured one (S27); one per core when they are shared."""
    if per_process_limits(storage_url):
        # Past 2 x cores + 1 Python threads granian warns: they only queue on the GIL.
        return 1, min(EMBEDDED_THREADS, 2 * (cores or 1) + 1)
    return max(1, cores or 1), SCALE_OUT_THREADS


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as granian takes it: address and port."""
    host, sep, port = bind.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{bind!r} is not HOST:PORT", param_hint="--bind")
    host = host.removeprefix("[").removesuffix("]")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def granian_log_config(log_format: str) -> dict[str, Any] | None:
    """With ``[logging] format = "json"``, granian's own lines (start, stop, access log)
    are JSON objects on stderr too, through idp.log_format's formatter, so a collector
    reads one format; None keeps granian's text lines."""
    if log_format != "json":
        return None
    as_json = {"()": "idp.log_format.JsonFormatter"}
    return {"formatters": {"generic": as_json, "access": as_json},
            "handlers": {name: {"formatter": name if name == "access" else "generic",
                                "class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
                         for name in ("console", "access")}}


def prepare_metrics_dir(environ: MutableMapping[str, str]) -> Path | None:
    """The folder the workers write their metrics to, emptied; set in ``environ`` (which
    the workers inherit) before any of them starts. Returns the folder made here, to be
    removed at the end, or None when the operator named it."""
    named = environ.get(METRICS_DIR)
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # an earlier run's values: not this server's
            if VALUE_FILE.fullmatch(stale.name):  # prometheus-client's files, nothing else
                stale.unlink()
        return None
    made = Path(tempfile.mkdtemp(prefix="clef-metrics-"))
    environ[METRICS_DIR] = str(made)
    return made


@click.command("serve")
@click.option("--bind", default=DEFAULT_BIND, show_default=True, envvar="CLEF_BIND",
              help="HOST:PORT to listen on (or the CLEF_BIND environment variable).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Worker processes. Default: 1 with memory:// rate limits, else one per core.")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help=f"Threads per worker. Default: up to {EMBEDDED_THREADS} with one worker, "
                   f"else {SCALE_OUT_THREADS}.")
@click.option("--app", "target", default=TARGET, show_default=True, hidden=True,
              help="The WSGI application (module:name).")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="One line per request (method, path without its query string, status).")
def serve_command(bind: str, workers: int | None, threads: int | None, target: str,
                  access_log: bool) -> None:
    """Serve Clef with granian (stop with Ctrl-C or SIGTERM: requests in flight finish)."""
    from granian import Granian
    from granian.constants import Interfaces

    from idp.settings import ConfigError, load_settings

    address, port = parse_bind(bind)
    try:
        settings = load_settings()
    except ConfigError as error:  # before any worker starts, in one line (no secret in it)
        raise click.ClickException(str(error)) from None
    storage_url = settings.rate_limit.storage_url
    default_workers, default_threads = worker_layout(storage_url, os.cpu_count())
    workers = workers or default_workers
    threads = threads or (default_threads if workers == default_workers else SCALE_OUT_THREADS)
    made = prepare_metrics_dir(os.environ)
    server = Granian(target, address=address, port=port, interface=Interfaces.WSGI,
                     workers=workers, blocking_threads=threads, log_access=access_log,
                     workers_kill_timeout=GRACE_SECONDS, respawn_failed_workers=True,
                     log_dictconfig=granian_log_config(settings.logging.format))
    if per_process_limits(storage_url) and workers > 1:
        click.echo(f"warning: {workers} workers with rate_limit.storage_url = memory://: each "
                   f"worker counts alone, so every per-address limit is multiplied by {workers}. "
                   "Use one worker or a shared store (redis://).", err=True)
    try:
        server.serve()  # returns after a graceful stop; raises if it cannot listen
    finally:
        if made is not None:  # the workers leave by os._exit: only the main process is here
            shutil.rmtree(made, ignore_errors=True)
