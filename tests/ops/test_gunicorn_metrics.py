"""Metrics under several worker processes (issue 11): one /metrics that sums them
(prometheus-client's multi-process mode), under granian (`clef serve`, idp/serve.py) and
under gunicorn (config/gunicorn.conf.py); a named metrics folder is emptied at start, so
an earlier run's counts never reach the next one's."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.faults.own_services import free_port

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REQUESTS = 24
HEALTHZ = r'^clef_request_duration_seconds_count\{endpoint="health.healthz",method="GET"\} (\S+)$'


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our own server
        return bytes(response.read())


def _command(server: str, port: int) -> list[str]:
    """Two worker processes, one request at a time each, a new connection per request
    (so both workers take some)."""
    if server == "granian":
        return [str(BIN / "clef"), "serve", "--workers", "2", "--threads", "1",
                "--bind", f"127.0.0.1:{port}"]
    return [str(BIN / "gunicorn"), "--config", str(ROOT / "config" / "gunicorn.conf.py"),
            "--workers", "2", "--threads", "1", "--keep-alive", "0",
            "--bind", f"127.0.0.1:{port}", "idp.wsgi:app"]


def _healthz_count(env: dict[str, str], server: str, tmp_path: Path, requests: int) -> tuple[float, str]:
    """Start the server, ask /healthz ``requests`` times, read /metrics, stop it: the
    summed /healthz count and the server's output."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(env, IDP_SERVICE__BASE_URL=base)
    process = subprocess.Popen(_command(server, port), env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                _get(f"{base}/healthz")
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, f"{server} did not start"
                time.sleep(0.2)
        for _ in range(requests):
            _get(f"{base}/healthz")
        body = _get(f"{base}/metrics").decode()
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    text = output.decode(errors="replace")
    assert "Traceback" not in text, text
    found = re.search(HEALTHZ, body, re.M)
    assert found, body[:3000]
    return float(found.group(1)), text


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("IDP_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env["IDP_SERVICE__INSTANCE_DIR"] = str(tmp_path / "instance")
    subprocess.run([str(BIN / "clef"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=60)
    return env


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_metrics_sum_every_worker(tmp_path: Path, server: str) -> None:
    env = _env(tmp_path)
    (tmp_path / "tmp").mkdir()
    env["TMPDIR"] = str(tmp_path / "tmp")  # where the server makes its metrics folder
    count, output = _healthz_count(env, server, tmp_path, REQUESTS)
    assert count >= REQUESTS + 1  # every worker's, summed
    assert not any((tmp_path / "tmp").iterdir())  # the folder made for the run is gone
    if server == "granian":
        assert output.count("Spawning worker-") == 2, output


def test_granian_empties_a_named_metrics_folder_at_start(tmp_path: Path) -> None:
    """The operator names the folder: a second run starts from zero, not from the first
    run's counts (stale files would add them to every sum)."""
    env = _env(tmp_path)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    first, _ = _healthz_count(env, "granian", tmp_path, REQUESTS)
    assert first >= REQUESTS + 1
    assert list((tmp_path / "metrics").glob("*.db"))  # the first run's files, left behind
    second, _ = _healthz_count(env, "granian", tmp_path, 1)
    assert second == 2  # the readiness probe and the one request: this run's only
    assert (tmp_path / "metrics").is_dir()  # named by the operator: emptied, never removed
