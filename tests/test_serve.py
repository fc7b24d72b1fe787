"""`make run` serves with granian (`clef serve`, idp/serve.py): a fresh instance folder is
migrated by `clef db upgrade`, the sign-in page answers, and Ctrl-C (SIGINT) stops the
server cleanly; beside it, under honcho, the sample portal and the back-channel logout
worker. gunicorn (config/gunicorn.conf.py) stays a supported alternative: the same proof."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.process

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


def server_command(server: str, port: int) -> list[str]:
    """How `make run` (granian) or an operator's gunicorn starts Clef on ``port``."""
    if server == "granian":
        return [str(BIN / "clef"), "serve", "--bind", f"127.0.0.1:{port}"]
    return [str(BIN / "gunicorn"), "--config", str(ROOT / "config" / "gunicorn.conf.py"),
            "--bind", f"127.0.0.1:{port}", "idp.wsgi:app"]


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_server_serves_sign_in_and_stops_on_ctrl_c(tmp_path: Path, server: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    env["IDP_SERVICE__INSTANCE_DIR"] = str(tmp_path / "instance")
    port = _free_port()
    env["IDP_SERVICE__BASE_URL"] = f"http://127.0.0.1:{port}"
    subprocess.run([str(BIN / "clef"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=60)
    server = subprocess.Popen(
        # As `make run` starts it, in its own process group like a terminal's job.
        server_command(server, port),
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
    if server == "granian":
        text = output.decode(errors="replace")
        assert "Granian shutdown completed" in text, text  # stopped, not killed
        assert '"GET /signin HTTP/1.1" 200' in text, text  # the access log


def test_clef_serve_finishes_the_request_in_flight_on_sigterm(tmp_path: Path) -> None:
    """A graceful stop: SIGTERM while a request is being answered; the request still
    gets its whole answer, then the server exits 0 and no longer listens."""
    port = _free_port()
    started, release = tmp_path / "started", tmp_path / "release"
    env = dict(os.environ, CLEF_TEST_STARTED=str(started), CLEF_TEST_RELEASE=str(release),
               IDP_SERVICE__INSTANCE_DIR=str(tmp_path / "instance"))
    server = subprocess.Popen(
        [*server_command("granian", port), "--app", "tests.support.slow_wsgi:app"], cwd=ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    answers: list[bytes | BaseException] = []

    def ask() -> None:
        try:
            answers.append(_wait_for(f"http://127.0.0.1:{port}/slow", time.monotonic() + 60))
        except BaseException as error:
            answers.append(error)

    asking = threading.Thread(target=ask)
    asking.start()
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert server.poll() is None and time.monotonic() < deadline, "no request began"
            time.sleep(0.05)
        server.send_signal(signal.SIGTERM)  # the main process, as systemd or honcho stop it
        time.sleep(0.5)  # the stop is under way; the request is still in the app
        assert server.poll() is None, "stopped before the request in flight finished"
        release.touch()
        asking.join(timeout=30)
        output, _ = server.communicate(timeout=30)
    finally:
        release.touch()
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert answers == [b"finished"], answers
    assert server.returncode == 0, output.decode(errors="replace")
    assert _refused(port)


def test_clef_serve_logs_json_when_asked_and_never_a_query_string(tmp_path: Path) -> None:
    """[logging] format = "json": granian's own lines (start, access log, stop) are JSON
    objects like Clef's, so a collector reads one format. The access log names the path,
    never the query string, where a link's token or a code would be (S28)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    port = _free_port()
    env.update(IDP_SERVICE__INSTANCE_DIR=str(tmp_path / "instance"), IDP_LOGGING__FORMAT="json",
               IDP_SERVICE__BASE_URL=f"http://127.0.0.1:{port}")
    subprocess.run([str(BIN / "clef"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=60)
    server = subprocess.Popen(server_command("granian", port), env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    lines: list[str] = []  # read as they come: a request's access line follows its answer
    reading = threading.Thread(target=lambda: lines.extend(
        line.decode(errors="replace") for line in iter(server.stdout.readline, b"")))  # type: ignore[union-attr]
    reading.start()
    logged = '"GET /healthz HTTP/1.1" 200'
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 60)
        _wait_for(f"http://127.0.0.1:{port}/healthz?token=secret-in-the-query", time.monotonic() + 60)
        deadline = time.monotonic() + 30
        while sum(logged in _message(line) for line in list(lines)) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        reading.join(timeout=30)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    text = "".join(lines)
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line
    messages = [entry["message"] for entry in entries]
    assert any(m.startswith("Starting granian") for m in messages), text
    assert sum(logged in m for m in messages) == 2, text
    assert "secret-in-the-query" not in text


def _message(line: str) -> str:
    """A JSON log line's message (the line itself when it is not one: the test's
    assertions then say so)."""
    try:
        return str(json.loads(line)["message"])
    except (ValueError, KeyError, TypeError):
        return line


def _refused(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_make_run_serves_clef_the_portal_and_the_worker_and_stops_all_on_ctrl_c(
    tmp_path: Path,
) -> None:
    """`make run`'s honcho (config/Procfile): Clef answers discovery, the sample portal
    (registered by its register.py, idempotently) answers and sends "Sign in" to Clef's
    authorization endpoint, the worker makes its passes; Ctrl-C stops all three, the
    servers gracefully, and nothing is left listening."""
    clef_port, portal_port = _free_port(), _free_port()
    clef_url, portal_url = f"http://127.0.0.1:{clef_port}", f"http://127.0.0.1:{portal_port}"
    instance = tmp_path / "instance"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PORTAL_"))}
    env.update(IDP_SERVICE__INSTANCE_DIR=str(instance), IDP_SERVICE__BASE_URL=clef_url,
               CLEF_BIND=f"127.0.0.1:{clef_port}", PORTAL_BIND=f"127.0.0.1:{portal_port}",
               PORTAL_ISSUER=clef_url, PORTAL_URL=portal_url,
               PORTAL_CLIENT_FILE=str(instance / "employer_portal.json"),
               PORTAL_STORE=str(instance / "employer_portal.sqlite3"))
    subprocess.run([str(BIN / "clef"), "db", "upgrade"], env=env, check=True,
                   capture_output=True, timeout=60)
    register = [sys.executable, str(ROOT / "examples" / "employer_portal" / "register.py"),
                "--file", str(instance / "employer_portal.json"), "--url", portal_url]
    first = subprocess.run(register, env=env, capture_output=True, text=True, timeout=60)
    again = subprocess.run(register, env=env, capture_output=True, text=True, timeout=60)
    assert "registered;" in first.stdout, first.stdout + first.stderr
    assert "already registered" in again.stdout, again.stdout + again.stderr
    assert (instance / "employer_portal.json").stat().st_mode & 0o777 == 0o600

    honcho = subprocess.Popen(
        [str(BIN / "honcho"), "--procfile", "config/Procfile", "--app-root", ".", "start"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(
        raw.decode(errors="replace") for raw in iter(honcho.stdout.readline, b"")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        discovery = _wait_for(f"{clef_url}/.well-known/openid-configuration", deadline)
        assert f'"issuer":"{clef_url}"'.encode() in discovery
        home = _wait_for(f"{portal_url}/", deadline)
        assert b"Sign in with Clef" in home
        connection = http.client.HTTPConnection("127.0.0.1", portal_port, timeout=10)
        connection.request("GET", "/signin")  # not followed: the redirect itself
        answer = connection.getresponse()
        connection.close()
        assert answer.status == 302
        assert answer.getheader("Location", "").startswith(f"{clef_url}/authorize?")
        while not any("back-channel logout worker: a pass every" in line for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.05)  # the worker is up (its signal handlers too)
        os.killpg(honcho.pid, signal.SIGINT)  # Ctrl-C reaches honcho's group
        honcho.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        if honcho.poll() is None:
            honcho.kill()
    text = "".join(lines)
    assert honcho.returncode == 130, text  # honcho's exit status for SIGINT
    for name in ("clef.1", "portal.1"):  # both served by granian
        assert re.search(rf"{re.escape(name)}\s*\| \[INFO\] Starting granian", text), text
    for name in ("clef.1", "portal.1", "worker.1"):
        assert f"{name} stopped (rc=0)" in text, text
    assert "worker stopped" in text, text  # between two passes, not killed mid-way
    assert "Traceback" not in text, text
    assert _refused(clef_port) and _refused(portal_port)

