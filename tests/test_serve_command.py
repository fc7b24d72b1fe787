"""`clef serve` (idp/serve.py) without starting a server: the worker layout (S27), the
bind address, a bad setting, and the metrics folder made or emptied at start. The
server itself is started in tests/test_serve.py, tests/test_gunicorn_workers.py and
tests/ops/."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from idp import serve


def test_s27_memory_limits_run_one_worker_shared_ones_one_per_core() -> None:
    assert serve.worker_layout("memory://", 2) == (1, 5)  # 2 x cores + 1 threads at most
    assert serve.worker_layout(" MEMORY://", 16) == (1, 8)
    assert serve.worker_layout("redis://127.0.0.1:6379/4", 6) == (6, 4)
    assert serve.worker_layout("redis://127.0.0.1:6379/4", None) == (1, 4)


@pytest.mark.parametrize("bad", ["5000", "127.0.0.1:", ":5000", "127.0.0.1:http", "127.0.0.1:70000",
                                 "127.0.0.1:0", "x" * 5000])
def test_a_malformed_bind_is_refused_before_anything_starts(bad: str) -> None:
    result = CliRunner().invoke(serve.serve_command, ["--bind", bad])
    assert result.exit_code == 2 and "is not HOST:PORT" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_bind_forms() -> None:
    assert serve.parse_bind("192.0.2.7:8000") == ("192.0.2.7", 8000)
    assert serve.parse_bind("[::1]:5000") == ("::1", 5000)
    assert serve.parse_bind("localhost:5002") == ("127.0.0.1", 5002)


def test_a_bad_setting_stops_serve_with_its_message_and_no_traceback() -> None:
    result = CliRunner().invoke(serve.serve_command, ["--bind", "127.0.0.1:1"],
                                env={"IDP_SESSION__IDLE_MINUTES": "abc"})
    assert result.exit_code == 1, result.output
    assert "session.idle_minutes (from IDP_SESSION__IDLE_MINUTES) must be a number" in result.output
    assert "Traceback" not in result.output


def test_a_fresh_metrics_folder_is_made_and_named_for_the_workers(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr(serve.tempfile, "tempdir", None)  # TMPDIR read again
    environ: dict[str, str] = {}
    made = serve.prepare_metrics_dir(environ)
    assert made is not None and made.parent == tmp_path and made.is_dir()
    assert environ[serve.METRICS_DIR] == str(made)


def test_a_named_metrics_folder_is_emptied_of_values_and_kept(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_4242.db").write_bytes(b"an earlier run's counts")
    (folder / "histogram_4243.db").write_bytes(b"and its latencies")
    (folder / "gauge_livesum_4244.db").write_bytes(b"a live gauge")
    (folder / "README").write_text("the operator's own file")
    (folder / "accounts.db").write_text("not prometheus-client's: a folder named by mistake")
    environ = {serve.METRICS_DIR: str(folder)}
    assert serve.prepare_metrics_dir(environ) is None  # not ours to remove at the end
    assert sorted(p.name for p in folder.iterdir()) == ["README", "accounts.db"]
    assert environ == {serve.METRICS_DIR: str(folder)}
