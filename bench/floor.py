# ruff: noqa: S603, S607  (a harness: it runs gunicorn and taskset)
"""``make bench`` floor: a bare Flask route (``floor_app.py``) under the same gunicorn
and hooks as Clef (``gunicorn_conf.py``, one sync worker pinned to CPU 0), driven over
HTTP by the shared driver's client from CPU 1 for ``DURATION`` seconds
(``CLEF_BENCH_SERVER=granian``: under granian instead). Prints the
server CPU per request, read from /proc as for Clef: what discovery and JWKS cannot go
below while served by Flask under gunicorn."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from run import BENCH, DRIVER_CPU, SERVER_CPU, copy_driver, free_port, server_command, stop_server

DURATION = float(os.environ.get("DURATION", "5"))
THREADS = 4


def main() -> None:
    sys.path.insert(0, str(copy_driver()))
    import oidc_bench

    os.sched_setaffinity(0, {int(DRIVER_CPU)})
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="clef-floor-") as counts:
        env = dict(os.environ, CLEF_BENCH_BIND=f"127.0.0.1:{port}", CLEF_BENCH_COUNTS=counts,
                   PYTHONPATH=str(BENCH))
        server = subprocess.Popen(["taskset", "-c", SERVER_CPU, *server_command("floor_app:app", port)],
                                  env=env, cwd=BENCH)
        url = f"http://127.0.0.1:{port}/.well-known/openid-configuration"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            done = [0]
            lock = threading.Lock()
            deadline = time.time() + DURATION

            def loop() -> None:
                http = oidc_bench.LeanHTTP()
                n = 0
                while time.time() < deadline:
                    assert http.get(url).status_code == 200
                    n += 1
                with lock:
                    done[0] += n

            before = oidc_bench.server_cpu_seconds(server.pid) or 0.0
            start = time.time()
            workers = [threading.Thread(target=loop) for _ in range(THREADS)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            cpu = (oidc_bench.server_cpu_seconds(server.pid) or 0.0) - before
            elapsed = time.time() - start
        finally:
            stop_server(server)
    name = os.environ.get("CLEF_BENCH_SERVER") or "gunicorn"
    print(f"floor (bare Flask route, one {name} worker): {done[0] / elapsed:.0f} req/s, "
          f"server CPU {cpu / done[0] * 1e3:.3f} ms/req")


if __name__ == "__main__":
    main()
