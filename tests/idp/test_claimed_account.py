"""The password step's account read in the throttle's claim (idp.claimed_account, issue
11), attacked: known and unknown usernames still send the same statements and run one
argon2 each (S6); a locked key reads nothing and checks nothing (S7); the count survives
a crash after the claim; another person's row, a stale row, the other language, and
huge or malformed input."""

from __future__ import annotations

import contextlib
import re

import pytest
from sqlalchemy import event, func, select

from idp import audit
from idp.accounts import InvalidCredentials, RevokedCredential, TooManyAttempts
from idp.audit import Where
from idp.claimed_account import PasswordAccount
from idp.models import Account, AuditEvent
from idp.usernames import username_key
from tests.helpers import GOOD_PASSWORD, create_account
from tests.idp.test_enumeration_timing import count_argon2
from tests.support.accounts import get_account
from tests.support.screens import sign_in

WRONG = "not the right password"
HERE = Where(ip="192.0.2.7")


class Statements:
    """The SQL sent while listening, parameters apart."""

    def __init__(self, app):
        self.engine = app.extensions["clef"].engine
        self.sql: list[str] = []
        self.params: list[object] = []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn, _cursor, statement, parameters, *_rest):
        self.sql.append(" ".join(statement.split()))
        self.params.append(parameters)

    def shapes(self) -> list[str]:
        """Each statement with what differs per request (a session id's literal, none
        here) masked: the statements themselves, in order."""
        return [re.sub(r"'[^']*'", "'?'", s) for s in self.sql]


def _verify(app, username: str, password: str):
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = svc.accounts.verify_password(db, svc.clock.now(), username=username,
                                               password=password, where=HERE)
        db.commit()
        return account
    finally:
        db.close()


def _failures(app, username: str) -> int:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        return svc.throttle.state(db, username_key(username)).failures
    finally:
        db.close()


def _audit(app, tag: str) -> list[tuple[str, int | None]]:
    db = app.extensions["clef"].session_factory()
    try:
        return [(e.actor, e.account_id) for e in db.scalars(
            select(AuditEvent).where(AuditEvent.tag == tag).order_by(AuditEvent.id))]
    finally:
        db.close()


def test_known_and_unknown_usernames_send_the_same_statements_and_one_argon2_each_S6(
        app, monkeypatch, backend):
    create_account(app, "alice")
    calls = count_argon2(app, monkeypatch)
    seen = {}
    for username in ("alice", "mallory"):
        before = calls["verify"]
        with Statements(app) as statements, pytest.raises(InvalidCredentials):
            _verify(app, username, WRONG)
        assert calls["verify"] - before == 1, username
        seen[username] = statements.shapes()
    assert seen["alice"] == seen["mallory"], backend
    # One statement counts the attempt and reads the account (both names alike).
    claims = [s for s in seen["alice"] if s.startswith("INSERT INTO login_throttles")]
    assert len(claims) == 1 and "FROM accounts" in claims[0]
    assert not any(s.startswith("SELECT accounts") for s in seen["alice"])


def test_the_claim_reads_the_account_it_counts_and_no_other_S6(app):
    """Two accounts: each name's claim returns its own row; one person's password does
    not open the other's account; a name folding to another's key (case, full width)
    is that account, as the look-up by key always was."""
    create_account(app, "alice")
    create_account(app, "bob", password="a second person's own passphrase")
    bob = get_account(app, "bob")
    assert bob is not None
    with pytest.raises(InvalidCredentials):
        _verify(app, "bob", GOOD_PASSWORD)
    assert _audit(app, audit.LOGIN_FAILURE)[-1] == ("bob", bob.id)
    found = _verify(app, "bob", "a second person's own passphrase")
    assert found == PasswordAccount(bob.id, "bob", "active", "en")
    alice = get_account(app, "alice")
    assert alice is not None
    folded = "".join(chr(ord(c) + 0xFEE0) for c in "ALICE")
    assert _verify(app, folded, GOOD_PASSWORD).id == alice.id


def test_a_password_changed_a_moment_ago_is_the_one_checked(app):
    """No copy of the account outlives its statement: the claim reads the row as it is."""
    create_account(app, "alice")
    svc = app.extensions["clef"]
    assert _verify(app, "alice", GOOD_PASSWORD).username == "alice"
    db = svc.session_factory()
    try:
        db.get(Account, get_account(app, "alice").id).password_hash = svc.hasher.hash(
            "a brand new password for alice")
        db.commit()
    finally:
        db.close()
    with pytest.raises(InvalidCredentials):
        _verify(app, "alice", GOOD_PASSWORD)
    assert _verify(app, "alice", "a brand new password for alice").username == "alice"


@pytest.mark.parametrize("username", ["alice", "nobody-here"])
def test_a_locked_key_reads_nothing_and_runs_no_argon2_S7(app, monkeypatch, username):
    create_account(app, "alice")
    threshold = app.extensions["clef"].settings.lockout.threshold
    for _ in range(threshold):
        with pytest.raises(InvalidCredentials):
            _verify(app, username, WRONG)
    calls = count_argon2(app, monkeypatch)
    with pytest.raises(TooManyAttempts):
        _verify(app, username, GOOD_PASSWORD)
    assert calls["verify"] == 0, "locked: the password is not checked"
    assert _failures(app, username) == threshold, "a refused claim counts nothing"
    account = get_account(app, username)
    expected = ("alice", account.id) if account else ("unknown", None)
    assert _audit(app, audit.LOGIN_LOCKED) == [expected]


def test_the_count_survives_a_crash_after_the_claim_S7(app, monkeypatch):
    """argon2 (or anything after the claim) failing: the attempt is counted already,
    committed on its own; a crash after a right password keeps it too (the clear, the
    language and the rehash roll back with the step)."""
    create_account(app, "alice")
    hasher = app.extensions["clef"].hasher

    def crash(*_args, **_kwargs):
        raise RuntimeError("the worker died")

    with monkeypatch.context() as patched:
        patched.setattr(hasher, "verify", crash)
        with pytest.raises(RuntimeError):
            _verify(app, "alice", GOOD_PASSWORD)
    assert _failures(app, "alice") == 1

    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = svc.accounts.verify_password(db, svc.clock.now(), username="alice",
                                               password=GOOD_PASSWORD, where=HERE)
        svc.accounts.remember_locale(db, account, "fr")
        db.rollback()  # the step's commit never came
    finally:
        db.close()
    assert _failures(app, "alice") == 2, "the clear went with the step"
    assert get_account(app, "alice").locale == "en", "the language went with the step"


def test_the_other_language_is_written_once_and_only_when_it_changed(app):
    create_account(app, "alice")
    for language, writes in (("fr", 1), ("fr", 0), ("en", 1)):
        with Statements(app) as statements:
            assert sign_in(app.test_client(), "alice", **{"Accept-Language": language}
                           ).status_code == 303
        assert sum(s.startswith("UPDATE accounts SET locale") for s in statements.sql) == writes
        assert get_account(app, "alice").locale == language


def test_a_revoked_account_is_refused_after_its_password(app, monkeypatch):
    create_account(app, "alice")
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = svc.accounts.get_by_username(db, "alice")
        svc.accounts.revoke(account, "other", svc.clock.now())
        db.commit()
    finally:
        db.close()
    calls = count_argon2(app, monkeypatch)
    with pytest.raises(RevokedCredential):
        _verify(app, "alice", GOOD_PASSWORD)
    assert calls["verify"] == 1
    assert sign_in(app.test_client(), "alice").status_code == 403


@pytest.mark.parametrize("username", [
    "a" * 10_000, "alice\x00", "alice' OR '1'='1", "%", "_", "\u202ealice",
    "\uff41\uff4c\uff49\uff43\uff45\u0301",
    "", " ",
])
def test_huge_or_malformed_usernames_open_nothing(app, username):
    """Through the screens (the form's limits) and the service itself (no limit): never
    an error, never alice's account, never a look-up by pattern. A NUL never reaches
    the service (idp.input_guard: a 400 before any view, nothing counted), which
    PostgreSQL would refuse in any text value, the claim's as the look-up's before."""
    create_account(app, "alice")
    status = sign_in(app.test_client(), username).status_code
    assert status in (400, 401), status
    if "\x00" in username:
        assert status == 400 and _failures(app, username) == 0
        return
    with pytest.raises(InvalidCredentials):
        _verify(app, username, GOOD_PASSWORD)


@pytest.mark.parametrize("password", ["x" * 100_000, "\x00" * 64, GOOD_PASSWORD + "\x00", ""])
def test_huge_or_malformed_passwords_open_nothing(app, password):
    create_account(app, "alice")
    assert sign_in(app.test_client(), "alice", password).status_code in (400, 401, 413)
    with pytest.raises(InvalidCredentials):
        _verify(app, "alice", password)


def test_the_claim_without_a_read_returns_its_count(app):
    """Other callers (the second factor) read nothing with the claim: the count alone."""
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        first = svc.throttle.claim(db, username_key("alice"), svc.clock.now())
        second = svc.throttle.claim(db, username_key("alice"), svc.clock.now())
        assert (tuple(first), tuple(second)) == ((1,), (2,))
        assert db.scalar(select(func.count()).select_from(Account)) == 0
    finally:
        db.close()


def _tags(app, account_id: int) -> list[str]:
    db = app.extensions["clef"].session_factory()
    try:
        return list(db.scalars(select(AuditEvent.tag).where(
            AuditEvent.account_id == account_id).order_by(AuditEvent.id)))
    finally:
        db.close()


@pytest.mark.parametrize("revoked", [False, True])
def test_the_clear_and_the_audit_row_are_written_together_or_not_at_all(app, revoked):
    """idp.password_step_writes: on PostgreSQL the clear carries the audit row (one
    statement); on both databases a right password clears only the password step's
    count and records its row, and a step that never commits keeps neither."""
    create_account(app, "alice")
    alice = get_account(app, "alice")
    svc = app.extensions["clef"]
    if revoked:
        db = svc.session_factory()
        try:
            svc.accounts.revoke(svc.accounts.get_by_username(db, "alice"), "other",
                                svc.clock.now())
            db.commit()
        finally:
            db.close()
    tag = audit.LOGIN_REVOKED if revoked else audit.LOGIN_SUCCESS
    db = svc.session_factory()
    try:
        second = svc.throttle.claim(db, username_key("alice"), svc.clock.now(), "second_factor")
        assert tuple(second) == (1,)
        with Statements(app) as statements, contextlib.suppress(RevokedCredential):
            svc.accounts.verify_password(db, svc.clock.now(), username="alice",
                                         password=GOOD_PASSWORD, where=HERE)
        clears = [s for s in statements.sql if "DELETE FROM login_throttles" in s]
        assert len(clears) == 1
        if svc.engine.dialect.name == "postgresql":
            assert "INSERT INTO audit_events" in clears[0]
            assert not any(s.startswith("INSERT INTO audit_events") for s in statements.sql)
        if not revoked:
            db.rollback()  # the step's commit never came
            assert _failures(app, "alice") == 1 and tag not in _tags(app, alice.id)
            svc.accounts.verify_password(db, svc.clock.now(), username="alice",
                                         password=GOOD_PASSWORD, where=HERE)
            db.commit()
    finally:
        db.close()
    assert _failures(app, "alice") == 0
    assert _tags(app, alice.id).count(tag) == 1
    db = svc.session_factory()
    try:
        assert svc.throttle.state(db, username_key("alice"), "second_factor").failures == 1
    finally:
        db.close()


def test_a_rehash_writes_both_audit_rows_in_their_order(make_app):
    """Two audit rows are left to the commit (CTEs run in no set order): the success
    first, then the rehash, as recorded."""
    from tests.support.accounts import create_account as create

    create(make_app(), "alice")
    app = make_app(argon2={"memory_kib": 2048, "time_cost": 2, "parallelism": 1})
    alice = get_account(app, "alice")
    assert sign_in(app.test_client(), "alice").status_code == 303
    assert _tags(app, alice.id)[-2:] == [audit.LOGIN_SUCCESS, audit.PASSWORD_REHASHED]
    assert _failures(app, "alice") == 0
