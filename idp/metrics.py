"""Prometheus metrics (issue 11, operability): what happened and how long requests took.

Counters come from the audit log: :func:`count_event` observes every recorded event
(:mod:`idp.audit`) and maps its tag to a counter, so the events are counted where they
already happen and in one place. Labels are fixed vocabularies (an event tag, a Flask
endpoint name, a method, a grant type), never a path, a username, an address or
anything a person typed, so no personal data reaches the monitoring system.

Under granian (``clef serve``) and gunicorn each worker is a process: with
``PROMETHEUS_MULTIPROC_DIR`` set (an empty folder, before the server starts: idp/serve.py
and config/gunicorn.conf.py see to it) the workers write their values there and
``/metrics`` sums them; gunicorn's ``child_exit`` hook marks a dead worker's gauges
(there are none yet; granian has no such hook, idp/serve.py says what that means).
``/metrics`` answers only to ``[metrics] allowed_networks`` (loopback by default) and
404 to anyone else.
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Flask, Request, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from idp import audit

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NETWORKS_KEY = "CLEF_METRICS_NETWORKS"
METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS"})
GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})

EVENTS = Counter("clef_audit_events", "Audit events recorded, by event tag", ["event"])
SIGN_INS = Counter("clef_sign_ins", "Passwords accepted at sign-in (the first step)")
FAILURES = Counter("clef_sign_in_failures", "Failed sign-in attempts, by step", ["step"])
LOCKOUTS = Counter("clef_lockouts", "Sign-in attempts refused by a lock, by step", ["step"])
CODES_SENT = Counter("clef_codes_sent", "Emailed codes sent, by purpose", ["purpose"])
TOKENS = Counter("clef_tokens_issued", "Token responses of the token endpoint, by grant type",
                 ["grant_type"])
LATENCY = Histogram("clef_request_duration_seconds", "Time to answer a request, by endpoint",
                    ["endpoint", "method"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))

# Audit tags (idp.audit, mfa.events; literal here, as the core never imports the slices)
# and the counter each one moves.
_COUNTED: dict[str, tuple[Counter, tuple[str, ...]]] = {
    audit.LOGIN_SUCCESS: (SIGN_INS, ()),
    audit.LOGIN_FAILURE: (FAILURES, ("password",)),
    "account:2fa:failure": (FAILURES, ("second_factor",)),
    "account:recovery_code:failure": (FAILURES, ("recovery_code",)),
    audit.LOGIN_LOCKED: (LOCKOUTS, ("password",)),
    "account:2fa:locked": (LOCKOUTS, ("second_factor",)),
    audit.EMAIL_CODE_SENT: (CODES_SENT, ("email_confirmation",)),
    "account:2fa:code_sent": (CODES_SENT, ("second_factor",)),
}

bp = Blueprint("metrics", __name__)


def count_event(tag: str) -> None:
    """The audit observer: every event by its tag, and the named counters."""
    EVENTS.labels(tag).inc()
    counted = _COUNTED.get(tag)
    if counted is not None:
        counter, labels = counted
        (counter.labels(*labels) if labels else counter).inc()


def parse_networks(networks: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def address_allowed(address: str | None, networks: Sequence[Network]) -> bool:
    """True when ``address`` (the client after trusted proxies) is in one of ``networks``."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus exposition, to allowed addresses only (404 otherwise, as for a
    page that does not exist)."""
    if not address_allowed(request.remote_addr, current_app.config[NETWORKS_KEY]):
        abort(404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def start_timer(g_object: Any) -> None:
    """The request's clock starts (the app's first before-request step, idp.app)."""
    g_object.clef_started = time.perf_counter()


# (endpoint, method) -> its histogram: ``labels()`` takes a lock and formats the label
# values on every call; endpoint names and methods are a fixed vocabulary, so each
# process resolves each pair once (issue 11).
_latency: dict[tuple[str, str], Any] = {}


def observe_latency(endpoint: str, method: str, seconds: float) -> None:
    """One request's time under its endpoint name and method (any other method: OTHER)."""
    key = (endpoint, method if method in METHODS else "OTHER")  # never a sender's word
    child = _latency.get(key)
    if child is None:
        child = LATENCY.labels(*key)
        _latency[key] = child
    child.observe(seconds)


def observe_response(current: Request, g_object: Any, response: Response) -> None:
    """The request's time under its endpoint, and a token response by grant type (the
    app's last after-request step, idp.app)."""
    started = g_object.pop("clef_started", None)
    rule = current.url_rule
    endpoint = rule.endpoint if rule is not None else "none"
    if started is not None:
        observe_latency(endpoint, current.method, time.perf_counter() - started)
    if endpoint == "oidc.token" and response.status_code == 200:
        grant = current.form.get("grant_type", "")
        TOKENS.labels(grant if grant in GRANT_TYPES else "other").inc()


def init_app(app: Flask, allowed_networks: Sequence[str]) -> None:
    """Count audit events and serve ``/metrics``; each request is timed by the app's
    hooks (:func:`start_timer`, :func:`observe_response`)."""
    audit.observe(count_event)
    app.config[NETWORKS_KEY] = parse_networks(allowed_networks)
    app.register_blueprint(bp)
