"""Clef's own look-ups through Flask's context proxies (``request``, ``g``, ``session``,
``current_app``) over one whole sign-in flow (issue 11): GET /authorize, GET /signin,
POST /signin, GET /2fa/challenge, POST /2fa/challenge, GET /authorize (the consent
page), POST /authorize and the POST /token that exchanges the code. Counted by cProfile
as the calls into ``werkzeug.local`` made directly by Clef's functions (idp, mfa,
partners): exact and the same on every run. Flask's, Flask-WTF's and Flask-Babel's own
look-ups are not Clef's and are not counted.

    .venv/bin/pytest -s tests/perf/test_proxy_lookups.py

prints the counts and Clef's functions by calls into the proxies. Before this work
(91ad71e), on both backends: 1,796 calls into ``werkzeug.local`` per flow, 457 of them
made by Clef's functions (``db()``: ``"db" not in g`` then ``g.db``, ~64 times a flow,
136; the views' and hooks' ``request.x`` each a look-up). After: 1,070 and 306:
``db()``, ``services()``, ``oidc()`` and ``mfa_services()`` look their context up once
each (``_get_current_object``, the way Flask's docs give to reach a proxy's object);
the views, the session's write-back and the form-token helpers read the request, ``g``
or the session once."""

from __future__ import annotations

import cProfile
import pstats
from collections import Counter
from pathlib import Path

from flask import Flask

from tests.helpers import create_account
from tests.oidc.rp import Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.perf.test_flow_statements import to_consent
from tests.support.screens import csrf_from

ROOT = Path(__file__).resolve().parents[2]
CLEF_PACKAGES = ("idp", "mfa", "partners")
# Measured 469 on both backends (from 1,079 before; the Redis limiter's own look-ups
# are Flask-Limiter's, not counted); a small margin for changes elsewhere.
# Measured 306 and 1,070 on both backends (457 and 1,796 before; the Redis limiter's
# look-ups are Flask-Limiter's and the same); a small margin for changes elsewhere.
CLEFS_BUDGET = 330
ALL_BUDGET = {"sqlite": 1_120, "postgresql": 1_120}


def _clefs(path: str) -> str | None:
    """``path`` relative to the checkout when it is Clef's own code, else None."""
    try:
        relative = Path(path).resolve().relative_to(ROOT)
    except (ValueError, OSError):
        return None
    return relative.as_posix() if relative.parts[0] in CLEF_PACKAGES else None


def flow_lookups(app: Flask) -> tuple[int, Counter[str]]:
    """All calls into ``werkzeug.local`` over one flow (Flask's and the extensions' too),
    and those Clef's functions made directly, by calling function."""
    create_account(app, "alice")
    jobs = untrusted(app)
    to_consent(app, jobs, app.test_client(), Request())  # warm: caches, compiled statements
    browser = app.test_client()
    req = Request()
    profile = cProfile.Profile()
    profile.enable()
    action, consent = to_consent(app, jobs, browser, req)
    answer = browser.post(action, data={"csrf_token": csrf_from(consent), "decision": "allow"})
    exchanged = jobs.exchange(browser, jobs.callback(answer)["code"], req)
    profile.disable()
    assert exchanged.status_code == 200, exchanged.get_data(as_text=True)
    by_caller: Counter[str] = Counter()
    total = 0
    for (path, _line, _name), row in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if not path.replace("\\", "/").endswith("werkzeug/local.py"):
            continue
        total += row[1]
        for (caller, line, function), counts in row[4].items():
            name = _clefs(caller)
            if name is not None:
                by_caller[f"{name}:{line} {function}"] += counts[0]
    return total, by_caller


def test_clefs_own_proxy_lookups_per_flow_stay_within_budget(app: Flask, backend: str) -> None:
    total, by_caller = flow_lookups(app)
    clefs = sum(by_caller.values())
    print(f"\nwerkzeug.local calls per flow ({backend}): {total}, made by Clef's code: {clefs}")
    for name, count in by_caller.most_common(15):
        print(f"{count:5} {name}")
    assert clefs <= CLEFS_BUDGET, (clefs, by_caller.most_common(10))
    assert total <= ALL_BUDGET[backend], total
