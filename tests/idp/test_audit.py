"""The audit log (S28, ASVS 16.3.1, 16.2.5): every authentication event with who, when,
from where and what; never a password, code or token, in a row or in a log line."""

from __future__ import annotations

import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp import audit
from idp.models import AuditEvent
from tests.helpers import (
    audit_events,
    create_account,
    csrf,
    emailed_code,
    enrol_app,
    outbox,
    pass_second_factor,
    register,
    session_token,
    sign_in,
)

IP = "198.51.100.7"
AGENT = "AuditProbe/1.0 (S28)"


def visitor(app: Flask) -> FlaskClient:
    """A client with a recognisable address and user agent."""
    client = app.test_client()
    client.environ_base.update(REMOTE_ADDR=IP, HTTP_USER_AGENT=AGENT)
    return client


def only(app: Flask, tag: str) -> AuditEvent:
    events = audit_events(app, tag)
    assert len(events) == 1, [(e.tag, e.actor) for e in audit_events(app)]
    return events[0]


def assert_where_and_when(event: AuditEvent, at) -> None:
    assert (event.ip, event.user_agent, event.at) == (IP, AGENT, at)


def row_text(event: AuditEvent) -> str:
    return " ".join(str(getattr(event, column.key))
                    for column in AuditEvent.__table__.columns)  # type: ignore[attr-defined]


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    lines = []
    for record in caplog.records:
        lines.append(f"{record.name} {record.getMessage()}")
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def test_sign_in_success_is_audited_S28(app, clock):
    account = create_account(app, "alice")
    at = clock.advance(minutes=5)

    assert sign_in(visitor(app), "alice").status_code == 303

    event = only(app, audit.LOGIN_SUCCESS)
    assert (event.actor, event.account_id) == ("alice", account.id)
    assert_where_and_when(event, at)


def test_sign_in_failure_is_audited_S28(app, clock):
    account = create_account(app, "alice")
    at = clock.advance(minutes=5)

    assert sign_in(visitor(app), "alice", "not the password").status_code == 401

    event = only(app, audit.LOGIN_FAILURE)
    assert (event.actor, event.account_id) == ("alice", account.id)
    assert_where_and_when(event, at)
    assert audit_events(app, audit.LOGIN_SUCCESS) == []


def test_locked_sign_in_is_audited_S28_D4(app, clock):
    create_account(app, "alice")
    client = visitor(app)
    for _ in range(5):
        sign_in(client, "alice", "not the password")
    at = clock.advance(seconds=10)

    assert sign_in(client, "alice").status_code == 429

    event = only(app, audit.LOGIN_LOCKED)
    assert event.actor == "alice"
    assert_where_and_when(event, at)
    assert len(audit_events(app, audit.LOGIN_FAILURE)) == 5


def test_revoked_sign_in_is_audited_S28_J12(app, clock):
    account = create_account(app, "alice")
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        svc.accounts.revoke(svc.accounts.get_by_username(db, "alice"), "compromised", clock.now())
        db.commit()
    finally:
        db.close()
    at = clock.advance(minutes=1)

    assert sign_in(visitor(app), "alice").status_code == 403

    event = only(app, audit.LOGIN_REVOKED)
    assert (event.actor, event.account_id) == ("alice", account.id)
    assert_where_and_when(event, at)


def test_registration_is_audited_S28(app, clock):
    at = clock.advance(minutes=3)

    assert register(visitor(app), "alice").status_code == 303

    event = only(app, audit.REGISTERED)
    assert event.actor == "alice"
    assert event.account_id is not None
    assert_where_and_when(event, at)


def test_email_code_events_are_audited_S28(app, clock):
    client = visitor(app)
    register(client, "alice", email_address="alice@example.com")
    code = emailed_code(outbox(app)[-1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    client.post("/register/email", data={"csrf_token": csrf(client, "/register/email"),
                                         "code": wrong})
    at = clock.advance(minutes=1)
    client.post("/register/email", data={"csrf_token": csrf(client, "/register/email"),
                                         "code": code})

    sent = only(app, audit.EMAIL_CODE_SENT)
    failed = only(app, audit.EMAIL_CODE_FAILED)
    confirmed = only(app, audit.EMAIL_CONFIRMED)
    assert sent.details == failed.details == {"purpose": "confirm_email"}
    assert_where_and_when(confirmed, at)
    assert {e.actor for e in (sent, failed, confirmed)} == {"alice"}


def test_logout_is_audited_S28(app, clock):
    account = create_account(app, "alice")
    client = visitor(app)
    sign_in(client, "alice")
    pass_second_factor(app, client)
    at = clock.advance(minutes=2)

    response = client.post("/signout", data={"csrf_token": csrf(client, "/account")})

    assert response.status_code == 303
    event = only(app, audit.LOGOUT)
    assert event.account_id == account.id
    assert_where_and_when(event, at)


def test_forwarded_for_is_not_trusted_by_default_S27(app):
    create_account(app, "alice")
    sign_in(visitor(app), "alice", **{"X-Forwarded-For": "203.0.113.66"})
    assert only(app, audit.LOGIN_SUCCESS).ip == IP


def test_unknown_username_is_not_recorded_in_clear_S28(app, caplog):
    """A name that matches no account may be a password typed in the wrong field: not
    in the audit row, not in the log, not even with SQL statement logging turned on."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # SQLAlchemy sets WARN itself
    typed = "MyS3cret-typed-in-the-wrong-box"

    assert sign_in(visitor(app), typed, "whatever it was").status_code == 401

    event = only(app, audit.LOGIN_FAILURE)
    assert (event.actor, event.account_id) == ("unknown", None)
    assert typed.lower() not in row_text(event).lower()
    assert typed.lower() not in everything_logged(caplog).lower()
    assert "sqlalchemy.engine" in everything_logged(caplog)  # statements were logged


# --- no secret anywhere ------------------------------------------------------------------


def test_no_password_code_or_token_in_audit_rows_or_logs_S28(app, clock, caplog):
    """A whole flow at DEBUG: register with an email, a wrong and a right code, set up an
    app, sign out, a wrong and a right sign-in, a wrong and a right TOTP code. The
    password, the emailed codes, the TOTP secret, the recovery codes and every session
    cookie value the browser held appear in no audit column and no log line (every
    logger, the database's included)."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")  # SQLAlchemy sets WARN itself
    password = "Tr0ub4dor&3-but-much-longer-than-that"
    client = visitor(app)
    tokens: set[str] = set()

    def keep_token() -> None:
        token = session_token(app, client)
        if token:
            tokens.add(token)

    register(client, "alice", password=password, email_address="alice@example.com")
    keep_token()
    code = emailed_code(outbox(app)[-1])
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for attempt in (wrong, code):
        clock.advance(seconds=5)
        client.post("/register/email",
                    data={"csrf_token": csrf(client, "/register/email"), "code": attempt})
        keep_token()
    secret, recovery_codes = enrol_app(app, client)
    keep_token()
    client.post("/signout", data={"csrf_token": csrf(client, "/account")})
    sign_in(client, "alice", password[:-1])
    keep_token()
    assert sign_in(client, "alice", password).status_code == 303
    keep_token()
    client.post("/2fa/challenge", data={"csrf_token": csrf(client, "/2fa/challenge"),
                                        "code": "000000"})
    clock.advance(seconds=30)
    pass_second_factor(app, client, secret=secret)
    keep_token()

    assert tokens, "the flow never held a session cookie"
    secrets_ = {"password": password, "code": code, "wrong code": wrong, "TOTP secret": secret,
                **{f"recovery code {i}": c for i, c in enumerate(recovery_codes)},
                **{f"bare recovery code {i}": c.replace("-", "") for i, c in enumerate(recovery_codes)},
                **{f"session token {i}": t for i, t in enumerate(sorted(tokens))}}
    rows = "\n".join(row_text(e) for e in audit_events(app))
    logged = everything_logged(caplog)
    tags = {e.tag for e in audit_events(app)}
    assert {audit.REGISTERED, audit.EMAIL_CODE_SENT, audit.EMAIL_CODE_FAILED,
            audit.EMAIL_CONFIRMED, audit.LOGOUT, audit.LOGIN_FAILURE,
            audit.LOGIN_SUCCESS} <= tags
    # the log was really captured, the database's statements included
    assert "clef.audit" in logged and "clef.mail" in logged and "sqlalchemy.engine" in logged
    for name, secret in secrets_.items():
        assert secret not in rows, f"{name} in an audit row"
        assert secret not in logged, f"{name} in the log"


def _audit_inserts(app: Flask, work) -> int:
    """How many INSERT statements into audit_events ``work(db)`` sends."""
    from sqlalchemy import event

    engine = app.extensions["clef"].engine
    seen: list[str] = []

    def on_statement(_conn, _cursor, statement: str, *_args) -> None:
        if statement.startswith("INSERT INTO audit_events"):
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        with app.app_context():
            from idp.runtime import db
            work(db())
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
    return len(seen)


def test_the_events_of_one_transaction_are_written_by_one_statement(app: Flask) -> None:
    """Issue 11: events are batched; every one still reaches its row, with its fields."""
    from datetime import UTC, datetime

    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    where = audit.Where(IP, AGENT)

    def two_events(db) -> None:
        audit.record(db, at, audit.LOGIN_SUCCESS, actor="alice", account_id=7, where=where,
                     step="password")
        audit.record(db, at, audit.OIDC_CONSENT, actor="alice", account_id=7, where=where,
                     client="jobs")
        db.commit()

    assert _audit_inserts(app, two_events) == 1
    first, second = only(app, audit.LOGIN_SUCCESS), only(app, audit.OIDC_CONSENT)
    assert (first.actor, first.account_id, first.details) == ("alice", 7, {"step": "password"})
    assert second.details == {"client": "jobs"}
    assert_where_and_when(first, at)


def test_a_rolled_back_transaction_leaves_no_event(app: Flask) -> None:
    """Batching must not outlive the transaction: a rollback drops what was recorded,
    and a later commit of the same session does not write it."""
    from datetime import UTC, datetime

    def rolled_back(db) -> None:
        audit.record(db, datetime(2026, 1, 1, tzinfo=UTC), audit.LOGIN_FAILURE, actor="unknown")
        db.rollback()
        audit.record(db, datetime(2026, 1, 1, tzinfo=UTC), audit.LOGOUT, actor="bob")
        db.commit()

    _audit_inserts(app, rolled_back)
    assert audit_events(app, audit.LOGIN_FAILURE) == []
    assert len(audit_events(app, audit.LOGOUT)) == 1


def test_a_query_in_the_same_transaction_sees_the_events_recorded_before_it(app: Flask) -> None:
    from datetime import UTC, datetime

    found: list[str] = []

    def read_back(db) -> None:
        audit.record(db, datetime(2026, 1, 1, tzinfo=UTC), audit.ADMIN_LIST, actor="admin:root")
        found.extend(event.tag for event in audit.recent(db))
        db.rollback()

    _audit_inserts(app, read_back)
    assert found == [audit.ADMIN_LIST]
    assert audit_events(app, audit.ADMIN_LIST) == []  # rolled back with the rest
