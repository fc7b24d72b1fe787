"""The consent answer's writes go with its code (issue 11, ``idp.oidc.authorize_writes``:
one statement on PostgreSQL, one after the other on SQLite), attacked: each row must
be this person's, this portal's and this request's, and an answer that gets no code
(a replay, a refusal, no session, a portal gone) must write none of them."""

from __future__ import annotations

from typing import Any, get_args

from flask import Flask
from sqlalchemy import delete, func, select

from idp import audit, session_rows
from idp.oidc.models import Consent, OAuthClient, PortalSession
from tests.oidc.conftest import full_flow
from tests.oidc.rp import Request
from tests.oidc.test_issue11_authorize_one_read import _signed_in_at_consent
from tests.oidc.test_sign_in_handoff import untrusted
from tests.perf.test_flow_statements import codes
from tests.support.accounts import create_account
from tests.support.records import audit_events
from tests.support.screens import csrf_from, sign_out_via


def _rows(app: Flask, model: Any) -> list[Any]:
    with app.extensions["clef"].session_factory() as db:
        return list(db.scalars(select(model)))


def _writes(app: Flask) -> tuple[int, int, int, int, int]:
    """Codes, consents, portal sessions, consent and authorization audit rows."""
    with app.extensions["clef"].session_factory() as db:
        counted = [db.scalar(select(func.count()).select_from(m)) or 0
                   for m in (Consent, PortalSession)]
    return (codes(app), *counted, len(audit_events(app, audit.OIDC_CONSENT)),
            len(audit_events(app, audit.OIDC_AUTHORIZED)))


def test_allow_writes_the_persons_consent_portal_session_audit_and_code(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    before = _writes(app)
    allowed = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert "code" in jobs.callback(allowed)
    assert _writes(app) == tuple(n + 1 for n in before)
    (consent,) = _rows(app, Consent)
    (portal_session,) = _rows(app, PortalSession)
    alice_id = audit_events(app, audit.OIDC_CONSENT)[-1].account_id
    assert (consent.client_id, consent.scope, consent.account_id) == (jobs.client_id, "openid",
                                                                     alice_id)
    assert (portal_session.client_id, portal_session.account_id) == (jobs.client_id, alice_id)
    details = audit_events(app, audit.OIDC_AUTHORIZED)[-1]
    assert (details.actor, details.details["client"]) == ("alice", jobs.client_id)


def test_the_same_answer_replayed_writes_nothing_more(app: Flask, clock) -> None:
    """S35: the nonce's unique index refuses the second code, and with it the consent
    rewrite, the portal session and both audit rows of that answer."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    assert "code" in jobs.callback(browser.post(action, data=form))
    written = _writes(app)
    (granted,) = _rows(app, Consent)
    clock.advance(minutes=1)
    replay = jobs.callback(browser.post(action, data=form))
    assert "code" not in replay and replay["error"] == "invalid_request"
    assert _writes(app) == written
    (consent,) = _rows(app, Consent)
    assert consent.granted_at == granted.granted_at, "the refused answer rewrote nothing"
    assert browser.get("/account").status_code == 200


def test_a_refusal_writes_no_consent_no_portal_session_no_code(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    before = _writes(app)
    refused = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "deny"})
    assert jobs.callback(refused)["error"] == "access_denied"
    assert _writes(app) == before


def test_without_or_with_another_sessions_csrf_token_nothing_is_written(app: Flask) -> None:
    create_account(app, "alice")
    create_account(app, "bob")
    jobs = untrusted(app)
    browser, action, _page = _signed_in_at_consent(app, jobs, "alice")
    _other, _other_action, bobs_page = _signed_in_at_consent(app, jobs, "bob")
    before = _writes(app)
    for form in ({"decision": "allow"}, {"csrf_token": csrf_from(bobs_page), "decision": "allow"}):
        refused = browser.post(action, data=form)
        assert refused.status_code == 400 and "Location" not in refused.headers
    assert _writes(app) == before


def test_after_sign_out_the_answer_writes_nothing(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    sign_out_via(browser)
    before = _writes(app)
    answer = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert "code=" not in answer.headers.get("Location", "") and answer.status_code >= 300
    assert _writes(app) == before


def test_another_persons_request_answered_is_that_persons_own_consent(app: Flask) -> None:
    """Bob posting the request Alice was shown (the URL is no secret): the rows are
    Bob's, made with his session and CSRF token; Alice gets nothing."""
    create_account(app, "alice")
    create_account(app, "bob")
    jobs = untrusted(app)
    _alice, alices_action, _page = _signed_in_at_consent(app, jobs, "alice")
    bob, _bobs_action, bobs_page = _signed_in_at_consent(app, jobs, "bob")
    allowed = bob.post(alices_action, data={"csrf_token": csrf_from(bobs_page),
                                            "decision": "allow"})
    assert "code" in jobs.callback(allowed)
    bob_id = audit_events(app, audit.OIDC_CONSENT)[-1].account_id
    assert [c.account_id for c in _rows(app, Consent)] == [bob_id]
    assert [p.account_id for p in _rows(app, PortalSession)] == [bob_id]
    assert {e.actor for e in audit_events(app, audit.OIDC_AUTHORIZED)} == {"bob"}


def test_a_portal_removed_between_the_page_and_the_answer_writes_nothing(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    with app.extensions["clef"].session_factory() as db:
        db.execute(delete(OAuthClient).where(OAuthClient.client_id == jobs.client_id))
        db.commit()
    before = _writes(app)
    answer = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert answer.status_code == 400 and "Location" not in answer.headers  # S31
    assert _writes(app) == before


def test_a_trusted_portal_writes_portal_session_audit_and_code_without_consent(app: Flask,
                                                                               portal) -> None:
    create_account(app, "alice")
    full_flow(portal)
    assert _rows(app, Consent) == []
    assert [p.client_id for p in _rows(app, PortalSession)] == [portal.client_id]
    assert len(audit_events(app, audit.OIDC_AUTHORIZED)) == 1
    full_flow(portal, req=Request())  # a second sign-in: its own session's row
    assert len(_rows(app, PortalSession)) == 2 and codes(app) == 2


def test_take_pending_takes_all_or_none(app: Flask) -> None:
    """``audit.take_pending``: every row waiting, or none beyond the limit (those are
    written at the commit as usual); taken rows are not written twice."""
    from idp.runtime import db

    with app.test_request_context():
        now = app.extensions["clef"].clock.now()
        for n in range(3):
            audit.record(db(), now, audit.ADMIN_VIEW, actor=f"a{n}")
        assert audit.take_pending(db(), 2) == []
        taken = audit.take_pending(db(), 3)
        assert [row["actor"] for row in taken] == ["a0", "a1", "a2"]
        assert audit.take_pending(db(), 3) == [] and not audit.unwritten(db())
        db().commit()
    assert audit_events(app, audit.ADMIN_VIEW) == []


def test_every_shape_of_the_combined_statement_is_compiled_once() -> None:
    """A statement SQLAlchemy cannot key is compiled at every request (3,500 calls on
    PostgreSQL): each shape the view can make must have a cache key."""
    from idp.oidc.authorize_writes import MAX_AUDIT_ROWS, _combined

    shapes: tuple[Any, ...] = (None, *get_args(session_rows.WriteShape))  # the session's write
    for consent in (False, True):
        for portal_session in (False, True):
            for rows in range(MAX_AUDIT_ROWS + 1):
                for session in shapes:
                    key = _combined(consent, portal_session, rows, session)._generate_cache_key()
                    assert key is not None, (consent, portal_session, rows, session)
