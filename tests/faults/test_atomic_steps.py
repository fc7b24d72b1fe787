"""A `kill -9` in the middle of registration, a password reset or a token exchange
leaves nothing half-written (issue 9, faults). Each request is killed at every write and
every commit in turn (``tests.faults.killing``); after each death the database holds
either nothing of the step or all of it, never an account without its code and mail, a
reset password with live sessions, or a token without its used code."""

from __future__ import annotations

import contextlib

import requests
from sqlalchemy import func, select

from idp import audit
from idp.models import Account, AuditEvent, EmailCode, OutboxMail, WebSession
from idp.oidc.models import AuthorizationCode, OAuthToken
from idp.oidc.tokens import token_hash
from recovery.mail import MAIL_QUEUE_KEY
from tests.faults.killing import every_kill_point
from tests.helpers import CSRF_RE, GOOD_PASSWORD, create_account, csrf, pass_second_factor, sign_in
from tests.oidc.conftest import CALLBACK, sign_in_through
from tests.oidc.rp import RelyingParty, Request, register_client
from tests.recovery.flows import NEW_PASSWORD, post_new_password, post_questions, set_questions

LIMITS = {"register_per_ip": "10000/minute", "forgot_password_per_ip": "10000/minute",
          "signin_per_ip": "10000/minute", "second_factor_per_ip": "10000/minute",
          "token_per_ip": "10000/minute"}


def _count(db, model, *where) -> int:
    return int(db.scalar(select(func.count()).select_from(model).where(*where)))


def _registration_state(app, name: str) -> str:
    db = app.extensions["clef"].session_factory()
    try:
        account = db.scalar(select(Account).where(Account.username == name))
        if account is None:
            assert _count(db, AuditEvent, AuditEvent.tag == audit.REGISTERED,
                          AuditEvent.actor == name) == 0
            return "nothing"
        parts = (
            _count(db, AuditEvent, AuditEvent.tag == audit.REGISTERED,
                   AuditEvent.account_id == account.id),
            _count(db, EmailCode, EmailCode.account_id == account.id),
            _count(db, OutboxMail, OutboxMail.account_id == account.id),
        )
        assert parts == (1, 1, 1), f"{name} half-registered: audit, code, mail = {parts}"
        return "whole"
    finally:
        db.close()


def test_registration_is_one_transaction(make_app):
    app = make_app(rate_limit=LIMITS)

    def prepare(point: int):
        client = app.test_client()
        return client, f"person{point}", csrf(client, "/register")

    def act(prepared) -> None:
        client, name, token = prepared
        client.post("/register", data={"csrf_token": token, "username": name,
                                       "password": GOOD_PASSWORD, "confirm": GOOD_PASSWORD,
                                       "email": f"{name}@example.org"})

    states = every_kill_point(app, prepare, act, lambda prepared: _registration_state(app, prepared[1]))
    assert states[0] == "nothing" and states[-1] == "whole"
    # Once whole, whole: no death after the one commit undoes or splits it.
    assert states == sorted(states, key=["nothing", "whole"].index)


def _reset_state(app, account_id: int) -> str:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = db.get(Account, account_id)
        reset = svc.hasher.verify(account.password_hash, NEW_PASSWORD).matches
        parts = (
            _count(db, AuditEvent, AuditEvent.tag == audit.RECOVERY_PASSWORD_RESET,
                   AuditEvent.account_id == account_id),
            _count(db, OutboxMail, OutboxMail.account_id == account_id,
                   OutboxMail.message == "password_reset"),
            _count(db, WebSession, WebSession.account_id == account_id) == 0,
        )
        assert parts == ((1, 1, True) if reset else (0, 0, False)), \
            f"half a reset: password reset {reset}, audit, mail, sessions ended = {parts}"
        return "whole" if reset else "nothing"
    finally:
        db.close()


def test_a_password_reset_is_one_transaction_S18(make_app):
    app = make_app(rate_limit=LIMITS)

    made: list[tuple[object, int]] = []

    def prepare(_point: int):
        """One person at the last step; the same again while no death changed anything."""
        if made and _reset_state(app, made[-1][1]) == "nothing":
            return made[-1]
        name = f"person{len(made)}"
        account = create_account(app, name, email_address=f"{name}@example.org", confirmed=True)
        set_questions(app, account.id)
        signed_in = app.test_client()
        sign_in(signed_in, name)
        pass_second_factor(app, signed_in, name)
        client = app.test_client()
        client.post("/forgot-password", buffered=True, data={
            "csrf_token": csrf(client, "/forgot-password"), "username": name})
        app.extensions[MAIL_QUEUE_KEY].wait(timeout=10)  # its code mail is out of the way
        assert post_questions(client).status_code == 303
        made.append((client, account.id))
        return made[-1]

    states = every_kill_point(app, prepare, lambda prepared: post_new_password(prepared[0]),
                              lambda prepared: _reset_state(app, prepared[1]))
    assert states[0] == "nothing" and states[-1] == "whole"
    assert states == sorted(states, key=["nothing", "whole"].index)


def _exchange_state(app, code: str) -> str:
    db = app.extensions["clef"].session_factory()
    try:
        row = db.get(AuthorizationCode, token_hash(code))
        tokens = list(db.scalars(select(OAuthToken).where(OAuthToken.code_hash == row.code_hash)))
        if row.used_at is None:
            assert tokens == [], "tokens issued from a code that is not used up"
            return "unused"
        if not tokens:
            return "used up, nothing issued"
        (token,) = tokens
        assert token.access_token_hash and token.refresh_token_hash
        return "issued"
    finally:
        db.close()


def test_a_token_exchange_leaves_no_half_issued_tokens_S32(make_app):
    """The code's claim and the tokens it issues are one transaction (issue 11; before,
    the claim had its own commit first). Killed anywhere, either nothing happened (the
    code is still unused: the portal's retry gets the tokens, once) or the tokens were
    issued: never a used code with nothing issued, never tokens from an unused code."""
    app = make_app(rate_limit=LIMITS)
    create_account(app, "alice")
    client_id, secret = register_client(app, "--name", "Portal", "--redirect-uri", CALLBACK,
                                        "--trusted")
    rp = RelyingParty(app, client_id, secret, CALLBACK)

    made: list[tuple[object, Request, str]] = []
    retried: list[int] = []

    def prepare(_point: int):
        """A code from a full sign-in; the same again while it is still unused."""
        if made and _exchange_state(app, made[-1][2]) == "unused":
            return made[-1]
        browser, req = app.test_client(), Request()
        made.append((browser, req, sign_in_through(rp, browser, req)["code"]))
        return made[-1]

    def act(prepared) -> None:
        browser, req, code = prepared
        assert rp.exchange(browser, code, req).status_code == 200

    def state(prepared) -> str:
        browser, req, code = prepared
        found = _exchange_state(app, code)
        if found == "unused" and retried == []:  # a death left it whole: the retry works
            retry = rp.exchange(browser, code, req)
            assert retry.status_code == 200, retry.get_data(as_text=True)
            assert _exchange_state(app, code) == "issued"
            retried.append(1)
            made.pop()
        return found

    states = every_kill_point(app, prepare, act, state)
    assert states[-1] == "issued"
    assert set(states) <= {"unused", "issued"}, states
    assert retried, "no death fell before the commit"


def test_a_real_kill_9_mid_registration_leaves_no_account(app, serve):
    """The same with a real SIGKILL: the process dies as it writes the code's mail, the
    last statement before the one commit; the database keeps nothing of the person."""
    served = serve("statement:INSERT INTO mail_outbox")
    browser = requests.Session()
    token = CSRF_RE.search(browser.get(served.url + "/register", timeout=10).text)
    assert token
    with contextlib.suppress(requests.ConnectionError):
        browser.post(served.url + "/register", timeout=10, allow_redirects=False, data={
            "csrf_token": token.group(1), "username": "alice", "password": GOOD_PASSWORD,
            "confirm": GOOD_PASSWORD, "email": "alice@example.org"})
    assert served.killed(), "the planted fault did not fire"
    assert _registration_state(app, "alice") == "nothing"
