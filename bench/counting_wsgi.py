"""granian's counterpart of ``gunicorn_conf.py``'s hooks, for the benchmark only.

granian has no per-request hooks, so granian serves this WSGI wrapper instead of the app
(``bench/run.py`` starts it with ``CLEF_BENCH_TARGET=idp.wsgi:app``; production never
imports it). It counts the same things per ``METHOD path``: requests, CPU, SQL
statements, BEGIN, COMMIT and ROLLBACK round trips, argon2 verifications, and statuses,
and writes them as JSON to ``$CLEF_BENCH_COUNTS/counts-<pid>.json`` when the worker
exits, so the printed table has the same shape under either server.

CPU: ``time.thread_time`` of the thread that runs the request (granian serves Python on
one blocking thread here), from the call to its return. Flask has finished the request
by then (teardown included); the response is bytes already made. granian's own work runs
on its Rust threads and shows in the server CPU column (from /proc), not here. The hooks
patch classes (SQLAlchemy's Engine events, argon2's verify), never Clef's code.
"""

from __future__ import annotations

import importlib
import multiprocessing.util
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

import request_counts  # bench/, on the path

TARGET = os.environ.get("CLEF_BENCH_TARGET", "idp.wsgi:app")


def _load(target: str) -> Callable[..., Iterable[bytes]]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


_inner = _load(TARGET)
# Enabled around each request, in the thread that serves it (cProfile follows one thread).
_profile = request_counts.install(time.thread_time)
# granian's workers are multiprocessing processes: they leave through os._exit, which
# skips atexit but runs multiprocessing's finalizers.
multiprocessing.util.Finalize(None, request_counts.dump, exitpriority=10)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    request_counts.current["key"] = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"
    seen: dict[str, str] = {}

    def recorded(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"] = status.split(" ", 1)[0]
        return start_response(status, headers, exc_info)

    started = time.thread_time()
    if _profile is not None:
        _profile.enable()
    try:
        return _inner(environ, recorded)
    finally:
        if _profile is not None:
            _profile.disable()
        request_counts.finish(time.thread_time() - started, seen.get("status", "?"))
