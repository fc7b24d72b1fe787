"""/authorize reads its portal's row, the nonce's use and the signed-in person's consent
in one statement (issue 11, ``idp.oidc.authorize_reads``), attacked: each answer must
be about this portal, this nonce and this person only, and read fresh at every request
(a portal changed or removed on another instance is seen at once, S31)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from flask import Flask
from sqlalchemy import update

from idp.oidc.models import OAuthClient
from tests.oidc.conftest import CALLBACK, full_flow
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.oidc.test_sign_in_handoff import untrusted
from tests.support.accounts import create_account
from tests.support.app import run_cli
from tests.support.screens import csrf_from, pass_second_factor, sign_in_at


def _error_of(response) -> str | None:
    query = parse_qs(urlsplit(response.headers.get("Location", "")).query)
    return query.get("error", [None])[0]


def _signed_in_at_consent(app: Flask, jobs: RelyingParty, username: str):
    """A browser signed in as ``username`` through ``jobs``'s request: (browser, the
    request's path, its consent page)."""
    browser = app.test_client()
    first = browser.get(jobs.authorize_url(Request()))
    sign_in_at(browser, first.headers["Location"], username)
    back = pass_second_factor(app, browser, username)
    return browser, back.headers["Location"], browser.get(back.headers["Location"])


def _change_elsewhere(make_app: Callable[..., Flask], client_id: str, **values) -> None:
    """Another instance changes the portal's row (as ``clef clients`` would): this
    instance is not told."""
    other = make_app()
    with other.extensions["clef"].session_factory() as db:
        db.execute(update(OAuthClient).where(OAuthClient.client_id == client_id)
                   .values(revision=OAuthClient.revision + 1, **values))
        db.commit()


def test_a_nonce_used_with_another_portal_is_no_replay_here(app, portal, alice):
    full_flow(portal, req=Request(nonce="n-shared"))
    other = untrusted(app)
    browser = app.test_client()
    first = browser.get(other.authorize_url(Request(nonce="n-shared")))
    assert first.status_code == 303 and "/signin" in first.headers["Location"]


def test_a_replayed_nonce_is_refused_for_a_new_visitor_too(app, portal, alice):
    """The nonce's use comes with the client's row: a new visitor's first GET (no
    session) is refused at once, as before, not sent to sign in first."""
    full_flow(portal, req=Request(nonce="n-replayed"))
    replay = app.test_client().get(portal.authorize_url(Request(nonce="n-replayed")))
    assert replay.status_code == 302 and _error_of(replay) == "invalid_request"
    assert replay.headers["Location"].startswith(CALLBACK)


def test_a_replayed_nonce_never_reaches_the_consent_page(app):
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    nonce = parse_qs(urlsplit(action).query)["nonce"][0]
    allowed = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert "code" in jobs.callback(allowed)
    again = browser.get(jobs.authorize_url(Request(nonce=nonce), prompt="consent"))
    assert _error_of(again) == "invalid_request"


def test_a_consent_post_replayed_gets_no_second_code(app):
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    assert "code" in jobs.callback(browser.post(action, data=form))
    replay = browser.post(action, data=form)
    assert "code" not in jobs.callback(replay) and _error_of(replay) == "invalid_request"


def test_someone_elses_consent_does_not_skip_the_page(app):
    create_account(app, "alice")
    create_account(app, "bob")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "bob")
    assert "code" in jobs.callback(browser.post(action, data={
        "csrf_token": csrf_from(page), "decision": "allow"}))
    assert "code" in jobs.callback(browser.get(jobs.authorize_url(Request())))  # bob: given
    _browser, _action, alices = _signed_in_at_consent(app, jobs, "alice")
    assert alices.status_code == 200 and "Sign in to Job bank?" in alices.get_data(as_text=True)


def test_consent_to_another_portal_does_not_skip_the_page(app):
    create_account(app, "alice")
    jobs = untrusted(app)
    client_id, secret = register_client(app, "--name", "Temp agency", "--redirect-uri",
                                        "https://temps.example/cb")
    temps = RelyingParty(app, client_id, secret, "https://temps.example/cb")
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    assert "code" in jobs.callback(browser.post(action, data={
        "csrf_token": csrf_from(page), "decision": "allow"}))
    asked = browser.get(temps.authorize_url(Request()))
    assert asked.status_code == 200 and "Sign in to Temp agency?" in asked.get_data(as_text=True)


def test_a_redirect_uri_removed_elsewhere_is_refused_at_the_next_request(app, portal, alice,
                                                                        make_app):
    flow = full_flow(portal)  # this instance has read the portal (and signed alice in)
    _change_elsewhere(make_app, portal.client_id, redirect_uris=["https://portal.example/new"])
    for browser in (app.test_client(), flow.browser):  # a new visitor, the person
        for extra in ({}, {"prompt": "none"}):  # prompt=none would redirect its error
            refused = browser.get(portal.authorize_url(Request(), **extra))
            assert refused.status_code == 400 and "Location" not in refused.headers  # S31


def test_a_portal_made_untrusted_elsewhere_asks_consent_at_the_next_request(portal, alice,
                                                                           make_app):
    flow = full_flow(portal)
    _change_elsewhere(make_app, portal.client_id, trusted=False)
    asked = flow.browser.get(portal.authorize_url(Request()))
    assert asked.status_code == 200 and "Sign in to Employer portal?" in asked.get_data(as_text=True)


def test_a_portal_removed_elsewhere_is_unknown_at_the_next_request(app, portal, alice, make_app):
    flow = full_flow(portal)
    result = run_cli(make_app(), "clients", "remove", portal.client_id)
    assert result.exit_code == 0, result.output
    for browser in (app.test_client(), flow.browser):
        refused = browser.get(portal.authorize_url(Request()))
        assert refused.status_code == 400 and "Location" not in refused.headers


def test_a_client_id_too_long_to_be_one_reads_nothing_and_gets_a_page(app, portal, alice):
    refused = app.test_client().get(portal.authorize_url(Request(), client_id="c" * 5000))
    assert refused.status_code == 400 and "Location" not in refused.headers


def test_the_consent_form_is_csrf_checked_once_and_still_without_the_apps_check(app):
    """The view relies on the app's check of every POST (``g.csrf_valid``) and checks
    the token itself when that check is off: a forged "allow" gets no code either way."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    for enabled in (True, False):
        app.config["WTF_CSRF_ENABLED"] = enabled
        for forged in ({"decision": "allow"}, {"decision": "allow", "csrf_token": "x"}):
            refused = browser.post(action, data=forged)
            assert refused.status_code == 400 and "Location" not in refused.headers
    app.config["WTF_CSRF_ENABLED"] = False
    allowed = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert "code" in jobs.callback(allowed)


def test_the_row_read_stands_for_the_portal_column_by_column(app, portal):
    """The statement's row is handed on as the portal (no ORM copy, issue 11): every
    column of ``OAuthClient`` reads the same on it as on the ORM object, JSON lists and
    booleans included; an unknown or impossible id reads no portal."""
    from idp.oidc.authorize_reads import read
    from idp.oidc.runtime import oidc
    from idp.runtime import db

    with app.test_request_context():
        found = read(db(), portal.client_id, None, None)
        orm = oidc().clients.get(db(), portal.client_id)
        assert found.client is not None and orm is not None
        for column in OAuthClient.__table__.columns:
            assert getattr(found.client, column.key) == getattr(orm, column.key), column.key
        assert found.client.redirect_uris == [CALLBACK] and found.client.trusted is True
        assert (found.nonce_used, found.consent_scope) == (False, None)
        assert read(db(), "no-such-portal", "n", 1).client is None
        assert read(db(), "c" * 65, "n", 1).client is None


def test_a_query_tampered_between_the_page_and_its_answer_is_checked_again(app):
    """The consent POST reads and checks its own request (the portal's row, read again):
    a redirect URI swapped after the page was shown gets Clef's page, no redirect and
    no code; a PKCE method swapped to plain is refused back to the portal."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser, action, page = _signed_in_at_consent(app, jobs, "alice")
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    swapped = action.replace("jobs.example%2Fcb", "evil.example%2Fcb")
    assert swapped != action
    refused = browser.post(swapped, data=form)
    assert refused.status_code == 400 and "Location" not in refused.headers
    plain = action.replace("code_challenge_method=S256", "code_challenge_method=plain")
    assert plain != action
    refused = browser.post(plain, data=form)
    assert _error_of(refused) == "invalid_request" and "code" not in jobs.callback(refused)
    assert "code" in jobs.callback(browser.post(action, data=form))  # the real one still works
