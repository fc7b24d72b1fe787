"""Installable as a wheel (issue 11): a wheel built from the source carries the
templates, static files, translations and default settings, and once installed in a
fresh virtual environment outside the checkout, ``clef db upgrade`` then ``clef serve``
(granian) and ``gunicorn idp.wsgi:app`` each serve pages in both languages and a static
file.

The fresh environment borrows the project environment's dependencies (a path to its
site-packages, after its own) so nothing is downloaded; Clef itself comes only from
the wheel, which the test checks."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.faults.own_services import free_port

ROOT = Path(__file__).resolve().parents[2]
FRENCH_USERNAME = 'for="username">Nom d\'utilisateur</label>'
SOURCE_IGNORED = shutil.ignore_patterns(".venv", ".git", "instance", "build", "*.egg-info", "__pycache__",
                                        ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules",
                                        "test-artifacts", "tests")


def _get(url: str, **headers: str) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - our own server
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status, bytes(response.read())


@pytest.mark.slow
def test_wheel_installed_outside_the_checkout_serves(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=SOURCE_IGNORED)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(wheels),
                    str(source)], check=True, capture_output=True, timeout=300, cwd=tmp_path)
    (wheel,) = wheels.glob("clef-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
                    "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, timeout=300)
    project_site = subprocess.run(
        [sys.executable, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "zz_project_dependencies.pth").write_text(project_site + "\n")

    work = tmp_path / "deployment"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PYTHON", "PROMETHEUS"))}
    port = free_port()
    env["IDP_SERVICE__BASE_URL"] = f"http://127.0.0.1:{port}"
    where = subprocess.run([str(python), "-c", "import idp; print(idp.__file__)"], env=env, cwd=work,
                           check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(site), f"idp imported from {where}, not the installed wheel"

    subprocess.run([str(venv / "bin" / "clef"), "db", "upgrade"], env=env, cwd=work, check=True,
                   capture_output=True, timeout=120)
    assert (work / "instance" / "clef.sqlite3").is_file()  # under the working directory
    servers = {
        "granian": [str(venv / "bin" / "clef"), "serve", "--bind", f"127.0.0.1:{port}"],
        "gunicorn": [str(python), "-m", "gunicorn", "--workers", "1", "--bind", f"127.0.0.1:{port}",
                     "idp.wsgi:app"],
    }
    for name, command in servers.items():
        _serves(name, command, env, work, port)


def _serves(name: str, command: list[str], env: dict[str, str], work: Path, port: int) -> None:
    server = subprocess.Popen(command, env=env, cwd=work, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, page = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, f"{name} did not serve"
                time.sleep(0.2)
        assert status == 200 and b"Clef" in page
        _, english = _get(f"http://127.0.0.1:{port}/signin")
        assert b'<label for="username">Username</label>' in english
        _, french = _get(f"http://127.0.0.1:{port}/signin", **{"Accept-Language": "fr"})
        assert FRENCH_USERNAME.encode() in french  # the compiled catalogue is in the wheel
        status, css = _get(f"http://127.0.0.1:{port}/static/clef.css")
        assert status == 200 and css == (ROOT / "static" / "clef.css").read_bytes()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output.decode(errors="replace")
    assert b"Traceback" not in output, output.decode(errors="replace")
