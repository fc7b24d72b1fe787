"""A page that changes nothing writes nothing (issue 11): no session write-back and no
commit on a GET after the session's row was written, while the form token is still
renewed at every privilege step (S20, S24)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask
from sqlalchemy import event

from tests.helpers import create_account, pass_second_factor, sign_in
from tests.support.accounts import GOOD_PASSWORD
from tests.support.screens import csrf


@contextmanager
def counted(app: Flask) -> Iterator[dict[str, int]]:
    engine = app.extensions["clef"].engine
    counts = {"commits": 0, "writes": 0}
    statements: list[str] = []

    def on_commit(*_args: object) -> None:
        counts["commits"] += 1

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            counts["writes"] += 1
            statements.append(" ".join(statement.split()))

    event.listen(engine, "commit", on_commit)
    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield counts
        # On PostgreSQL the claim is the first CTE of the success's one statement
        # (mfa.second_step_writes): counted where it stands.
        counts["second_factor_updates"] = sum(s.count("UPDATE second_factors")
                                              for s in statements)
    finally:
        event.remove(engine, "commit", on_commit)
        event.remove(engine, "before_cursor_execute", on_statement)


def test_pages_after_the_first_write_nothing(app: Flask) -> None:
    create_account(app, "alice")
    browser = app.test_client()
    with counted(app) as first:
        first_token = csrf(browser, "/signin")  # a new visitor: its form token in its cookie
    assert (first["commits"], first["writes"]) == (0, 0), "no row for a visitor (D15)"
    with counted(app) as again:
        assert csrf(browser, "/signin") == first_token
    assert (again["commits"], again["writes"]) == (0, 0)

    assert sign_in(browser, "alice").status_code == 303
    with counted(app) as challenge:
        step_token = csrf(browser, "/2fa/challenge")
    assert (challenge["commits"], challenge["writes"]) == (0, 0), \
        "the password step stored the new token"
    assert step_token != first_token  # S20: a fresh form token after the privilege step


def test_the_password_step_commits_the_claim_then_once(app: Flask) -> None:
    """The claim is committed before argon2 runs (D4, S7: parallel guesses all count);
    the renewed session, throttle reset and audit row then share one commit, with no
    third for a write-back of an unchanged session."""
    create_account(app, "alice")
    browser = app.test_client()
    token = csrf(browser, "/signin")
    with counted(app) as step:
        posted = browser.post("/signin", data={"csrf_token": token, "username": "alice",
                                               "password": GOOD_PASSWORD})
    assert posted.status_code == 303
    assert step["commits"] == 2


def test_s11_the_totp_step_is_claimed_by_one_update(app: Flask) -> None:
    """The conditional UPDATE that claims the step (S11) is the only write of it: the
    ORM no longer flushes the same value again at the commit."""
    create_account(app, "alice")
    browser = app.test_client()
    assert sign_in(browser, "alice").status_code == 303
    with counted(app) as step:
        pass_second_factor(app, browser, "alice")
    assert step["second_factor_updates"] == 1


def test_the_second_step_stores_the_session_in_its_own_commit(app: Flask) -> None:
    """The claim (S7) and the step (S20's renewal, ``next`` consumed) are one commit
    (``Throttle.claim_with_check``); no second writes the session back. On PostgreSQL
    the claim is committed alone first, in autocommit (no COMMIT sent), as the password
    step's (mfa.second_step_writes): the step's own commit is still the only other."""
    create_account(app, "alice")
    browser = app.test_client()
    assert sign_in(browser, "alice").status_code == 303
    with counted(app) as step:
        pass_second_factor(app, browser, "alice")
    postgresql = app.extensions["clef"].engine.dialect.name == "postgresql"
    assert step["commits"] == (2 if postgresql else 1)
