"""Metrics under gunicorn (issue 11): several workers, one /metrics that sums them
(prometheus-client's multi-process mode, set up by config/gunicorn.conf.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.faults.own_services import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REQUESTS = 24


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own server
        return bytes(response.read())


def test_metrics_sum_every_worker(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IDP_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["IDP_SERVICE__INSTANCE_DIR"] = str(tmp_path / "instance")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env["IDP_SERVICE__BASE_URL"] = base
    subprocess.run([str(BIN / "clef"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=60)
    server = subprocess.Popen(
        [str(BIN / "gunicorn"), "--config", str(ROOT / "config" / "gunicorn.conf.py"),
         "--workers", "2", "--threads", "1", "--keep-alive", "0",
         "--bind", f"127.0.0.1:{port}", "idp.wsgi:app"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        for _ in range(REQUESTS):
            _get(f"{base}/healthz")
        body = _get(f"{base}/metrics").decode()
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    sample = r'^clef_request_duration_seconds_count\{endpoint="health.healthz",method="GET"\} (\S+)$'
    found = re.search(sample, body, re.M)
    assert found, body[:3000]
    assert float(found.group(1)) >= REQUESTS + 1  # every worker's, summed
    assert b"Traceback" not in output, output.decode(errors="replace")
