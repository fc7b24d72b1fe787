"""Operability (issue 11): health probes, Prometheus metrics and JSON logs.

/healthz answers without the database; /readyz says whether the database (and Redis,
when the limits live there) answer; /metrics answers only to allowed networks, the
address being the one after trusted proxies (S27); labels carry no personal data.
"""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest
from flask import Flask

from idp import log_format
from idp.settings import ConfigError, load_settings
from tests.helpers import create_account, sign_in
from tests.oidc.conftest import full_flow
from tests.oidc.rp import RelyingParty, register_client

DEAD_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=1"
OUTSIDER = "203.0.113.9"


def metric(body: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", body, re.M)
    return float(found.group(1)) if found else 0.0


def scrape(app: Flask) -> str:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_healthz_answers_with_the_database_down(make_app) -> None:
    app = make_app(database={"url": DEAD_DATABASE})
    client = app.test_client()
    client.set_cookie("clef_session", "x" * 43)  # a cookie does not make it read a session
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_ok_when_the_database_answers(app: Flask, limiter_url: str) -> None:
    response = app.test_client().get("/readyz")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert ("redis" in body) == limiter_url.startswith("redis://")


def test_readyz_503_when_the_database_is_down(make_app) -> None:
    response = make_app(database={"url": DEAD_DATABASE}).test_client().get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable" and body["database"] == "unavailable"
    assert "OperationalError" not in response.get_data(as_text=True)  # no error text leaks


def test_readyz_503_when_redis_is_down(make_app) -> None:
    app = make_app(rate_limit={"storage_url": "redis://127.0.0.1:9/0"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable", "database": "ok", "redis": "unavailable"}


def test_metrics_answered_to_loopback_only_by_default(app: Flask) -> None:
    assert app.test_client().get("/metrics").status_code == 200
    outsider = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": OUTSIDER})
    assert outsider.status_code == 404
    assert "clef_" not in outsider.get_data(as_text=True)


def test_metrics_answered_to_the_monitoring_network(make_app) -> None:
    app = make_app(metrics={"allowed_networks": ["203.0.113.0/24"]})
    assert app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": OUTSIDER}).status_code == 200
    assert app.test_client().get("/metrics").status_code == 404  # loopback no longer listed


def test_s27_metrics_forged_forwarded_for_does_not_open_it(make_app) -> None:
    """No trusted proxy: a client's own X-Forwarded-For naming loopback changes nothing."""
    app = make_app()
    forged = app.test_client().get("/metrics", environ_base={"REMOTE_ADDR": OUTSIDER},
                                   headers={"X-Forwarded-For": "127.0.0.1"})
    assert forged.status_code == 404


def test_s27_metrics_behind_one_proxy_counts_the_client(make_app) -> None:
    """One trusted proxy on loopback: the client it names is the address checked, and a
    forged header in front of it is ignored."""
    app = make_app(rate_limit={"trusted_proxies": 1})
    client = app.test_client()
    via_proxy = client.get("/metrics", headers={"X-Forwarded-For": f"127.0.0.1, {OUTSIDER}"})
    assert via_proxy.status_code == 404
    monitor = client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert monitor.status_code == 200


def test_sign_in_counters_and_latency_without_personal_data(app: Flask) -> None:
    create_account(app, "margaret-example")
    before = scrape(app)
    browser = app.test_client()
    sign_in(browser, "margaret-example", "a wrong password typed")
    sign_in(browser, "margaret-example")
    after = scrape(app)
    assert (metric(after, "clef_sign_in_failures_total", step="password")
            - metric(before, "clef_sign_in_failures_total", step="password")) == 1
    assert metric(after, "clef_sign_ins_total") - metric(before, "clef_sign_ins_total") == 1
    assert (metric(after, "clef_audit_events_total", event="account:login:failure")
            - metric(before, "clef_audit_events_total", event="account:login:failure")) == 1
    assert (metric(after, "clef_request_duration_seconds_count", endpoint="auth.sign_in", method="POST")
            - metric(before, "clef_request_duration_seconds_count", endpoint="auth.sign_in",
                     method="POST")) == 2
    for personal in ("margaret", "wrong password", "127.0.0.1", "/signin"):
        assert personal not in after


def test_lockout_counted(make_app) -> None:
    app = make_app(lockout={"threshold": 2})
    create_account(app, "alice")
    before = metric(scrape(app), "clef_lockouts_total", step="password")
    browser = app.test_client()
    for _ in range(3):
        sign_in(browser, "alice", "not the password")
    assert metric(scrape(app), "clef_lockouts_total", step="password") > before


def test_tokens_issued_counted_by_grant(app: Flask) -> None:
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "Portal", "--redirect-uri",
                                        "https://portal.example/callback", "--trusted")
    rp = RelyingParty(app, client_id, secret, "https://portal.example/callback")
    before = metric(scrape(app), "clef_tokens_issued_total", grant_type="authorization_code")
    full_flow(rp)
    assert metric(scrape(app), "clef_tokens_issued_total", grant_type="authorization_code") == before + 1


def test_unmatched_paths_share_one_label(app: Flask) -> None:
    app.test_client().get("/no-such-page/alice")
    body = scrape(app)
    assert "no-such-page" not in body
    assert metric(body, "clef_request_duration_seconds_count", endpoint="none", method="GET") >= 1


def test_settings_refuse_a_bad_network_and_format() -> None:
    with pytest.raises(ConfigError, match="allowed_networks"):
        load_settings({"metrics": {"allowed_networks": ["not-a-network"]}}, environ={})
    with pytest.raises(ConfigError, match=r"logging\.format"):
        load_settings({"logging": {"format": "xml"}}, environ={})


def test_json_log_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        log_format.configure("json")
        log_format.configure("json")  # once per process
        assert sum(getattr(h, log_format.MARK, False) for h in root.handlers) == 1
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("clef.test").exception("it failed for %s", "account 7")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    entry = json.loads(stream.getvalue().strip().splitlines()[0])
    assert entry["level"] == "ERROR" and entry["logger"] == "clef.test"
    assert entry["message"] == "it failed for account 7"
    assert "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_text_logs_add_no_handler() -> None:
    root = logging.getLogger()
    handlers = list(root.handlers)
    log_format.configure("text")
    assert root.handlers == handlers


def test_json_logs_from_the_setting(make_app) -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        make_app(logging={"format": "json"})
        assert any(getattr(h, log_format.MARK, False) for h in root.handlers)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
