"""The sign-in flow's statements and commits per request (issue 11), and the abuse of
each step they changed: a form replayed, two tabs, a step skipped, a session id from
before sign-in, ``prompt=login`` from an anonymous visitor.

Counts are exact where the step's work is fixed (the bench's per-request table shows
the same numbers over HTTP)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, func, select
from werkzeug.test import TestResponse

from idp.oidc.models import AuthorizationCode
from tests.helpers import create_account
from tests.oidc.rp import RelyingParty, Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.support.accounts import GOOD_PASSWORD, fresh_totp
from tests.support.screens import csrf_from


@dataclass
class Seen:
    statements: list[str] = field(default_factory=list)
    commits: int = 0

    def count(self, prefix: str) -> int:
        return sum(s.startswith(prefix) for s in self.statements)

    def mentions(self, part: str) -> int:
        """Statements holding ``part`` anywhere (a data-modifying CTE's INSERT too)."""
        return sum(part in s for s in self.statements)


@contextmanager
def seen(app: Flask) -> Iterator[Seen]:
    engine = app.extensions["clef"].engine
    record = Seen()

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        record.statements.append(" ".join(statement.split()))

    def on_commit(*_args: object) -> None:
        record.commits += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield record
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)


def measured(app: Flask, call: Callable[[], TestResponse]) -> tuple[TestResponse, Seen]:
    with seen(app) as record:
        response = call()
    return response, record


def codes(app: Flask) -> int:
    with app.app_context():
        from idp.runtime import db
        return int(db().scalar(select(func.count()).select_from(AuthorizationCode)) or 0)


def to_consent(app: Flask, jobs: RelyingParty, browser: FlaskClient,
               req: Request) -> tuple[str, TestResponse]:
    """Authorize, sign in with both factors; returns the request's path and its consent page."""
    first = browser.get(jobs.authorize_url(req))
    page = browser.get(first.headers["Location"])
    browser.post("/signin", data={"csrf_token": csrf_from(page), "username": "alice",
                                  "password": GOOD_PASSWORD})
    code = fresh_totp(app, "alice")
    challenge = browser.get("/2fa/challenge")
    back = browser.post("/2fa/challenge", data={"code": code,
                                                "csrf_token": csrf_from(challenge)})
    action = back.headers["Location"]
    return action, browser.get(action)


def test_each_step_of_the_consent_flow_reads_and_commits_what_it_needs(app: Flask,
                                                                       backend: str) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    req = Request()

    first, step = measured(app, lambda: browser.get(jobs.authorize_url(req)))
    assert first.status_code == 303
    # An anonymous visitor without prompt=login: nothing to keep yet, no session row.
    assert (step.commits, step.count("INSERT INTO sessions")) == (0, 0), step.statements
    assert "Set-Cookie" not in first.headers
    # The portal's row with the nonce's use beside it: one statement (issue 11).
    assert len(step.statements) == 1 and step.count("SELECT oauth_codes") == 0, step.statements

    _page, step = measured(app, lambda: browser.get(first.headers["Location"]))
    # The form's token and ``next`` in the visitor's cookie, signed: no row (D15).
    assert (step.commits, len(step.statements)) == (0, 0), step.statements
    again, step = measured(app, lambda: browser.get(first.headers["Location"]))
    assert (step.commits, len(step.statements)) == (0, 0), "the same next again: no write"

    signed, step = measured(app, lambda: browser.post("/signin", data={
        "csrf_token": csrf_from(again), "username": "alice", "password": GOOD_PASSWORD}))
    assert signed.status_code == 303 and step.commits == 2  # the claim first (D4, S7)
    # The claim reading the account (idp.claimed_account), clear, the session's row
    # inserted under its new token (S20; the visitor had none to read or move, D15),
    # audit; on PostgreSQL the clear carries the audit row and the insert as CTEs
    # (idp.password_step_writes), alone.
    assert step.mentions("INSERT INTO sessions") == 1
    assert step.mentions("UPDATE sessions") == step.mentions("DELETE FROM sessions") == 0
    assert step.count("SELECT sessions") == 0, "a visitor's session is its cookie"
    assert step.count("SELECT accounts") == 0, "the account comes with the claim"
    postgresql = app.extensions["clef"].engine.dialect.name == "postgresql"
    assert len(step.statements) == (2 if postgresql else 4), step.statements
    if postgresql:
        assert step.statements[-1].startswith("WITH audit0 AS (INSERT INTO audit_events")
        assert "session_insert AS (INSERT INTO sessions" in step.statements[-1]

    challenge, step = measured(app, lambda: browser.get("/2fa/challenge"))
    assert challenge.status_code == 200 and step.commits == 0
    assert step.count("SELECT partner_links") == 0, "a password step is no partner identity"
    # The session with its account, its factor and the count of its keys, in one
    # statement (mfa.factors.CHALLENGE_RIDER): one, not three.
    assert step.count("SELECT accounts") == 0, step.statements
    assert step.count("SELECT count(*) AS count_1 FROM security_keys") == 0
    assert step.count("SELECT (SELECT count(*) AS count_1 FROM security_keys") == 0
    assert len(step.statements) == 1, step.statements
    assert "LEFT OUTER JOIN second_factors" in step.statements[0]

    code = fresh_totp(app, "alice")
    back, step = measured(app, lambda: browser.post(
        "/2fa/challenge", data={"code": code, "csrf_token": csrf_from(challenge)}))
    # SQLite: the claim, the code's step, the clear, the audit row and the move: one
    # commit (Throttle.claim_with_check), the claim its first write. PostgreSQL: the
    # claim committed alone (S7), then the code's step, the clear, the audit row and the
    # move (conditional on the code's step) in one statement, alone in autocommit
    # (mfa.second_step_writes).
    assert back.status_code == 303 and step.commits == (2 if postgresql else 1)
    assert step.count("SELECT accounts") == 0, "the account came with the session row"
    assert step.mentions("UPDATE sessions SET id=") == 1
    assert step.mentions("DELETE FROM sessions") == 0
    # Session and account with factor and keys, claim, the code's step, clear, audit,
    # the move (and the account's last use, when it changed: not under the frozen clock).
    assert len(step.statements) == (3 if postgresql else 6), step.statements
    writes = [s.split()[0] for s in step.statements[1:]]
    assert step.statements[1].startswith("INSERT INTO login_throttles"), "counted first (S7)"
    assert writes == (["INSERT", "WITH"] if postgresql else
                      ["INSERT", "UPDATE", "DELETE", "INSERT", "UPDATE"]), step.statements
    assert step.count("SELECT count(*) AS count_1 FROM security_keys") == 0
    assert step.count("SELECT partner_links") == 0

    consent, step = measured(app, lambda: browser.get(back.headers["Location"]))
    assert consent.status_code == 200 and step.commits == 0, step.statements
    # The session with its account, the portal's row, the nonce's use and the consent
    # given, in one statement (idp.oidc.authorize_reads.AUTHORIZE_RIDER): one, not four.
    assert len(step.statements) == 1, step.statements
    assert "LEFT OUTER JOIN oauth_clients" in step.statements[0]
    assert step.count("SELECT oauth_consents") == step.count("SELECT oauth_codes") == 0

    allowed, step = measured(app, lambda: browser.post(back.headers["Location"], data={
        "csrf_token": csrf_from(consent), "decision": "allow"}))
    assert "code" in jobs.callback(allowed)
    assert step.count("SELECT accounts") == 0, "the account came with the session row"
    assert jobs.callback(allowed)["iss"]  # RFC 9207 still added (S38)
    assert step.commits == 1, "consent, portal session, audit, session and code together"
    assert step.count("SELECT oauth_consents") == 0, "the answer decides: one upsert"
    assert step.mentions("INSERT INTO oauth_consents") == 1
    # The nonce is checked by the unique index when the code is written (S35).
    assert step.count("SELECT oauth_codes") == 0
    assert step.count("SELECT oauth_portal_sessions") == 0, "a sid made now has none"
    # The two audit rows go in one INSERT on both databases (idp.audit batches them).
    assert step.mentions("INSERT INTO audit_events") == 1, step.statements
    assert step.mentions("INSERT INTO oauth_portal_sessions") == 1
    assert step.mentions("INSERT INTO oauth_codes") == 1
    # The session with its account and the portal's row, then the consent, the portal
    # session, the audit rows and the code: on PostgreSQL one statement (the code's
    # INSERT with the others as CTEs, idp.oidc.authorize_writes), on SQLite four; the
    # session's row (its new sid) at the commit, or on PostgreSQL in that statement too.
    assert "LEFT OUTER JOIN oauth_clients" in step.statements[0]
    if backend == "postgresql":
        assert step.count("WITH consent AS (INSERT INTO oauth_consents") == 1, step.statements
        assert "session_change AS (UPDATE sessions SET data=" in step.statements[-1]
        assert len(step.statements) == 2, step.statements
    else:
        assert len(step.statements) == 6, step.statements


def test_the_consent_form_replayed_gets_no_second_code(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    action, consent = to_consent(app, jobs, browser, Request())
    form = {"csrf_token": csrf_from(consent), "decision": "allow"}
    assert "code" in jobs.callback(browser.post(action, data=form))
    replay = jobs.callback(browser.post(action, data=form))
    assert "code" not in replay and replay["error"] == "invalid_request"  # the nonce (S35)
    assert codes(app) == 1


def test_two_tabs_on_one_request_get_one_code(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    action, first_tab = to_consent(app, jobs, browser, Request())
    second_tab = browser.get(action)
    assert second_tab.status_code == 200
    assert "code" in jobs.callback(browser.post(action, data={
        "csrf_token": csrf_from(first_tab), "decision": "allow"}))
    late = jobs.callback(browser.post(action, data={
        "csrf_token": csrf_from(second_tab), "decision": "allow"}))
    assert "code" not in late
    assert codes(app) == 1


def test_consent_posted_before_the_second_factor_gets_nothing(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    req = Request()
    first = browser.get(jobs.authorize_url(req))
    page = browser.get(first.headers["Location"])
    token = csrf_from(page)
    browser.post("/signin", data={"csrf_token": token, "username": "alice",
                                  "password": GOOD_PASSWORD})
    skipped = browser.post(jobs.authorize_url(req), data={"csrf_token": token,
                                                          "decision": "allow"})
    assert skipped.status_code == 400 and "Location" not in skipped.headers
    assert codes(app) == 0


def test_a_session_id_from_before_sign_in_does_not_survive_it(app: Flask) -> None:
    """S20 with the anonymous session now made at the sign-in page, not at /authorize."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    req = Request()
    first = browser.get(jobs.authorize_url(req))
    assert browser.get_cookie("clef_session") is None
    browser.get(first.headers["Location"])
    before = browser.get_cookie("clef_session")
    assert before is not None
    action, consent = to_consent(app, jobs, browser, req)
    after = browser.get_cookie("clef_session")
    assert after is not None and after.value != before.value
    assert consent.status_code == 200
    attacker = app.test_client()  # holds the id fixed before the sign-in
    attacker.set_cookie("clef_session", before.value)
    held = attacker.get(action)
    assert held.status_code == 303 and "/signin" in held.headers["Location"]
    assert codes(app) == 0


def test_prompt_login_from_an_anonymous_visitor_comes_back_once(app: Flask) -> None:
    """The S37 marker is still kept when the request asks for a new sign-in: the
    request passes after it (no loop), and is not satisfied by the sign-in alone."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    req = Request()
    first = browser.get(jobs.authorize_url(req, prompt="login"))
    assert first.status_code == 303 and browser.get_cookie("clef_session") is not None
    page = browser.get(first.headers["Location"])
    browser.post("/signin", data={"csrf_token": csrf_from(page), "username": "alice",
                                  "password": GOOD_PASSWORD})
    code = fresh_totp(app, "alice")
    challenge = browser.get("/2fa/challenge")
    back = browser.post("/2fa/challenge", data={"code": code,
                                                "csrf_token": csrf_from(challenge)})
    consent = browser.get(back.headers["Location"])
    assert consent.status_code == 200, consent.headers.get("Location")
    allowed = browser.post(back.headers["Location"], data={
        "csrf_token": csrf_from(consent), "decision": "allow"})
    assert "code" in jobs.callback(allowed)
    # Another prompt=login request now sends the signed-in person round again.
    again = browser.get(jobs.authorize_url(Request(), prompt="login"))
    assert again.status_code == 303 and "/signin" in again.headers["Location"]


def test_a_double_clicked_sign_in_is_no_error(app: Flask) -> None:
    """Two POSTs of the password from one browser at once (a double click): both
    renew the same session row; neither may fail with a 500 (S20 renewal under a race)."""
    from tests.at_once import at_once, clones

    create_account(app, "alice")
    browser = app.test_client()
    token = csrf_from(browser.get("/signin"))
    tabs = clones(app, browser, 2)
    form = {"csrf_token": token, "username": "alice", "password": GOOD_PASSWORD}
    statuses = at_once(2, lambda i: tabs[i].post("/signin", data=form).status_code)
    assert all(status < 500 for status in statuses), statuses
    assert 303 in statuses


def test_a_portal_answered_twice_in_one_sign_in_keeps_one_portal_session(app: Flask) -> None:
    """The portal session is written by an insert that leaves an existing row alone:
    a second answer to the same portal in the same sign-in session neither fails nor
    duplicates it, and looks nothing up first (issue 11)."""
    from idp.oidc.models import PortalSession
    from idp.runtime import db

    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    action, consent = to_consent(app, jobs, browser, Request())
    assert "code" in jobs.callback(browser.post(action, data={
        "csrf_token": csrf_from(consent), "decision": "allow"}))
    again, step = measured(app, lambda: browser.get(jobs.authorize_url(Request())))
    assert "code" in jobs.callback(again)  # consent given: straight back with a code
    assert step.count("SELECT oauth_portal_sessions") == 0, step.statements
    assert step.mentions("INSERT INTO oauth_portal_sessions") == 1
    with app.app_context():
        assert db().scalar(select(func.count()).select_from(PortalSession)) == 1
