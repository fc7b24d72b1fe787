"""granian's counterpart of ``gunicorn_conf.py``'s hooks, for the benchmark only.

granian has no per-request hooks, so granian serves this WSGI wrapper instead of the app
(``bench/run.py`` starts it with ``CLEF_BENCH_TARGET=idp.wsgi:app``; production never
imports it). It counts the same things per ``METHOD path``: requests, CPU, SQL
statements, commits and argon2 verifications, and statuses, and writes them as JSON to
``$CLEF_BENCH_COUNTS/counts-<pid>.json`` when the worker exits, so the printed table has
the same shape under either server.

CPU: ``time.thread_time`` of the thread that runs the request (granian serves Python on
one blocking thread here), from the call to its return. Flask has finished the request
by then (teardown included); the response is bytes already made. granian's own work runs
on its Rust threads and shows in the server CPU column (from /proc), not here. The hooks
patch classes (SQLAlchemy's Engine events, argon2's verify), never Clef's code.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing.util
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

TARGET = os.environ.get("CLEF_BENCH_TARGET", "idp.wsgi:app")

_stats: dict[str, dict[str, Any]] = {}
_current: dict[str, Any] = {"key": "-"}


def _bump(field: str) -> None:
    row = _stats.setdefault(_current["key"], {})
    row[field] = row.get(field, 0) + 1


def _install_counters() -> None:
    import argon2
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    event.listen(Engine, "before_cursor_execute", lambda *a, **k: _bump("sql"))
    event.listen(Engine, "commit", lambda *a, **k: _bump("commits"))
    verify = argon2.PasswordHasher.verify

    def counted_verify(self: Any, hash: Any, password: Any) -> Any:
        _bump("argon2")
        return verify(self, hash, password)

    argon2.PasswordHasher.verify = counted_verify  # type: ignore[method-assign]
    if os.environ.get("CLEF_BENCH_PROFILE"):
        import cProfile

        # Enabled around each request, in the thread that serves it (cProfile follows
        # one thread); CPU, not waits.
        _current["profile"] = cProfile.Profile(time.thread_time)


def _dump() -> None:
    folder = os.environ.get("CLEF_BENCH_COUNTS")
    if not folder:
        return
    if "profile" in _current:
        _current["profile"].dump_stats(os.path.join(folder, f"profile-{os.getpid()}.pstats"))
    with open(os.path.join(folder, f"counts-{os.getpid()}.json"), "w") as out:
        json.dump(_stats, out)


def _load(target: str) -> Callable[..., Iterable[bytes]]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


_inner = _load(TARGET)
_install_counters()
# granian's workers are multiprocessing processes: they leave through os._exit, which
# skips atexit but runs multiprocessing's finalizers.
multiprocessing.util.Finalize(None, _dump, exitpriority=10)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    key = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"
    _current["key"] = key
    seen: dict[str, str] = {}

    def recorded(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"] = status.split(" ", 1)[0]
        return start_response(status, headers, exc_info)

    profile = _current.get("profile")
    started = time.thread_time()
    if profile is not None:
        profile.enable()
    try:
        return _inner(environ, recorded)
    finally:
        if profile is not None:
            profile.disable()
        row = _stats.setdefault(key, {})
        row["requests"] = row.get("requests", 0) + 1
        row["cpu_s"] = row.get("cpu_s", 0.0) + time.thread_time() - started
        statuses = row.setdefault("status", {})
        code = seen.get("status", "?")
        statuses[code] = statuses.get(code, 0) + 1
        _current["key"] = "-"
