"""Where the flow's CPU goes besides argon2 (issue 11): each request of a sign-in flow,
measured inside the app, with the flows run one after another in-process.

    .venv/bin/python bench/flow_in_process.py [FLOWS]

``bench/request_cost.py`` measures each request kind in a loop of the same request,
where every cache of the CPU stays warm. A real flow runs eight different requests in
turn, and one of them sweeps 19 MiB of memory through argon2id. This runs whole flows
(the tests' screens: authorize, the sign-in page and its POST, the second step's page
and its POST, authorize again, the code exchange; a trusted portal, so no consent page)
on an embedded SQLite database, and reads each request's CPU (``time.thread_time``
around the app's WSGI call: the test client's own work is outside it). Twice: with a
cheap argon2id (1 MiB, one pass), then with the service's own. Pinned to one core, as
the bench's server is. Beside ``run.py``'s table of the same requests under granian,
it shows how much of their cost is the mix itself, and how much argon2 adds to the
others.
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp.app import create_app  # noqa: E402
from idp.migrate import upgrade  # noqa: E402
from tests.helpers import create_account  # noqa: E402
from tests.oidc.conftest import full_flow  # noqa: E402
from tests.oidc.rp import RelyingParty, register_client  # noqa: E402

CHEAP = {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}


class Timed:
    """The app's WSGI callable, with each request's thread CPU kept by ``METHOD path``."""

    def __init__(self, inner: Callable[..., Iterable[bytes]]) -> None:
        self.inner = inner
        self.cpu: dict[str, list[float]] = defaultdict(list)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.thread_time()
        try:
            return self.inner(environ, start_response)
        finally:
            self.cpu[f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}"].append(
                time.thread_time() - started)


def flow_app(folder: str, argon2: dict[str, int] | None) -> tuple[Any, RelyingParty]:
    """An app on an embedded SQLite database in ``folder``, migrated, its per-address
    limits raised for thousands of flows from one address, and a trusted portal
    registered with it (no consent page), for the flows of the tests' screens
    (``full_flow``); ``argon2``: its parameters, else the service's own."""
    overrides: dict[str, Any] = {
        "service": {"instance_dir": folder, "secret_key": "flow-in-process-" + "x" * 40},
        "database": {"url": f"sqlite:///{folder}/clef.sqlite3"},
        "rate_limit": {k: "1000000/minute" for k in (
            "signin_per_ip", "second_factor_per_ip", "token_per_ip", "token_per_client")}}
    if argon2:
        overrides["argon2"] = argon2
    app = create_app(overrides)
    upgrade(app.extensions["clef"].settings.database_url)
    client_id, secret = register_client(app, "--name", "Bench portal", "--redirect-uri",
                                        "https://portal.example/callback", "--trusted")
    return app, RelyingParty(app, client_id, secret or "")


def flows(argon2: dict[str, int] | None, count: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="clef-flow-") as folder:
        app, rp = flow_app(folder, argon2)
        timed = Timed(app.wsgi_app)
        app.wsgi_app = timed  # type: ignore[method-assign]
        for n in range(count + 5):
            if n == 5:  # the first flows warm the app up
                timed.cpu.clear()
            username = f"flow{secrets.token_hex(6)}"
            create_account(app, username)
            full_flow(rp, username=username)
        return timed.cpu


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    os.sched_setaffinity(0, {0})
    cheap, real = flows(CHEAP, count), flows(None, max(count // 4, 20))
    print(f"{count} flows (cheap argon2id), {max(count // 4, 20)} flows (the service's own);"
          " median thread CPU ms per request")
    print(f"{'request':24} {'calls':>5} {'cheap':>8} {'own':>8}")
    total = {"cheap": 0.0, "own": 0.0}
    for key in cheap:
        per_flow = len(cheap[key]) / count
        a = statistics.median(cheap[key]) * 1e3
        b = statistics.median(real.get(key, [0.0])) * 1e3
        total["cheap"] += a * per_flow
        total["own"] += b * per_flow
        print(f"{key:24} {per_flow:5.1f} {a:8.3f} {b:8.3f}")
    print(f"{'per flow':24} {'':5} {total['cheap']:8.2f} {total['own']:8.2f}")


if __name__ == "__main__":
    main()
