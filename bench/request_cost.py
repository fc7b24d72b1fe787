"""What every request pays (issue 11): Python function calls and CPU per request kind,
in-process, for Clef beside a bare Flask route (``floor_app.py``).

    .venv/bin/python bench/request_cost.py [N] [--profile KIND]

Each request kind is a WSGI environ handed to ``app(environ, start_response)`` N times
(the body read to the end, as a server would), on an embedded SQLite database in a
temporary folder. Function calls are counted by cProfile over the N requests: exact and
the same on every run, unlike CPU time. CPU is ``time.process_time`` over N requests
without the profiler, each kind measured in turn, three rounds, the best kept (the
machine is shared). ``--profile KIND`` prints the top functions of that kind by calls.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    return None


def _environ(path: str, method: str = "GET", headers: dict[str, str] | None = None) -> dict[str, Any]:
    builder = EnvironBuilder(path=path, method=method, headers=headers or {},
                             base_url="http://127.0.0.1:5000")
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _one(app: WsgiApp, environ: dict[str, Any]) -> None:
    body = app(dict(environ), _start_response)
    for _ in body:
        pass
    close = getattr(body, "close", None)
    if close is not None:
        close()


def calls_per_request(app: WsgiApp, environ: dict[str, Any], n: int) -> tuple[float, pstats.Stats]:
    _one(app, environ)  # warm: caches filled, as on a server after its first requests
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(n):
        _one(app, environ)
    profile.disable()
    stats = pstats.Stats(profile)
    return stats.total_calls / n, stats  # type: ignore[attr-defined]


def cpu_per_request(app: WsgiApp, environ: dict[str, Any], n: int) -> float:
    started = time.process_time()
    for _ in range(n):
        _one(app, environ)
    return (time.process_time() - started) / n


def clef_app(folder: str) -> WsgiApp:
    from idp.app import create_app
    from idp.migrate import upgrade

    app = create_app({"service": {"instance_dir": folder}})
    upgrade(app.extensions["clef"].settings.database_url)
    with app.app_context():
        from idp.oidc.runtime import oidc
        from idp.runtime import db, services

        oidc().signing_keys.ensure(db(), services().clock.now())
        db().commit()
    return app


def main() -> None:
    args = sys.argv[1:]
    profile_kind = None
    if "--profile" in args:
        at = args.index("--profile")
        profile_kind = args[at + 1]
        del args[at:at + 2]
    n = int(args[0]) if args else 2000
    import floor_app

    with tempfile.TemporaryDirectory(prefix="clef-cost-") as folder:
        app = clef_app(folder)
        discovery = "/.well-known/openid-configuration"
        flask_only = app.wsgi_app.app  # the Flask app behind the published-documents layer
        kinds: dict[str, tuple[WsgiApp, dict[str, Any]]] = {
            "floor (bare Flask)": (floor_app.app, _environ(discovery)),
            "discovery": (app, _environ(discovery)),
            "discovery via Flask": (flask_only, _environ(discovery)),
            "discovery 304": (app, _environ(discovery, headers={"If-None-Match": _etag(app, discovery)})),
            "discovery+cookie": (app, _environ(discovery, headers={"Cookie": "clef_session=not-one"})),
            "jwks": (app, _environ("/jwks")),
            "jwks via Flask": (flask_only, _environ("/jwks")),
            "404": (app, _environ("/no-such-page")),
            "GET / (page)": (app, _environ("/")),
            "GET /signin (page)": (app, _environ("/signin")),
        }
        calls = {}
        for name, (wsgi, environ) in kinds.items():
            count, stats = calls_per_request(wsgi, environ, min(n, 300))
            calls[name] = count
            if name == profile_kind:
                stats.sort_stats("ncalls").print_stats(40)
        cpu: dict[str, float] = {}
        for _ in range(3):
            for name, (wsgi, environ) in kinds.items():
                took = cpu_per_request(wsgi, environ, n)
                cpu[name] = min(cpu.get(name, took), took)
        print(f"{'request kind':22} {'calls/req':>10} {'CPU ms/req':>11}")
        for name in kinds:
            print(f"{name:22} {calls[name]:10.0f} {cpu[name] * 1e3:11.3f}")


def _etag(app: WsgiApp, path: str) -> str:
    headers: dict[str, str] = {}

    def start(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        headers.update(response_headers)

    body = app(_environ(path), start)
    for _ in body:
        pass
    getattr(body, "close", lambda: None)()
    return headers.get("ETag", '"none"')


if __name__ == "__main__":
    main()
