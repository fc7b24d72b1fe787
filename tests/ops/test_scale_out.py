"""Scale-out proof (issue 11): two Clef instances behind nginx, one PostgreSQL, one
Redis. Requests alternate between the instances (round robin; nginx names the one that
answered), and what one instance did holds on the other: the sign-in session, lockout
counts (D4), single-use codes (S32), refresh rotation (S40), back-channel logout,
key rotation (S42), per-address limits kept in Redis, and X-Forwarded-For trusted for
exactly the one proxy configured (S27).

Needs IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL (``.ci/run`` sets them) and nginx.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import create_engine, text

from idp.app import create_app
from tests.faults.own_services import free_port
from tests.oidc.rp import register_client
from tests.ops.scale_out import INSTANCE_HEADER, Cluster
from tests.support.accounts import GOOD_PASSWORD, TEST_TOTP_SECRET, create_account
from tests.support.app import run_cli
from tests.support.limit_windows import clear_of_minute_edge
from tests.totp_reference import key_of
from tests.totp_reference import totp as reference_totp

PG_URL = os.environ.get("IDP_TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")
SECRET = "scale-out-secret-" + "y" * 40
MONITORING = "10.9.9.0/24"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

pytestmark = pytest.mark.skipif(not (PG_URL and REDIS_URL),
                                reason="scale-out needs IDP_TEST_DATABASE_URL and IDP_TEST_REDIS_URL")


class Received(BaseHTTPRequestHandler):
    """The portal's back-channel logout endpoint: keeps each logout token posted."""

    tokens: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        self.tokens.append(parse_qs(body).get("logout_token", [""])[0])
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def portal_endpoint() -> Iterator[tuple[str, list[str]]]:
    Received.tokens = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Received)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/backchannel", Received.tokens
    server.shutdown()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[Cluster, Flask]]:
    engine = create_engine(PG_URL)
    with engine.begin() as connection:  # the database as the migrations leave it, empty
        connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    redis.Redis.from_url(REDIS_URL).flushdb()
    port = free_port()
    settings = {
        "IDP_SERVICE__BASE_URL": f"http://127.0.0.1:{port}",
        "IDP_SERVICE__SECRET_KEY": SECRET,
        "IDP_SERVICE__INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_DATABASE__URL": PG_URL,
        "IDP_RATE_LIMIT__STORAGE_URL": REDIS_URL,
        "IDP_RATE_LIMIT__TRUSTED_PROXIES": "1",
        "IDP_OIDC__JWKS_MEMORY_SECONDS": "1",  # the rotation below is seen within a second
        "IDP_RATE_LIMIT__REGISTER_PER_IP": "3/minute",
        "IDP_METRICS__ALLOWED_NETWORKS": f'["{MONITORING}"]',
        "IDP_ARGON2__MEMORY_KIB": "1024",
        "IDP_ARGON2__TIME_COST": "1",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IDP_", "PROMETHEUS"))}
    env.update(settings)
    admin = create_app(environ_overrides(settings))
    from idp.migrate import upgrade

    upgrade(PG_URL)
    running = Cluster(tmp_path, env, port)
    try:
        yield running, admin
    finally:
        running.stop()
        admin.extensions["clef"].engine.dispose()


def environ_overrides(settings: dict[str, str]) -> dict[str, Any]:
    """The same settings as overrides for the in-process administrator's app."""
    return {"service": {"base_url": settings["IDP_SERVICE__BASE_URL"], "secret_key": SECRET,
                        "instance_dir": settings["IDP_SERVICE__INSTANCE_DIR"]},
            "database": {"url": PG_URL},
            "rate_limit": {"storage_url": REDIS_URL, "trusted_proxies": 1},
            "argon2": {"memory_kib": 1024, "time_cost": 1, "parallelism": 1}}


class Browser:
    """A person's browser through the proxy: cookies kept, redirects not followed, and
    the instance that answered each request noted."""

    def __init__(self, base: str) -> None:
        self.base, self.http, self.served = base, requests.Session(), []

    def go(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base + path
        response = self.http.request(method, url, allow_redirects=False, timeout=10, **kwargs)
        self.served.append(response.headers.get(INSTANCE_HEADER, "?"))
        return response

    def csrf(self, path: str) -> str:
        found = CSRF_RE.search(self.go("GET", path).text)
        assert found, f"no form token on {path}"
        return found.group(1)


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def claims_of(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def audit_count(app: Flask, tag: str) -> int:
    with app.extensions["clef"].session_factory() as db:
        return int(db.scalar(text("SELECT count(*) FROM audit_events WHERE tag = :t"), {"t": tag}))


def kids(browser: Browser) -> set[str]:
    return {key["kid"] for key in browser.go("GET", "/jwks").json()["keys"]}


def test_journeys_hold_across_two_instances(cluster, portal_endpoint) -> None:
    proxy, admin = cluster
    both = proxy.instance_names()
    backchannel_uri, logout_tokens = portal_endpoint
    callback = "http://127.0.0.1:9/callback"
    create_account(admin, "alice")
    create_account(admin, "bob")
    client_id, secret = register_client(admin, "--name", "Portal", "--redirect-uri", callback,
                                        "--backchannel-logout-uri", backchannel_uri, "--trusted")
    assert secret is not None
    portal = requests.Session()
    portal.auth = (client_id, secret)

    # Sign-in through a portal: every step alternates instances, the session holds.
    browser = Browser(proxy.base)
    verifier = secrets.token_urlsafe(48)

    def authorize() -> tuple[str, str]:
        """A fresh authorization request (its own state and nonce): (path, state)."""
        state = secrets.token_urlsafe(16)
        return "/authorize?" + urlencode({
            "response_type": "code", "client_id": client_id, "redirect_uri": callback,
            "scope": "openid", "state": state, "nonce": secrets.token_urlsafe(16),
            "code_challenge": s256(verifier), "code_challenge_method": "S256"}), state

    path, state = authorize()
    to_signin = browser.go("GET", path)
    assert to_signin.status_code == 303 and "/signin" in to_signin.headers["Location"]
    signin_page = urlsplit(to_signin.headers["Location"])
    signin_path = signin_page.path + ("?" + signin_page.query if signin_page.query else "")
    token = browser.csrf(signin_path)
    step = browser.go("POST", "/signin", data={"csrf_token": token, "username": "alice",
                                               "password": GOOD_PASSWORD})
    assert step.status_code == 303 and "/2fa/challenge" in step.headers["Location"], step.text[:500]
    code = reference_totp(key_of(TEST_TOTP_SECRET), int(time.time()))
    back = browser.go("POST", "/2fa/challenge", data={"csrf_token": browser.csrf("/2fa/challenge"),
                                                      "code": code})
    assert back.status_code == 303, back.text[:500]
    redirect = browser.go("GET", back.headers["Location"])
    assert redirect.status_code == 302, redirect.text[:500]
    params = {k: v[0] for k, v in parse_qs(urlsplit(redirect.headers["Location"]).query).items()}
    assert params["state"] == state
    assert {browser.go("GET", "/account").status_code for _ in range(2)} == {200}
    assert set(browser.served) == both, browser.served

    def exchange(code: str) -> requests.Response:
        return portal.post(f"{proxy.base}/token", timeout=10, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": callback,
            "code_verifier": verifier})

    def refresh(value: str) -> requests.Response:
        return portal.post(f"{proxy.base}/token", data={"grant_type": "refresh_token",
                                                        "refresh_token": value}, timeout=10)

    first = exchange(params["code"])
    assert first.status_code == 200, first.text
    tokens = first.json()
    sid = claims_of(tokens["id_token"])["sid"]

    # Refresh rotation (S40): the new token works on either instance, the old one
    # presented again revokes the chain on the other.
    rotated = refresh(tokens["refresh_token"])
    assert rotated.status_code == 200, rotated.text
    newer = refresh(rotated.json()["refresh_token"])
    assert newer.status_code == 200, newer.text
    replayed = refresh(rotated.json()["refresh_token"])
    assert replayed.status_code == 400
    assert refresh(newer.json()["refresh_token"]).status_code == 400  # the chain is revoked
    assert len({rotated.headers[INSTANCE_HEADER], newer.headers[INSTANCE_HEADER],
                replayed.headers[INSTANCE_HEADER]}) == 2

    # A code is single use across instances (S32); its replay on the other instance
    # revokes what the first exchange gave.
    again = browser.go("GET", authorize()[0])  # the session still holds: a new code at once
    assert again.status_code == 302, again.text[:500]
    code = parse_qs(urlsplit(again.headers["Location"]).query)["code"][0]
    won, replay = exchange(code), exchange(code)
    assert won.status_code == 200, won.text
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert won.headers[INSTANCE_HEADER] != replay.headers[INSTANCE_HEADER]
    assert refresh(won.json()["refresh_token"]).status_code == 400

    # Back-channel logout: signed out on one instance, the session is gone on both and
    # the portal is told (by the worker, through the shared queue).
    signout = browser.go("POST", "/signout", data={"csrf_token": browser.csrf("/account")})
    assert signout.status_code in (302, 303)
    after = [browser.go("GET", "/account") for _ in range(2)]
    assert all(r.status_code in (302, 303) and "/signin" in r.headers["Location"] for r in after)
    assert {r.headers[INSTANCE_HEADER] for r in after} == both
    result = run_cli(admin, "oidc", "deliver")
    assert result.exit_code == 0, result.output
    assert len(logout_tokens) == 1, logout_tokens
    assert claims_of(logout_tokens[0])["sid"] == sid

    # Lockout counts (D4) add up whichever instance took each failure.
    bob = Browser(proxy.base)
    for _ in range(5):
        bob.go("POST", "/signin", data={"csrf_token": bob.csrf("/signin"), "username": "bob",
                                        "password": "not the password"})
    assert set(bob.served) == both
    right = bob.go("POST", "/signin", data={"csrf_token": bob.csrf("/signin"), "username": "bob",
                                            "password": GOOD_PASSWORD})
    assert not (right.status_code == 303 and "/2fa" in right.headers.get("Location", ""))
    assert audit_count(admin, "account:login:locked") >= 1

    # Key rotation (S42): the next keys are published by both instances at once.
    seen = Browser(proxy.base)
    before = kids(seen)
    result = run_cli(admin, "keys", "rotate")
    assert result.exit_code == 0, result.output
    time.sleep(1.5)  # each instance's JWKS memory (oidc.jwks_memory_seconds)
    published = [kids(seen), kids(seen)]
    assert all(p > before for p in published) and published[0] == published[1]
    assert set(seen.served[-2:]) == both

    # X-Forwarded-For is trusted for one proxy exactly: a client's own header naming the
    # monitoring network opens /metrics on neither instance ...
    forged = [requests.get(f"{proxy.base}/metrics", headers={"X-Forwarded-For": "10.9.9.9"}, timeout=10)
              for _ in range(2)]
    assert [r.status_code for r in forged] == [404, 404]
    assert {r.headers[INSTANCE_HEADER] for r in forged} == both
    # ... and per-address limits count the real address, in Redis, across instances:
    # three registrations a minute, whatever address each request claims.
    stranger = Browser(proxy.base)
    statuses = []
    clear_of_minute_edge(margin=10)  # four pages and four posts inside one window
    for n in range(4):
        form = {"csrf_token": stranger.csrf("/register"), "username": f"new-{n}",
                "password": "a", "confirm": "b"}
        statuses.append(stranger.go("POST", "/register", data=form,
                                    headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code)
    assert 429 not in statuses[:3], statuses
    assert statuses[3] == 429
    assert set(stranger.served) == both
