"""Python function calls per request of the sign-in flow's HTML pages (issue 11): the
303 from /authorize to the sign-in page, the sign-in page, the second-step page and the
consent page. Counted by cProfile over repeated requests of one browser in the state the
flow leaves it in: exact and the same on every run, unlike CPU time.

``CLEF_PAGE_CALLS=1 pytest -s tests/perf/test_page_calls.py`` prints the counts and the
top functions of each page."""

from __future__ import annotations

import cProfile
import os
import pstats
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import EnvironBuilder

from tests.helpers import create_account
from tests.oidc.rp import RelyingParty, Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.support.accounts import GOOD_PASSWORD
from tests.support.screens import csrf_from

REPEAT = 50
SHOW = bool(os.environ.get("CLEF_PAGE_CALLS"))


def _environ(browser: FlaskClient, target: str) -> dict[str, Any]:
    cookies = "; ".join(f"{c.key}={c.value}" for c in browser._cookies.values())
    builder = EnvironBuilder(path=target, method="GET", headers={"Cookie": cookies},
                             base_url="http://localhost")
    try:
        return builder.get_environ()
    finally:
        builder.close()


def _once(app: Flask, environ: dict[str, Any]) -> str:
    status: list[str] = []

    def start(code: str, _headers: Any, _exc: Any = None) -> None:
        status.append(code)

    body: Iterable[bytes] = app(dict(environ), start)
    for _ in body:
        pass
    getattr(body, "close", lambda: None)()
    return status[0]


def _cpu(app: Flask, environ: dict[str, Any], n: int = 200) -> float:
    started = time.process_time()
    for _ in range(n):
        _once(app, environ)
    return (time.process_time() - started) / n


def calls_per_request(app: Flask, browser: FlaskClient, target: str, name: str) -> float:
    environ = _environ(browser, target)
    status = _once(app, environ)  # warm, as a server after its first requests
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(REPEAT):
        _once(app, environ)
    profile.disable()
    stats = pstats.Stats(profile)
    calls = stats.total_calls / REPEAT  # type: ignore[attr-defined]
    if SHOW:
        best = min(_cpu(app, environ) for _ in range(5))
        print(f"\n=== {name} ({status}): {calls:.0f} calls per request, {best * 1e3:.3f} ms CPU")
        if os.environ.get("CLEF_PAGE_CALLERS"):
            import sys
            sys.path.insert(0, "/tmp")
            from callers import callers
            callers(lambda: _once(app, environ), 10, os.environ["CLEF_PAGE_CALLERS"])
        if os.environ.get("CLEF_PAGE_TREE"):
            import sys
            sys.path.insert(0, "/tmp")
            from inclusive import inclusive
            found = inclusive(lambda: _once(app, environ), 5)
            for key, count in sorted(found.items(), key=lambda x: -x[1])[:int(os.environ.get("CLEF_PAGE_TOP", "60"))]:
                print(f"{count:8.0f} {key}")
            return float(calls)
        stats.sort_stats(os.environ.get("CLEF_PAGE_SORT", "ncalls")).print_stats(int(os.environ.get("CLEF_PAGE_TOP", "25")))
    return float(calls)


def flow_pages(app: Flask) -> dict[str, tuple[Callable[[], float], str]]:
    """Walks one browser through the flow; at each GET page, counts that page's calls."""
    create_account(app, "alice")
    jobs: RelyingParty = untrusted(app)
    browser = app.test_client()
    req = Request()
    counted: dict[str, float] = {}
    authorize = jobs.authorize_url(req)
    counted["GET /authorize (303)"] = calls_per_request(app, browser, authorize, "GET /authorize 303")
    first = browser.get(authorize)
    signin = first.headers["Location"]
    page = browser.get(signin)
    counted["GET /signin"] = calls_per_request(app, browser, signin, "GET /signin")
    browser.post("/signin", data={"csrf_token": csrf_from(page), "username": "alice",
                                  "password": GOOD_PASSWORD})
    challenge = browser.get("/2fa/challenge")
    counted["GET /2fa/challenge"] = calls_per_request(app, browser, "/2fa/challenge",
                                                      "GET /2fa/challenge")
    from tests.support.accounts import fresh_totp
    back = browser.post("/2fa/challenge", data={"code": fresh_totp(app, "alice"),
                                                "csrf_token": csrf_from(challenge)})
    consent = back.headers["Location"]
    assert browser.get(consent).status_code == 200
    counted["GET /authorize (consent)"] = calls_per_request(app, browser, consent,
                                                            "GET /authorize consent")
    return counted  # type: ignore[return-value]


def test_flow_pages_call_counts(app: Flask) -> None:
    counted = flow_pages(app)
    if SHOW:
        for name, calls in counted.items():
            print(f"{name:28} {calls:8.0f}")
