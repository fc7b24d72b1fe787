"""A real partner for the broker's tests: a second Clef instance (it is an OpenID
Connect provider) with its own SQLite database and keys, served over HTTP on a free
port in a thread, so the broker reaches its discovery, JWKS and token endpoints as it
would a bank's. The browser's side at the partner goes through its test client."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import BaseWSGIServer, make_server

from idp.app import create_app
from idp.clock import FrozenClock
from tests.conftest import CHEAP_ARGON2, TEMPLATE_CODE
from tests.oidc.portal_server import free_port
from tests.oidc.rp import ISSUER as BROKER
from tests.support.app import run_cli
from tests.support.screens import csrf, pass_second_factor, sign_in_at

UPSTREAM_SECRET = "upstream-secret-" + "y" * 40


@dataclass
class Partner:
    """A running partner and its registration at the broker."""

    app: Flask
    issuer: str
    server: BaseWSGIServer | None
    partner_id: int = 0
    client_id: str = ""

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


def start_partner(tmp_path: Path, template: Path, clock: FrozenClock, name: str,
                  host: str = "127.0.0.1") -> Partner:
    """``host`` "localhost" keeps a browser's cookies for the partner apart from Clef's
    on 127.0.0.1 (cookies are per host, not per port)."""
    port = free_port()
    issuer = f"http://{host}:{port}"
    database = tmp_path / f"{name}.sqlite3"
    shutil.copyfile(template, database)
    # Its own signing keys (made on its first token), not the broker's seeded ones.
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM oauth_signing_keys")
    app = create_app({
        "service": {"secret_key": UPSTREAM_SECRET, "base_url": issuer,
                     "instance_dir": str(tmp_path / f"{name}-instance")},
        "database": {"url": f"sqlite:///{database}"},
        "rate_limit": {"storage_url": "memory://"},
        "argon2": CHEAP_ARGON2,
    }, clock=clock)
    app.config["TESTING"] = True
    app.jinja_env.bytecode_cache = TEMPLATE_CODE
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                     daemon=True).start()
    return Partner(app, issuer, server)


def register_partner(broker: Flask, partner: Partner, name: str,
                     *extra: str, broker_url: str = BROKER,
                     broker_args: tuple[str, ...] = ()) -> Partner:
    """Both administrators' steps: the broker as a portal at the partner (``extra``
    options to its ``clients add``), then the partner at the broker with ``clef partners
    add`` (``broker_args`` more options; it prints the redirect URI)."""
    expected_id = len(run_cli(broker, "partners", "list").output.splitlines()) + 1
    redirect = f"{broker_url}/partners/{expected_id}/callback"
    result = run_cli(partner.app, "clients", "add", "--name", "Clef broker",
                     "--redirect-uri", redirect, "--trusted", *extra)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if line.startswith("client_"))
    partner.client_id = lines["client_id"].strip()
    added = broker.test_cli_runner().invoke(
        args=["partners", "add", "--name", name, "--issuer", partner.issuer,
              "--client-id", partner.client_id, *broker_args],
        input=lines["client_secret"].strip() + "\n")
    assert added.exit_code == 0, added.output
    assert f"redirect_uri   {redirect}" in added.output
    partner.partner_id = expected_id
    return partner


@pytest.fixture
def slow_bank(app: Flask, tmp_path: Path, sqlite_template: Path) -> Iterator[Partner]:
    """A partner whose clock is two hours behind the broker's: its ID tokens arrive
    already expired."""
    behind = FrozenClock()
    behind.advance(hours=-2)
    partner = register_partner(app, start_partner(tmp_path, sqlite_template, behind, "slow"),
                               "Banque Lente")
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


@pytest.fixture
def bank(app: Flask, tmp_path: Path, sqlite_template: Path, clock: FrozenClock) -> Iterator[Partner]:
    partner = register_partner(app, start_partner(tmp_path, sqlite_template, clock, "bank"),
                               "Banque Exemple")
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


def start_trip(browser: FlaskClient, partner: Partner, change: bool = False) -> str:
    """Choose the partner on Clef's page; returns the partner's authorization URL."""
    data = {"csrf_token": csrf(browser, "/partners/"), **({"change": "1"} if change else {})}
    response = browser.post(f"/partners/{partner.partner_id}/start", data=data)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    location = response.headers["Location"]
    assert location.startswith(partner.issuer + "/authorize?")
    return location


def at_partner(partner: Partner, authorize_url: str, username: str) -> str:
    """The person at the partner: signs in with both factors there; returns the URL the
    partner sends the browser back to (Clef's callback with code, state, iss)."""
    person = partner.app.test_client()
    first = person.get(path_of(authorize_url))
    if first.status_code == 303:
        sign_in_at(person, first.headers["Location"], username)
        back = pass_second_factor(partner.app, person, username)
        first = person.get(back.headers["Location"])
    assert first.status_code == 302, first.get_data(as_text=True)[:500]
    return first.headers["Location"]


@pytest.fixture
def credit_union(app: Flask, bank: Partner, tmp_path: Path, sqlite_template: Path,
                 clock: FrozenClock) -> Iterator[Partner]:
    """A second partner (registered after ``bank``), to change to."""
    partner = register_partner(app, start_partner(tmp_path, sqlite_template, clock, "union"),
                               "Caisse Exemple")
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()
