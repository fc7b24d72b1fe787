"""Fault tests: Clef served in a subprocess that a planted fault kills with SIGKILL
(``tests.faults.app_process``), on the test's own database (SQLite, and PostgreSQL when
configured), then inspected and finished by an in-process app on the same database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask

from idp.clock import FrozenClock
from tests.conftest import CHEAP_ARGON2, TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


class Served:
    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"

    def killed(self, timeout: float = 15) -> bool:
        """True once the process has died of SIGKILL (its planted fault)."""
        try:
            return self.process.wait(timeout=timeout) == -9
        except subprocess.TimeoutExpired:
            return False


@pytest.fixture
def serve(database_url: str, tmp_path: Path) -> Iterator[Callable[[str], Served]]:
    """Start Clef in a subprocess with ``fault`` planted; stopped (by its own pid) after
    the test if it is still alive."""
    started: list[subprocess.Popen[str]] = []

    def start(fault: str) -> Served:
        overrides = {
            "service": {"secret_key": TEST_SECRET, "instance_dir": str(tmp_path / "instance")},
            "database": {"url": database_url},
            "rate_limit": {"storage_url": "memory://"},
            "argon2": CHEAP_ARGON2,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.app_process", json.dumps(overrides), fault],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        started.append(process)
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"the app did not start: {line!r}"
        return Served(process, int(line.split()[1]))

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def catch_up(clock: FrozenClock, after: timedelta) -> None:
    """Move the test's frozen clock to the real time (the subprocess's) plus ``after``."""
    clock.advance(seconds=(datetime.now(UTC) + after - clock.now()).total_seconds())


@pytest.fixture
def worker_pass(app: Flask) -> Callable[[], str]:
    def run() -> str:
        result = app.test_cli_runner().invoke(args=["oidc", "deliver"])
        assert result.exit_code == 0, result.output
        return result.output

    return run
