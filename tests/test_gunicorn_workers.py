"""The server enforces the configured per-address limits (S27, D4), under granian
(`clef serve`, `make run`) and under gunicorn alike.

Flask-Limiter's memory:// storage (the embedded default) counts in each process: with
two workers, each allowed the whole limit, so every per-address limit was doubled.
idp/serve.py and config/gunicorn.conf.py run one worker (with threads) for memory:// and
several only with a shared store."""

from __future__ import annotations

import http.cookiejar
import os
import re
import runpy
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from idp.migrate import upgrade
from tests.support.limit_windows import clear_of_minute_edge
from tests.test_serve import _free_port, _wait_for, server_command

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "config" / "gunicorn.conf.py"


def _layout(monkeypatch: pytest.MonkeyPatch, storage_url: str | None) -> tuple[int, int]:
    for name in list(os.environ):
        if name.startswith("IDP_"):
            monkeypatch.delenv(name)
    if storage_url is not None:
        monkeypatch.setenv("IDP_RATE_LIMIT__STORAGE_URL", storage_url)
    config = runpy.run_path(str(CONFIG))
    return int(config["workers"]), int(config["threads"])


def test_s27_memory_limits_run_one_worker_shared_ones_several(monkeypatch) -> None:
    assert _layout(monkeypatch, None) == (1, 8)  # the embedded default, memory://
    assert _layout(monkeypatch, "memory://") == (1, 8)
    assert _layout(monkeypatch, "redis://127.0.0.1:6379/4") == (2, 4)


@pytest.mark.process
def test_s27_clef_serve_warns_when_told_to_split_a_memory_limit(tmp_path: Path) -> None:
    """`clef serve --workers 2` on memory:// says every limit is doubled (and serves)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    port = _free_port()
    env.update(IDP_SERVICE__INSTANCE_DIR=str(tmp_path / "instance"),
               IDP_SERVICE__BASE_URL=f"http://127.0.0.1:{port}")
    upgrade(f"sqlite:///{tmp_path / 'instance' / 'clef.sqlite3'}")
    server = subprocess.Popen([*server_command("granian", port), "--workers", "2"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(f"http://127.0.0.1:{port}/healthz", time.monotonic() + 60)
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    text = output.decode(errors="replace")
    assert "every per-address limit is multiplied by 2" in text, text
    assert text.count("Spawning worker-") == 2, text


def _opener() -> urllib.request.OpenerDirector:
    """A browser of sorts: cookies kept, redirects not followed, a new connection for
    every request (so any worker may take it)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)


def _status(opener: urllib.request.OpenerDirector, url: str, data: bytes | None = None) -> tuple[int, str]:
    try:
        with opener.open(url, data=data, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode()


@pytest.mark.process
@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_s27_the_server_enforces_the_configured_sign_in_limit(tmp_path: Path, server: str) -> None:
    """Started as `make run` starts it (granian) or with config/gunicorn.conf.py, with a
    limit of 3 sign-in attempts a minute per address: 3 wrong passwords are answered,
    every further one gets 429 (two workers would have answered up to 6). One worker is
    started."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env.update(IDP_SERVICE__INSTANCE_DIR=str(tmp_path / "instance"), IDP_SERVICE__BASE_URL=base,
               IDP_RATE_LIMIT__SIGNIN_PER_IP="3/minute", IDP_ARGON2__MEMORY_KIB="1024",
               IDP_ARGON2__TIME_COST="1")
    upgrade(f"sqlite:///{tmp_path / 'instance' / 'clef.sqlite3'}")  # as `clef db upgrade`
    process = subprocess.Popen(
        server_command(server, port),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        _wait_for(f"{base}/signin", time.monotonic() + 60)
        opener = _opener()
        statuses = []
        clear_of_minute_edge(margin=10)  # eight pages and eight posts inside one window
        for attempt in range(8):
            _, page = _status(opener, f"{base}/signin")
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            assert token, page
            form = {"csrf_token": token.group(1), "username": f"nobody{attempt}",
                    "password": "not the right password"}
            statuses.append(_status(opener, f"{base}/signin",
                                    urllib.parse.urlencode(form).encode())[0])
        os.killpg(process.pid, signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert statuses == [401] * 3 + [429] * 5, statuses
    started = "Spawning worker-" if server == "granian" else "Booting worker"
    assert output.decode(errors="replace").count(started) == 1
