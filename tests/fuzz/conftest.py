"""The world a fuzz case runs in, and the checks every answer must pass.

Each case (one form, one endpoint) gets its own app and accounts, built once and shared
by all its Hypothesis examples: alice (app codes, a confirmed email, security questions,
real recovery codes), bob (a confirmed email, no second factor yet: the set-up screens),
and, on first use, two portals: one trusted, one that asks for consent. Rate limits are raised and
the lockout threshold is set high, so examples reach the code behind them rather than a
429 after the fifth one. Examples are bounded (profile ``clef``; ``CLEF_FUZZ_EXAMPLES``
raises them for a longer hunt), so the module stays fast on both databases.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from werkzeug.wrappers import Response

from mfa.runtime import EXTENSION_KEY as MFA_KEY
from tests.conftest import TEST_SECRET
from tests.helpers import (
    GOOD_PASSWORD,
    TEST_TOTP_SECRET,
    create_account,
    pass_second_factor,
    sign_in,
)
from tests.oidc.rp import RelyingParty, register_client
from tests.recovery.conftest import MailWaitingClient
from tests.recovery.flows import ANSWER, PERSON, set_questions
from tests.snapshots import changed_tables, table_rows

settings.register_profile(
    "clef",
    max_examples=int(os.environ.get("CLEF_FUZZ_EXAMPLES", "8")),
    deadline=None,
    database=None,  # no example database written into the work tree
    # CI replays the same examples each run, so a merge is never blocked by a new find
    # that has nothing to do with it; a developer's run explores fresh ones.
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
FUZZ = settings.get_profile("clef")

CALLBACK = "https://portal.example/callback"
LOGGED_OUT = "https://portal.example/signed-out"
UNLIMITED = "100000/minute"
# Tables a refused request may change by design: the audit log, attempt counters
# (S7, D1, D4), an emailed code's wrong tries (S16), a reset flow that restarts, the
# signing keys made on first use (S42). Every other table must be as it was (sessions
# are never compared: every page renews the form token).
CHANGED_BY_REFUSAL = ("audit_events", "login_throttles", "email_codes",
                      "recovery_answer_limits", "recovery_reset_flows", "oauth_signing_keys")
TRACE_MARKERS = ("Traceback (most recent call last)", 'File "/', "PRIVATE KEY")


@dataclass
class World:
    app: Flask
    # repr=False: a failing example's report prints the world, not its secrets.
    caplog: pytest.LogCaptureFixture = field(repr=False)
    secrets: list[str] = field(repr=False)
    portals: dict[str, RelyingParty] = field(default_factory=dict, repr=False)
    clients: dict[str, FlaskClient] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    seen_records: int = 0

    def browser(self, state: str, prepare: Callable[[World], FlaskClient]) -> FlaskClient:
        """The browser in ``state``, prepared once per case."""
        if state not in self.clients:
            self.clients[state] = prepare(self)
        return self.clients[state]

    def portal(self, trusted: bool) -> RelyingParty:
        """A confidential portal, registered on first use: a trusted one (no consent
        screen) or one that asks for consent. Its secret joins the secrets."""
        name = "trusted" if trusted else "consenting"
        if name not in self.portals:
            extra = ["--trusted"] if trusted else []
            client_id, secret = register_client(
                self.app, "--name", f"{name} portal", "--redirect-uri", CALLBACK,
                "--post-logout-redirect-uri", LOGGED_OUT, *extra)
            assert secret
            self.secrets.append(secret)
            self.portals[name] = RelyingParty(self.app, client_id, secret, CALLBACK)
        return self.portals[name]

    def guarded(self) -> dict[str, list[tuple[Any, ...]]]:
        return table_rows(self.app, skip=CHANGED_BY_REFUSAL)

    def check(self, response: Response, before: dict[str, list[tuple[Any, ...]]] | None = None,
              refused: bool | None = None, sent: Iterable[str] = ()) -> None:
        """No 5xx, no stack trace, no secret in the answer or the log; a refused
        request (4xx, or ``refused``) left the guarded tables as they were. A secret
        the request itself ``sent`` may come back in its own form field (a typed
        answer is shown again under its error)."""
        body = response.get_data(as_text=True)
        assert response.status_code < 500, (response.status_code, body[:500])
        for marker in TRACE_MARKERS:
            assert marker not in body
        typed = " ".join(sent)
        for secret in self.secrets:
            if secret in typed:
                continue
            assert secret not in body, "a secret in the response"
            assert all(secret not in value for _, value in response.headers.items())
        self._check_log()
        if refused is None:
            refused = 400 <= response.status_code < 500
        if before is not None and refused:
            assert changed_tables(before, self.guarded()) == [], (response.status_code, body[:300])

    def _check_log(self) -> None:
        records = self.caplog.records[self.seen_records:]
        self.seen_records = len(self.caplog.records)
        for record in records:
            assert record.levelno < logging.ERROR, record.getMessage()
            line = logging.Formatter().format(record)  # the message and any trace
            for secret in self.secrets:
                assert secret not in line, "a secret in the log"


def _recovery_codes(app: Flask, account_id: int) -> list[str]:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        codes = app.extensions[MFA_KEY].recovery_codes.replace(db, account_id, svc.clock.now())
        db.commit()
        return [str(code) for code in codes]
    finally:
        db.close()


@pytest.fixture
def world(make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture) -> Iterator[World]:
    caplog.set_level(logging.INFO)
    limits = {name: UNLIMITED for name in (
        "signin_per_ip", "register_per_ip", "email_code_per_ip", "second_factor_per_ip",
        "token_per_ip", "forgot_username_per_ip", "forgot_username_per_address",
        "forgot_password_per_ip")}
    app = make_app(rate_limit=limits, lockout={"threshold": 90})
    app.test_client_class = MailWaitingClient
    alice = create_account(app, "alice", email_address="alice@example.org", confirmed=True)
    create_account(app, "bob", email_address="bob@example.org", confirmed=True,
                   second_factor=None)
    set_questions(app, alice.id)
    secrets = [GOOD_PASSWORD, TEST_SECRET, TEST_TOTP_SECRET, ANSWER, PERSON,
               *_recovery_codes(app, alice.id)]
    yield World(app, caplog, secrets)


# --- Browsers in the states the forms need ------------------------------------------

def anonymous(world: World) -> FlaskClient:
    return world.app.test_client()


def password_step(world: World) -> FlaskClient:
    """Alice past her password, at the second step."""
    client = world.app.test_client()
    assert sign_in(client, "alice").status_code == 303
    return client


def enrolment(world: World) -> FlaskClient:
    """Bob past his password, with no second factor: the set-up screens (J8)."""
    client = world.app.test_client()
    assert sign_in(client, "bob").status_code == 303
    return client


def signed_in(world: World) -> FlaskClient:
    """Alice signed in with both factors, just now (fresh, S14)."""
    client = password_step(world)
    pass_second_factor(world.app, client, "alice")
    return client
