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
import time
import urllib.request
from pathlib import Path

from floor import drive
from run import (
    BENCH,
    DRIVER_CPU,
    ROOT,
    SERVER_CPU,
    clef,
    copy_driver,
    free_port,
    server_command,
    server_name,
    stop_server,
    write_config,
)

PATHS = ["/.well-known/openid-configuration", "/jwks", "/no-such-page", "/"]


def serve(app: str, env: dict[str, str], port: int, cwd: Path) -> subprocess.Popen[bytes]:
    command, extra = server_command(app, port)
    server = subprocess.Popen(["taskset", "-c", SERVER_CPU, *command], env={**env, **extra}, cwd=cwd)
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
    name = server_name()
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
                drive(oidc_bench, server.pid, url, expect_ok=False)  # warm
                rate, cpu = drive(oidc_bench, server.pid, url, expect_ok=False)
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
