# ruff: noqa: S603, S607  (a harness: it runs the project's own tools and taskset)
"""Server CPU per request kind (issue 11), over HTTP, beside the bare-Flask floor.

    CLEF_BENCH_SERVER=granian .venv/bin/python bench/request_kinds.py [PATH ...]

Clef on the embedded SQLite database, one worker pinned to CPU 0 (``run.server_command``:
gunicorn sync, or granian), driven from CPU 1 by the shared driver's client on each path
in turn (default: discovery, the JWKS, a 404 and the home page, no cookie) for
``DURATION`` seconds; the server's CPU per request is read from /proc as in ``run.py``.
Then the same for ``floor_app.py`` (a bare Flask route).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from run import (
    BENCH,
    DRIVER_CPU,
    ROOT,
    SERVER_CPU,
    clef,
    copy_driver,
    free_port,
    server_command,
    stop_server,
    write_config,
)

DURATION = float(os.environ.get("DURATION", "5"))
THREADS = 4
PATHS = ["/.well-known/openid-configuration", "/jwks", "/no-such-page", "/"]


def drive(oidc_bench: Any, pid: int, url: str) -> tuple[float, float]:
    """(requests per second, server CPU ms per request) for ``url``."""
    done = [0]
    lock = threading.Lock()
    deadline = time.time() + DURATION

    def loop() -> None:
        http = oidc_bench.LeanHTTP()
        n = 0
        while time.time() < deadline:
            http.get(url)
            n += 1
        with lock:
            done[0] += n

    before = oidc_bench.server_cpu_seconds(pid) or 0.0
    start = time.time()
    workers = [threading.Thread(target=loop) for _ in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    cpu = (oidc_bench.server_cpu_seconds(pid) or 0.0) - before
    return done[0] / (time.time() - start), cpu / done[0] * 1e3


def serve(app: str, env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(["taskset", "-c", SERVER_CPU, *server_command(app, port)], env=env, cwd=cwd)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/.well-known/openid-configuration", timeout=1)
            return server
        except OSError:
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"{app} did not answer")


def main() -> None:
    sys.path.insert(0, str(copy_driver()))
    import oidc_bench

    os.sched_setaffinity(0, {int(DRIVER_CPU)})
    paths = sys.argv[1:] or PATHS
    name = os.environ.get("CLEF_BENCH_SERVER") or "gunicorn"
    with tempfile.TemporaryDirectory(prefix="clef-kinds-") as tmp:
        folder = Path(tmp)
        port = free_port()
        cfg = write_config(folder, "sqlite", port)
        env = dict(os.environ, IDP_CONFIG=str(cfg), PYTHONPATH=str(ROOT),
                   CLEF_BENCH_BIND=f"127.0.0.1:{port}", CLEF_BENCH_COUNTS=str(folder))
        for key in [k for k in env if k.startswith("IDP_") and k != "IDP_CONFIG"]:
            del env[key]
        clef(env, "db", "upgrade")
        server = serve("idp.wsgi:app", env, port, ROOT)
        try:
            for path in paths:
                url = f"http://127.0.0.1:{port}{path}"
                drive(oidc_bench, server.pid, url)  # warm
                rate, cpu = drive(oidc_bench, server.pid, url)
                print(f"clef {name} {path:36} {rate:8.0f} req/s  server CPU {cpu:.3f} ms/req")
        finally:
            stop_server(server)
        floor_env = dict(env, PYTHONPATH=str(BENCH))
        server = serve("floor_app:app", floor_env, port, BENCH)
        try:
            rate, cpu = drive(oidc_bench, server.pid, f"http://127.0.0.1:{port}/.well-known/openid-configuration")
            print(f"floor {name} {'(bare Flask route)':36} {rate:8.0f} req/s  server CPU {cpu:.3f} ms/req")
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
