"""The request's database session and the app's services, each found with ONE look-up
of its context (issue 11: ``idp.runtime.db``, ``services``; the slices' ``oidc`` and
``mfa_services``): still the context's own, never another's. Runs on both databases.

The views and hooks that now read the request, ``g`` or the session once
(``_get_current_object``) are checked here where their answer is refusal: another
person's form token, a malformed one, a session ended between a page and its form,
two people signing in at the same moment on two threads."""

from __future__ import annotations

import cProfile
import pstats
import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, text

from idp.models import Account
from idp.oidc.runtime import oidc
from idp.runtime import db, services
from mfa.runtime import mfa_services
from tests.at_once import at_once, clones
from tests.helpers import create_account
from tests.oidc.rp import Request
from tests.oidc.test_sign_in_handoff import untrusted
from tests.perf.test_flow_statements import codes, to_consent
from tests.support.accounts import GOOD_PASSWORD, fresh_totp
from tests.support.screens import csrf, csrf_from

HELPERS: list[tuple[str, Callable[[], Any]]] = [
    ("db", db), ("services", services), ("oidc", oidc), ("mfa_services", mfa_services)]


def _proxy_calls(call: Callable[[], Any]) -> dict[str, int]:
    """Calls into werkzeug.local (the context proxies) made by ``call``, by name."""
    profile = cProfile.Profile()
    profile.enable()
    call()
    profile.disable()
    found: dict[str, int] = {}
    for (path, _line, name), row in pstats.Stats(profile).stats.items():  # type: ignore[attr-defined]
        if path.replace("\\", "/").endswith("werkzeug/local.py"):
            found[name] = found.get(name, 0) + row[1]
    return found


@pytest.mark.parametrize(("name", "helper"), HELPERS)
def test_each_helper_looks_its_context_up_once(app: Flask, name: str, helper: Any) -> None:
    """One ``_get_current_object`` and no proxy operator (``__get__``/``bind_f``): the
    old ``"db" not in g`` then ``g.db`` made two full proxy look-ups, and
    ``current_app.extensions`` one through ``__getattr__``."""
    with app.test_request_context("/"):
        db()  # opened: the look-up measured is the common one, on an open session
        assert _proxy_calls(helper) == {"_get_current_object": 1}, name


def test_db_is_the_contexts_own_session_opened_once_and_closed_with_it(app: Flask) -> None:
    with app.app_context():
        first = db()
        assert db() is first and services() is app.extensions["clef"]
        first.execute(text("SELECT 1"))
        assert first.in_transaction()
        with app.app_context():  # another context (a CLI command's) gets its own
            inner = db()
            assert inner is not first and db() is inner
        assert db() is first
    # close_db found it where db() put it: its transaction ended with the context.
    assert not first.in_transaction()
    with app.app_context():
        assert db() is not first  # a new context, a new session


def test_a_requests_session_is_not_the_next_requests(app: Flask) -> None:
    with app.test_request_context("/signin"):
        first = db()
        first.execute(text("SELECT 1"))
    with app.test_request_context("/signin"):
        second = db()
        assert second is not first and not first.in_transaction()


@pytest.mark.parametrize(("name", "helper"), HELPERS)
def test_outside_any_context_each_helper_refuses(name: str, helper: Any) -> None:
    with pytest.raises(RuntimeError, match="application context"):
        helper()


def test_two_threads_at_once_each_get_their_own_session(app: Flask) -> None:
    """Both sessions are alive at the same moment (a second barrier holds them)."""
    holding = threading.Barrier(2)

    def one(_index: int) -> Any:
        with app.app_context():
            own = db()
            own.execute(select(Account.id).limit(1))
            holding.wait(60)
            assert db() is own
            return own

    first, second = at_once(2, one)
    assert first is not second


def test_two_people_signing_in_at_once_each_get_their_own_session(app: Flask) -> None:
    """The request's session is per context: two sign-ins racing on two threads never
    see each other's session row or account (each lands signed in as themself)."""
    for name in ("alice", "bob"):
        create_account(app, name)
    browsers = [app.test_client(), app.test_client()]
    tokens = [csrf(b, "/signin") for b in browsers]
    names = ["alice", "bob"]

    def password(index: int) -> int:
        return browsers[index].post("/signin", data={
            "csrf_token": tokens[index], "username": names[index],
            "password": GOOD_PASSWORD}).status_code

    assert at_once(2, password) == [303, 303]
    pages = [b.get("/2fa/challenge") for b in browsers]
    forms = [{"csrf_token": csrf_from(p), "code": fresh_totp(app, n)}
             for p, n in zip(pages, names, strict=True)]

    def second(index: int) -> int:
        return browsers[index].post("/2fa/challenge", data=forms[index]).status_code

    assert at_once(2, second) == [303, 303]
    for browser, name in zip(browsers, names, strict=True):
        account = browser.get("/account")
        assert account.status_code == 200 and name in account.get_data(as_text=True)


def test_a_sign_in_posted_with_another_persons_form_token_is_refused(app: Flask) -> None:
    """The app's CSRF check (idp.app ``check_csrf``, reading the request once): a token
    this process signed for ANOTHER session is not this session's (S24)."""
    create_account(app, "alice")
    mallory, victim = app.test_client(), app.test_client()
    stolen = csrf(mallory, "/signin")
    csrf(victim, "/signin")  # the victim's own session and token exist
    refused = victim.post("/signin", data={"csrf_token": stolen, "username": "alice",
                                           "password": GOOD_PASSWORD})
    assert refused.status_code == 400
    assert victim.get("/2fa/challenge").status_code == 303  # not signed in


@pytest.mark.parametrize("token", ["", "é" * 40, "x" * 5000, "a.b.c", "\x00"])
def test_a_malformed_form_token_is_a_400_not_a_500(app: Flask, token: str) -> None:
    create_account(app, "alice")
    browser = app.test_client()
    csrf(browser, "/signin")
    answer = browser.post("/signin", data={"csrf_token": token, "username": "alice",
                                           "password": GOOD_PASSWORD})
    assert answer.status_code == 400


def test_a_consent_answer_with_another_persons_form_token_gets_no_code(app: Flask) -> None:
    """The consent view reads the request once (``_consent_decision(current)``): an
    answer carrying a token made for someone else's session is a 400, no code."""
    for name in ("alice", "bob"):
        create_account(app, name)
    jobs = untrusted(app)
    alice = app.test_client()
    action, _page = to_consent(app, jobs, alice, Request())
    bob = app.test_client()
    bobs_token = csrf(bob, "/signin")
    before = codes(app)
    forged = alice.post(action, data={"csrf_token": bobs_token, "decision": "allow"})
    assert forged.status_code == 400 and codes(app) == before


def test_a_consent_answered_after_the_session_ended_gets_no_code(app: Flask) -> None:
    """Signed out in another tab between the consent page and its answer: the answer
    is sent to sign in again; no code."""
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    action, page = to_consent(app, jobs, browser, Request())
    [other_tab] = clones(app, browser, 1)
    out = other_tab.post("/signout", data={"csrf_token": csrf(other_tab, "/account")})
    assert out.status_code in (302, 303)
    before = codes(app)
    late = browser.post(action, data={"csrf_token": csrf_from(page), "decision": "allow"})
    assert late.status_code in (302, 303, 400) and "code=" not in late.headers.get("Location", "")
    assert codes(app) == before


def test_a_consent_replayed_from_two_tabs_at_once_gets_one_code(app: Flask) -> None:
    create_account(app, "alice")
    jobs = untrusted(app)
    browser = app.test_client()
    action, page = to_consent(app, jobs, browser, Request())
    tabs = clones(app, browser, 2)
    form = {"csrf_token": csrf_from(page), "decision": "allow"}
    before = codes(app)
    answers = at_once(2, lambda i: tabs[i].post(action, data=form))
    with_code = [a for a in answers if "code=" in a.headers.get("Location", "")]
    assert len(with_code) == 1 and codes(app) == before + 1
    assert all(a.status_code < 500 for a in answers)
