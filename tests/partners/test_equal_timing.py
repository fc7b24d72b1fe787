"""S6 for partner identities: a password sign-in with a partner identity's
``~partner-<hex>`` name does what one with a name nobody registered does (the same
SQL, one full argon2 verification against the dummy hash), so its speed does not tell
that the name exists. Its stored hash "!" is no argon2 hash: verified as it is, argon2
refuses it at once, without the work a real check costs."""

from __future__ import annotations

from flask import Flask
from pytest import MonkeyPatch

from partners.runtime import EXTENSION_KEY
from tests.idp.test_enumeration_timing import _attempt, _masked, count_argon2
from tests.recovery.test_enumeration_restart import _Statements
from tests.support.screens import csrf

UNKNOWN = "nobody-here"


def _partner_identity(app: Flask) -> str:
    partners = app.extensions[EXTENSION_KEY].partners
    with app.extensions["clef"].session_factory() as db:
        now = app.extensions["clef"].clock.now()
        partner = partners.add(db, now, name="Banque Exemple", issuer="https://bank.example",
                               client_id="clef", client_secret="s" * 40)
        account, created = partners.account_for(db, now, partner, "partner-sub-1", "en")
        db.commit()
        assert created and account.password_hash == "!"
        return account.username


def test_s6_a_partner_identity_name_costs_one_argon2_run_like_an_unknown_name(
        app: Flask, monkeypatch: MonkeyPatch) -> None:
    name = _partner_identity(app)
    hasher = app.extensions["clef"].hasher
    seen: list[str] = []
    counting = count_argon2(app, monkeypatch)
    counted = hasher._argon2.verify

    def verify(target: str, password: str) -> bool:
        seen.append(target)
        return bool(counted(target, password))

    monkeypatch.setattr(hasher._argon2, "verify", verify)
    client = app.test_client()
    csrf(client, "/signin")
    answers = {}
    for username in (name, UNKNOWN):
        seen.clear()
        counting["verify"] = 0
        response = _attempt(client, username)
        answers[username] = (response.status_code, _masked(response, username))
        # Exactly one argon2 run, and a real one: against the dummy hash, not "!".
        assert counting["verify"] == 1, username
        assert seen == [hasher._dummy_hash], username
    assert answers[name] == answers[UNKNOWN]
    assert answers[name][0] == 401


def test_s6_a_partner_identity_name_runs_the_same_sql_as_an_unknown_name(app: Flask) -> None:
    name = _partner_identity(app)
    statements = _Statements(app.extensions["clef"].engine)
    try:
        runs = {}
        for username in (name, UNKNOWN):
            client = app.test_client()
            csrf(client, "/signin")
            statements.take()
            _attempt(client, username)
            runs[username] = statements.take()
        assert runs[name] == runs[UNKNOWN]
        # The name is looked up (in the password step's claim statement, with its count).
        assert any("FROM accounts WHERE" in s and "username_key" in s for s in runs[UNKNOWN])
    finally:
        statements.close()
