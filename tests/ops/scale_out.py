"""Two Clef instances (`clef serve`: granian, two workers each) behind nginx on one
PostgreSQL and one Redis, for the scale-out test. nginx runs from a config file in the
test's own folder on a free port (never the system's site), keeps its connections to the
instances open (upstream keep-alive: granian keeps them) and names, in
``X-Clef-Instance``, the instance that answered."""

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
BIN = Path(sys.executable).parent
INSTANCE_HEADER = "X-Clef-Instance"

NGINX_CONF = """
worker_processes 1;
daemon off;
{user}
pid {folder}/nginx.pid;
error_log {folder}/error.log;
events {{ worker_connections 128; }}
http {{
  access_log {folder}/access.log;
  client_body_temp_path {folder}/body;
  proxy_temp_path {folder}/proxy;
  fastcgi_temp_path {folder}/fastcgi;
  uwsgi_temp_path {folder}/uwsgi;
  scgi_temp_path {folder}/scgi;
  upstream clef {{ server 127.0.0.1:{a}; server 127.0.0.1:{b}; keepalive 8; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://clef;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      add_header {header} $upstream_addr always;
    }}
  }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/bin/nginx") if os.access(p, os.X_OK)), None)
    if found is None:
        pytest.skip("nginx is missing: apt-get install nginx (.ci/run installs it)")
    return found


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310 - our own server
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{log.stem} did not start: {log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)


class Cluster:
    """nginx on ``port`` in front of two granian instances sharing ``env``'s settings."""

    def __init__(self, folder: Path, env: dict[str, str], port: int) -> None:
        self.folder, self.port = folder, port
        self.base = f"http://127.0.0.1:{port}"
        self.processes: list[subprocess.Popen[bytes]] = []
        self.instances = [free_port(), free_port()]
        nginx = nginx_binary()
        try:
            for instance in self.instances:
                server = self._start(f"clef-{instance}",
                    [str(BIN / "clef"), "serve", "--workers", "2", "--threads", "4",
                     "--bind", f"127.0.0.1:{instance}"], env)
                wait_for(f"http://127.0.0.1:{instance}/healthz", server, self.log(f"clef-{instance}"))
            conf = folder / "nginx.conf"
            conf.write_text(NGINX_CONF.format(
                folder=folder, a=self.instances[0], b=self.instances[1], port=port,
                header=INSTANCE_HEADER, user="user root;" if os.geteuid() == 0 else ""))
            command = [nginx, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
            proxy = self._start("nginx", command, env)
            wait_for(f"{self.base}/healthz", proxy, self.log("nginx"))
        except BaseException:
            self.stop()
            raise

    def log(self, name: str) -> Path:
        return self.folder / f"{name}.log"

    def _start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self.log(name).open("wb") as output:
            process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True, cwd=self.folder)
        self.processes.append(process)
        return process

    def instance_names(self) -> set[str]:
        return {f"127.0.0.1:{port}" for port in self.instances}

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
