"""Round trips per request of the sign-in flow on the database (issue 11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from tests.helpers import create_account
from tests.oidc.rp import Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.perf.round_trips import Trips, round_trips
from tests.support.accounts import GOOD_PASSWORD, fresh_totp
from tests.support.screens import csrf_from


def flow_trips(app: Flask, username: str, jobs: Any, browser: Any = None,
               tokens: dict[str, Any] | None = None) -> dict[str, Trips]:
    """The bench's eight requests, each with what it cost the database (and the tokens
    issued, into ``tokens`` when given)."""
    engine = app.extensions["clef"].engine
    browser = browser or app.test_client()
    req = Request()
    steps: dict[str, Trips] = {}

    def step(name: str, call: Callable[[], TestResponse]) -> TestResponse:
        with round_trips(engine) as trips:
            response = call()
        steps[name] = trips
        return response

    first = step("GET /authorize", lambda: browser.get(jobs.authorize_url(req)))
    page = step("GET /signin", lambda: browser.get(first.headers["Location"]))
    step("POST /signin", lambda: browser.post("/signin", data={
        "csrf_token": csrf_from(page), "username": username, "password": GOOD_PASSWORD}))
    code = fresh_totp(app, username)
    challenge = step("GET /2fa/challenge", lambda: browser.get("/2fa/challenge"))
    back = step("POST /2fa/challenge", lambda: browser.post(
        "/2fa/challenge", data={"code": code, "csrf_token": csrf_from(challenge)}))
    consent = step("GET /authorize (consent)", lambda: browser.get(back.headers["Location"]))
    allowed = step("POST /authorize", lambda: browser.post(back.headers["Location"], data={
        "csrf_token": csrf_from(consent), "decision": "allow"}))
    issued = step("POST /token", lambda: jobs.exchange(browser, jobs.callback(allowed)["code"], req))
    if tokens is not None:
        tokens.update(issued.get_json())
    return steps


# Per request of the flow on PostgreSQL, warm (the second flow of the app, as the bench
# measures): (statements, BEGIN, COMMIT, ROLLBACK). Before issue 11's changes: 41
# statements + 10 BEGIN + 7 COMMIT + 3 ROLLBACK = 61 round trips; then 32 + 4 + 4 = 40
# (reads outside transactions; fewer statements in the POSTs and the token request);
# now 29 + 4 + 4 = 37 (/authorize reads its client, the nonce's use and the consent in
# one statement: idp.oidc.authorize_reads); now 28 + 4 + 4 = 36 (the challenge reads its
# factor and the count of keys in one: mfa.factors.get_challenge); the password step's
# claim reads the account (idp.claimed_account) and its clear carries the audit row
# (idp.password_step_writes): two statements less; the code exchange's claim and its
# tokens' INSERT are one statement in autocommit (idp.oidc.tokens ``_exchange``): 4 -> 1
# round trip; the second step's claim alone, then its code's guard, the counts' clear and
# the audit row in one statement (mfa.second_step_writes): 9 -> 7;
# the session's write (the password step's move, the consent's changed data) rides in the
# step's statement as a CTE (idp.session_rows.take_pending_write), sent alone in
# autocommit: 31 -> 20 in all; the second step's renewal in its code guard's statement
# (conditional on the guard, mfa.second_step_writes), alone in autocommit: 20 -> 17; the
# challenge's factor and keys read with its session's row (mfa.factors.CHALLENGE_RIDER),
# on its GET and its POST: 17 -> 15; the consent page's and its answer's portal, nonce
# and consent read with the session's row (idp.oidc.authorize_reads.AUTHORIZE_RIDER):
# 15 -> 13; a visitor's form token and ``next`` in its cookie, signed, not in a row
# (idp.visitor_cookie, D15): the sign-in page writes nothing and the password step has no
# session to read: 13 -> 11.
POSTGRESQL = {
    "GET /authorize": (1, 0, 0, 0),            # one read (client + nonce): no BEGIN
    "GET /signin": (0, 0, 0, 0),               # nothing: the visitor's cookie (D15)
    # The claim alone (S7), reading the account (idp.claimed_account), then the step,
    # the clear with the audit row (idp.password_step_writes): 6 -> 4 (h-signin); and
    # the session's move (S20) in the same statement, alone in autocommit: 6 -> 3 (h-a);
    # no session row to read, the new one inserted in that statement (D15): 3 -> 2.
    "POST /signin": (2, 0, 0, 0),
    "GET /2fa/challenge": (1, 0, 0, 0),        # the session with its factor + keys
    # The session and the factor; the claim alone (S7); then the guard + the clear + the
    # audit row in one statement, the session's renewal: 9 -> 7 (h-b); the renewal in
    # that statement, conditional on the guard, alone in autocommit: 7 -> 4 (h-e); the
    # factor read with the session: 4 -> 3.
    "POST /2fa/challenge": (3, 0, 0, 0),
    "GET /authorize (consent)": (1, 0, 0, 0),  # the session with client + nonce + consent
    # The session, the client, then consent + portal session + audit + code in one
    # statement (idp.oidc.authorize_writes), the session's row: 7 -> 4 (h-consent);
    # the session's changed data in that statement, alone in autocommit: 6 -> 3 (h-a);
    # the client read with the session: 3 -> 2.
    "POST /authorize": (2, 0, 0, 0),
    # The claim (and the request's checks) with the tokens' INSERT as CTEs, in
    # autocommit: no BEGIN, no COMMIT (Tokens.exchange_code_on): (2, 1, 1, 0) -> this.
    "POST /token": (1, 0, 0, 0),
}


def test_the_flow_sends_no_transaction_a_request_does_not_need(app: Flask, backend: str) -> None:
    create_account(app, "alice")
    create_account(app, "bob")
    jobs = untrusted(app)
    flow_trips(app, "bob", jobs)  # caches filled (signing keys, the portal's row), as on
    steps = flow_trips(app, "alice", jobs)  # a server after a while
    got = {name: trips.summary() for name, trips in steps.items()}
    if backend == "postgresql":
        assert got == POSTGRESQL, {name: steps[name].log for name in steps}
        assert sum(trips.total for trips in steps.values()) == 11
    # The same statements and commits on SQLite, whose driver begins only before a write,
    # but for the consent POST's writes: one after the other there (no data-modifying
    # CTEs in SQLite, and no round trip to save).
    if backend != "postgresql":
        statements = {name: s[0] for name, s in POSTGRESQL.items()}
        statements["POST /authorize"] = 6
        statements["POST /signin"] = 4  # the clear, the audit row, the session apart
        statements["POST /token"] = 2  # the claim, then the tokens' INSERT
        statements["POST /2fa/challenge"] = 6  # the guard, the clear, the audit row apart
        assert {name: s[0] for name, s in got.items()} == statements
    assert all(s[3] == 0 for s in got.values()), "no request ends with a ROLLBACK"


def test_userinfo_is_one_statement_and_no_transaction(app: Flask) -> None:
    """UserInfo's read (idp.oidc.userinfo_endpoint.read_bearer) opens no transaction on
    either database: one round trip, on PostgreSQL through idp.db's autocommit reads."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    tokens: dict[str, Any] = {}
    flow_trips(app, "alice", jobs, browser, tokens)
    engine = app.extensions["clef"].engine
    for _ in range(2):  # the second on a pooled connection the first returned
        with round_trips(engine) as trips:
            response = browser.get("/userinfo", headers={
                "Authorization": f"Bearer {tokens['access_token']}"})
        assert response.status_code == 200
        assert trips.summary() == (1, 0, 0, 0), trips.log

