"""`make run` serves with gunicorn: a fresh instance folder is migrated by `clef db
upgrade`, the sign-in page answers, and Ctrl-C (SIGINT) stops the server cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(url: str, deadline: float) -> bytes:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                return bytes(response.read())
        except OSError as error:
            last_error = error
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer: {last_error}")


def test_gunicorn_serves_sign_in_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["IDP_SERVICE__INSTANCE_DIR"] = str(tmp_path / "instance")
    port = _free_port()
    env["IDP_SERVICE__BASE_URL"] = f"http://127.0.0.1:{port}"
    subprocess.run([str(BIN / "clef"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=60)
    server = subprocess.Popen(
        # As `make run` starts it, in its own process group like a terminal's job.
        [str(BIN / "gunicorn"), "--config", str(ROOT / "config" / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "idp.wsgi:app"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        page = _wait_for(f"http://127.0.0.1:{port}/signin", time.monotonic() + 60)
        assert b'<label for="username">Username</label>' in page
        # Ctrl-C: the terminal signals the whole group, master and workers alike.
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, output.decode(errors="replace")
    assert b"Traceback" not in output, output.decode(errors="replace")
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o777 == 0o600
