"""/authorize's portal, nonce and consent read with the session's row (issue 11,
``idp.oidc.authorize_reads.AUTHORIZE_RIDER``): the same answer as the read of its own,
and used only for the very portal, nonce and account it was read for; attacked with
another portal, another nonce, another person, a portal named only in the form, and a
query that names no possible portal. (The abuse tests of the read itself, which now
take this path when signed in, are in test_issue11_authorize_one_read.py.)"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Flask
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request as WerkzeugRequest

from idp import session_rows
from idp.oidc.authorize_reads import _CLIENT_KEYS, AUTHORIZE_PATH, AUTHORIZE_RIDER, carried, read
from idp.oidc.models import Consent
from idp.sessions import session_id
from tests.helpers import get_account
from tests.oidc.rp import RelyingParty, Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.support.accounts import create_account
from tests.support.records import session_token, statements_sent
from tests.support.screens import csrf_from, pass_second_factor, sign_in_at


def _signed_in(app: Flask, jobs: RelyingParty, username: str) -> tuple[Any, str, int]:
    """A browser signed in as ``username`` (both factors) through ``jobs``: the browser,
    its session key and the account's id."""
    browser = app.test_client()
    first = browser.get(jobs.authorize_url(Request()))
    sign_in_at(browser, first.headers["Location"], username)
    pass_second_factor(app, browser, username)
    token = session_token(app, browser)
    assert token is not None
    account = get_account(app, username)
    assert account is not None
    return browser, session_id(token), account.id


def _request(method: str = "GET", **query: str) -> WerkzeugRequest:
    return WerkzeugRequest(EnvironBuilder(path=AUTHORIZE_PATH, method=method,
                                          query_string=query).get_environ())


def _fields(found: Any) -> tuple[Any, ...]:
    client = None if found.client is None else tuple(getattr(found.client, k) for k in _CLIENT_KEYS)
    return (found.client_id, client, found.nonce_hash, found.nonce_used, found.account_id,
            found.consent_scope)


def test_what_rides_is_what_the_read_of_its_own_answers(app: Flask) -> None:
    """A portal with and without the person's consent, a nonce used before, a new one,
    none, and a portal that does not exist: the carried answer equals :func:`read`'s,
    column by column, and costs no statement of its own."""
    create_account(app, "alice")
    jobs = untrusted(app)
    other = untrusted(app)  # no consent from alice
    browser, key, account_id = _signed_in(app, jobs, "alice")
    used = Request()
    page = browser.get(jobs.authorize_url(used))
    allowed = browser.post(jobs.authorize_url(used), data={
        "csrf_token": csrf_from(page), "decision": "allow"})
    assert "code" in jobs.callback(allowed)  # consent given, this nonce used
    svc = app.extensions["clef"]
    cases = [(jobs.client_id, used.nonce), (jobs.client_id, "a-new-nonce"), (jobs.client_id, None),
             (other.client_id, "n"), ("no-such-portal", "n")]
    for client_id, nonce in cases:
        query = {"client_id": client_id, **({"nonce": nonce} if nonce else {})}
        with svc.session_factory() as db:
            alone = _fields(read(db, client_id, nonce, account_id))
        with svc.session_factory() as db:
            session_rows.read(db, key, AUTHORIZE_RIDER, _request(**query))
            with statements_sent(svc.engine) as sent:
                found = carried(db, client_id, nonce, account_id)
            assert sent == [] and found is not None, (client_id, nonce)
            assert _fields(found) == alone, (client_id, nonce)
    with svc.session_factory() as db:
        assert db.get(Consent, (account_id, jobs.client_id)) is not None  # the case was real


def test_it_answers_only_what_it_was_read_for(app: Flask) -> None:
    """Another portal, another nonce, another person, or asked twice: None, so the
    caller reads for itself."""
    create_account(app, "alice")
    jobs = untrusted(app)
    _browser, key, account_id = _signed_in(app, jobs, "alice")
    svc = app.extensions["clef"]
    asked = [("another-portal", "n", account_id), (jobs.client_id, "another-nonce", account_id),
             (jobs.client_id, None, account_id), (jobs.client_id, "n", account_id + 1)]
    for client_id, nonce, account in asked:
        with svc.session_factory() as db:
            session_rows.read(db, key, AUTHORIZE_RIDER,
                              _request(client_id=jobs.client_id, nonce="n"))
            assert carried(db, client_id, nonce, account) is None, (client_id, nonce, account)
    with svc.session_factory() as db:
        session_rows.read(db, key, AUTHORIZE_RIDER, _request(client_id=jobs.client_id, nonce="n"))
        assert carried(db, jobs.client_id, "n", account_id) is not None
        assert carried(db, jobs.client_id, "n", account_id) is None, "taken once"


def test_a_post_never_carries_the_querys_nonce(app: Flask) -> None:
    """The consent answer (a POST) reads no nonce (the code's unique index checks it,
    S35): what rode is for no nonce, whatever the query holds."""
    create_account(app, "alice")
    jobs = untrusted(app)
    _browser, key, account_id = _signed_in(app, jobs, "alice")
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        session_rows.read(db, key, AUTHORIZE_RIDER,
                          _request("POST", client_id=jobs.client_id, nonce="n"))
        found = carried(db, jobs.client_id, None, account_id)
        assert found is not None and found.nonce_hash is None and not found.nonce_used


def test_a_query_that_names_no_possible_portal_reads_the_session_alone(app: Flask) -> None:
    """No client_id, or one longer than any: the session is read without the join."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, _key, _account_id = _signed_in(app, jobs, "alice")
    engine = app.extensions["clef"].engine
    for query in ("", "?client_id=" + "x" * 65, "?client_id="):
        with statements_sent(engine) as sent:
            page = browser.get(AUTHORIZE_PATH + query)
        assert page.status_code == 400, query
        assert sent and "oauth_clients" not in sent[0], (query, sent)


def test_a_portal_named_only_in_the_form_is_read_as_before(app: Flask) -> None:
    """The consent form posts to the request's own query; a POST that names its portal
    only in its body rides nothing and is answered as the read of its own answers."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    req = Request()
    first = browser.get(jobs.authorize_url(req))
    sign_in_at(browser, first.headers["Location"], "alice")
    back = pass_second_factor(app, browser, "alice")
    consent = browser.get(back.headers["Location"])
    assert consent.status_code == 200
    query = dict(parse_qsl(urlsplit(back.headers["Location"]).query))
    engine = app.extensions["clef"].engine
    with statements_sent(engine) as sent:
        answered = browser.post(AUTHORIZE_PATH, data={
            **query, "csrf_token": csrf_from(consent), "decision": "allow"})
    assert "oauth_clients" not in sent[0], sent
    assert any(s.startswith("SELECT oauth_clients") for s in sent), "read as before"
    assert "code" in jobs.callback(answered)  # answered as before: a code


def test_only_authorize_pays_for_the_join(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, _key, _account_id = _signed_in(app, jobs, "alice")
    engine = app.extensions["clef"].engine
    for path in ("/", "/account"):
        with statements_sent(engine) as sent:
            browser.get(path)
        assert sent and all("oauth_clients" not in s for s in sent[:1]), (path, sent)
