"""A nonce is accepted once per portal (replayed authorization requests), looked up by
its hash through an index (issue 11), whatever its length."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from idp import audit
from idp.oidc.server import ClefOpenIDCode
from tests.oidc.conftest import full_flow
from tests.oidc.rp import Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.perf.test_flow_statements import codes, to_consent
from tests.support.accounts import create_account
from tests.support.records import audit_events
from tests.support.screens import csrf_from


def _error_of(response) -> str | None:
    query = parse_qs(urlsplit(response.headers.get("Location", "")).query)
    return query.get("error", [None])[0]


def test_s35_a_nonce_seen_before_is_refused_for_that_portal(portal, alice):
    first = full_flow(portal, req=Request(nonce="n-replayed"))
    replay = first.browser.get(portal.authorize_url(Request(nonce="n-replayed")))
    assert replay.status_code in (302, 303) and _error_of(replay) == "invalid_request"
    fresh = first.browser.get(portal.authorize_url(Request(nonce="n-new")))
    assert _error_of(fresh) is None


def test_a_long_nonce_is_stored_and_its_replay_refused(portal, alice):
    browser = full_flow(portal).browser  # signed in: the next requests come straight back
    long_nonce = "n" * 4000  # more than a B-tree entry on the text itself could hold
    issued = browser.get(portal.authorize_url(Request(nonce=long_nonce)))
    assert "code" in portal.callback(issued)
    replay = browser.get(portal.authorize_url(Request(nonce=long_nonce)))
    assert _error_of(replay) == "invalid_request"


def test_s35_two_answers_to_one_request_at_the_same_instant_write_one_code(app, monkeypatch):
    """Two tabs' consent posts of one request, both past the replay check before either
    wrote its code (the check reads; simulated by letting it see nothing): the unique
    index on the client and the nonce's hash lets one code be written; the other answer
    is an invalid_request redirect and leaves no code, portal session or audit row."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    action, first_tab = to_consent(app, jobs, browser, Request(nonce="n-raced"))
    second_tab = browser.get(action)
    monkeypatch.setattr(ClefOpenIDCode, "exists_nonce", lambda self, nonce, request: False)
    won = jobs.callback(browser.post(action, data={
        "csrf_token": csrf_from(first_tab), "decision": "allow"}))
    authorized = len(audit_events(app, audit.OIDC_AUTHORIZED))
    lost = jobs.callback(browser.post(action, data={
        "csrf_token": csrf_from(second_tab), "decision": "allow"}))
    assert "code" in won
    assert "code" not in lost and lost["error"] == "invalid_request"
    assert codes(app) == 1
    assert len(audit_events(app, audit.OIDC_AUTHORIZED)) == authorized
    assert browser.get("/account").status_code == 200  # still signed in, no 500 on the way
