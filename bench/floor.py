# ruff: noqa: S603, S607  (a harness: it runs the servers and taskset)
"""``make bench`` floor: a bare Flask route (``floor_app.py``) under each server Clef can be
served with, with the same counting as Clef (``run.server_command``: one worker pinned to
CPU 0) — gunicorn's sync worker (a connection per request), gunicorn gthread (keep-alive)
and granian (as deployed) — driven over HTTP by the shared driver's client from CPU 1 for
``DURATION`` seconds each, the servers in turn ``ROUNDS`` times (alternating, so a change
in the machine's load falls on all of them). Prints the server CPU per request, read from
/proc as for Clef: what discovery and JWKS cannot go below while served by Flask under
that server. ``FLOOR_SERVERS`` picks some of them."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

from run import BENCH, DRIVER_CPU, SERVER_CPU, SERVERS, copy_driver, free_port, server_command, stop_server

DURATION = float(os.environ.get("DURATION", "5"))
ROUNDS = int(os.environ.get("ROUNDS", "1"))
THREADS = 4


def drive(oidc_bench: Any, pid: int, url: str, expect_ok: bool = True) -> tuple[float, float]:
    """(requests per second, server CPU ms per request) of ``THREADS`` keep-alive clients
    asking ``url`` for ``DURATION`` seconds; the server's CPU (process ``pid``) from /proc."""
    done = [0]
    lock = threading.Lock()
    deadline = time.time() + DURATION

    def loop() -> None:
        http = oidc_bench.LeanHTTP()
        n = 0
        while time.time() < deadline:
            status = http.get(url).status_code
            assert status == 200 or not expect_ok, status
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


def measure(oidc_bench: Any, server: str) -> tuple[float, float]:
    """(requests per second, server CPU ms per request) of one run under ``server``."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="clef-floor-") as counts:
        command, extra = server_command("floor_app:app", port, server)
        env = dict(os.environ, CLEF_BENCH_BIND=f"127.0.0.1:{port}", CLEF_BENCH_COUNTS=counts,
                   PYTHONPATH=str(BENCH))
        env.update(extra)
        process = subprocess.Popen(["taskset", "-c", SERVER_CPU, *command], env=env, cwd=BENCH)
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            return drive(oidc_bench, process.pid, url)
        finally:
            stop_server(process)


def main() -> None:
    sys.path.insert(0, str(copy_driver()))
    import oidc_bench

    os.sched_setaffinity(0, {int(DRIVER_CPU)})
    servers = os.environ.get("FLOOR_SERVERS", " ".join(SERVERS)).split()
    for round_ in range(ROUNDS):
        for server in servers:
            rate, ms = measure(oidc_bench, server)
            print(f"floor (bare Flask route, one {server} worker), round {round_ + 1}: "
                  f"{rate:.0f} req/s, server CPU {ms:.3f} ms/req", flush=True)


if __name__ == "__main__":
    main()
