"""The web session read and written with prebuilt Core statements (idp.session_rows,
issue 11), and what an attacker would try against the shortcuts: the old cookie after
a renewal, two renewals of one session at once, a session ended between the read and
the write, an expired or malformed or huge cookie, two tabs writing, the other
language; and the account built from the read against the ORM's own loading."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from idp import audit, session_rows
from idp.models import Account, WebSession
from idp.sessions import ANONYMOUS, FULL, PASSWORD, session_id
from tests.helpers import (
    audit_tags,
    create_account,
    csrf,
    fresh_totp,
    pass_second_factor,
    session_row,
    session_token,
    set_session_token,
    sign_in,
)
from tests.idp.test_sessions import signed_in
from tests.support.catalogue import french
from tests.support.records import new_db, session_store


def _now(app: Flask) -> Any:
    return app.extensions["clef"].clock.now()


def _statements(db: Session) -> list[str]:
    seen: list[str] = []

    def on_statement(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.get_bind(), "before_cursor_execute", on_statement)
    return seen


def _password_session(app: Flask, username: str = "alice") -> tuple[int, str]:
    """A session that passed the password step, through the store: (account id, token)."""
    account = create_account(app, username)
    db = new_db(app)
    try:
        token = session_store(app).insert_anonymous(db, _now(app), {"k": "v"})
        db.commit()
        old = session_store(app).load(db, token, _now(app)).record
        pending, _ = session_store(app).passed_password(db, old, account.id, _now(app))
        db.commit()
    finally:
        db.close()
    return account.id, pending


# --- the account built from the read, against the ORM's own loading ----------------


def test_the_account_from_the_read_is_the_one_the_orm_loads(app: Flask) -> None:
    """Guards the library internals :func:`session_rows.account` relies on: every
    column equal to the ORM's copy, persistent and unmodified, found by ``get`` with
    no SELECT, and a change to it written by the flush as one UPDATE."""
    account_id, token = _password_session(app)
    with new_db(app) as orm:
        loaded = orm.get(Account, account_id)
        assert loaded is not None
        expected = {c.key: getattr(loaded, c.key) for c in Account.__table__.columns}
    db = new_db(app)
    try:
        record = session_store(app).load(db, token, _now(app)).record
        assert record is not None and record.account_id == account_id
        seen = _statements(db)
        built = session_store(app).account(db, account_id)
        assert built is not None and seen == []
        assert {c.key: getattr(built, c.key) for c in Account.__table__.columns} == expected
        state = inspect(built)
        assert state.persistent and not state.modified and built in db
        assert db.get(Account, account_id) is built and seen == []
        assert not db.dirty and not db.new
        built.locale = "fr"
        db.commit()
        assert [s for s in seen if s.startswith("UPDATE accounts")] == [
            next(s for s in seen if s.startswith("UPDATE accounts"))]
    finally:
        db.close()
    with new_db(app) as check:
        changed = check.get(Account, account_id)
        assert changed is not None and changed.locale == "fr"


def test_an_account_already_in_the_session_is_the_one_returned(app: Flask) -> None:
    account_id, token = _password_session(app)
    db = new_db(app)
    try:
        session_store(app).load(db, token, _now(app))
        first = db.scalars(select(Account).where(Account.id == account_id)).one()
        assert session_store(app).account(db, account_id) is first
    finally:
        db.close()


def test_another_accounts_id_is_read_from_the_database(app: Flask) -> None:
    """The read's account answers only for its own id."""
    _account_id, token = _password_session(app)
    other = create_account(app, "bob")
    db = new_db(app)
    try:
        session_store(app).load(db, token, _now(app))
        found = session_store(app).account(db, other.id)
        assert found is not None and found.username == "bob"
    finally:
        db.close()


def test_an_anonymous_session_reads_no_account(app: Flask) -> None:
    db = new_db(app)
    try:
        token = session_store(app).insert_anonymous(db, _now(app), {"k": "v"})
        db.commit()
        record = session_store(app).load(db, token, _now(app)).record
        assert record is not None and record.level == ANONYMOUS and record.account_id is None
        assert record.data == {"k": "v"}
    finally:
        db.close()


# --- renewals --------------------------------------------------------------------


def test_the_old_cookie_after_each_renewal_is_refused_S20(app: Flask) -> None:
    create_account(app, "alice")
    client = app.test_client()
    csrf(client, "/signin")
    anonymous = session_token(app, client)
    assert sign_in(client, "alice").status_code == 303
    pending = session_token(app, client)
    pass_second_factor(app, client)
    full = session_token(app, client)
    assert len({anonymous, pending, full}) == 3
    for old in (anonymous, pending):
        assert old is not None and session_row(app, old) is None
        replay = app.test_client()
        set_session_token(app, replay, old)
        assert replay.get("/account").status_code == 303  # to sign in
        assert replay.get("/2fa/challenge").status_code == 303


def test_two_second_factor_renewals_of_one_session_leave_one_S20_S21(app: Flask) -> None:
    """Both requests read the session that passed the password; the first moves it. The
    second finds nothing to move and brings nothing back: one signed-in session."""
    account_id, token = _password_session(app)
    first, second = new_db(app), new_db(app)
    try:
        late = session_store(app).load(second, token, _now(app)).record
        second.commit()
        early = session_store(app).load(first, token, _now(app)).record
        assert early is not None and late is not None
        won, _ = session_store(app).passed_second_factor(first, early, ["pwd", "otp"], _now(app))
        first.commit()
        lost, _ = session_store(app).passed_second_factor(second, late, ["pwd", "otp"], _now(app))
        second.commit()
    finally:
        first.close()
        second.close()
    assert session_row(app, token) is None and session_row(app, lost) is None
    row = session_row(app, won)
    assert row is not None and row.level == FULL and row.account_id == account_id


def test_a_session_revoked_between_the_read_and_the_renewal_stays_ended_S21_S22(
        app: Flask) -> None:
    """The admin ends the person's sessions after the second step read the session and
    before its renewal is written: nothing signed in comes back."""
    account_id, token = _password_session(app)
    db, admin = new_db(app), new_db(app)
    try:
        record = session_store(app).load(db, token, _now(app)).record
        assert record is not None
        assert session_store(app).end_for_account(admin, account_id) == 1
        admin.commit()
        full, _ = session_store(app).passed_second_factor(db, record, ["pwd", "otp"], _now(app))
        db.commit()
        rows = db.scalars(select(WebSession.id)).all()
    finally:
        db.close()
        admin.close()
    assert rows == [] and session_row(app, full) is None


def test_a_renewal_rolled_back_writes_nothing(app: Flask) -> None:
    _account_id, token = _password_session(app)
    db = new_db(app)
    try:
        record = session_store(app).load(db, token, _now(app)).record
        assert record is not None
        full, _ = session_store(app).passed_second_factor(db, record, ["pwd", "otp"], _now(app))
        assert session_rows.unwritten(db)
        db.rollback()
        assert not session_rows.unwritten(db)
        db.commit()
    finally:
        db.close()
    kept = session_row(app, token)
    assert kept is not None and kept.level == PASSWORD and session_row(app, full) is None


def test_a_renewal_is_written_before_a_later_statement_of_the_transaction(app: Flask) -> None:
    """Like the ORM's autoflush: a query after the renewal sees the moved row."""
    _account_id, token = _password_session(app)
    db = new_db(app)
    try:
        record = session_store(app).load(db, token, _now(app)).record
        assert record is not None
        full, _ = session_store(app).passed_second_factor(db, record, ["pwd", "otp"], _now(app))
        assert db.scalars(select(WebSession.level).where(
            WebSession.id == session_id(full))).one() == FULL
        db.commit()
    finally:
        db.close()


# --- writes of the data and the activity time ------------------------------------


def test_two_tabs_write_only_what_each_changed(app: Flask, clock: Any) -> None:
    """One tab stores a value, the other only records activity later: neither writes
    back the other's stale copy."""
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    assert token is not None
    one, two = new_db(app), new_db(app)
    try:
        first = session_store(app).load(one, token, _now(app)).record
        second = session_store(app).load(two, token, _now(app)).record
        assert first is not None and second is not None
        first.data = {**first.data, "tab": "one"}
        assert session_rows.write_changes(one, first, alone=True)
        one.commit()
        clock.advance(seconds=120)
        assert session_store(app).touch(second, _now(app))
        assert session_rows.write_changes(two, second, alone=True)
        two.commit()
    finally:
        one.close()
        two.close()
    row = session_row(app, token)
    assert row.data.get("tab") == "one" and row.last_seen_at == clock.now()


def test_stay_signed_in_writes_the_activity_time_with_its_audit_event_J4(
        app: Flask, clock: Any) -> None:
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    clock.advance(seconds=30)  # within the touch interval: only the forced write
    from tests.perf.round_trips import round_trips

    form = {"csrf_token": csrf(client, "/account")}
    with round_trips(app.extensions["clef"].engine) as trips:
        assert client.post("/session/keepalive", data=form).status_code == 303
    assert session_row(app, token).last_seen_at == clock.now()
    assert trips.count("UPDATE sessions SET last_seen_at") == 1, trips.statements
    assert trips.commits == 1
    assert audit.SESSION_RENEWED in audit_tags(app)


# --- cookies that lead nowhere ---------------------------------------------------


def test_an_expired_sessions_cookie_is_refused_and_its_row_ended_S22(
        app: Flask, clock: Any) -> None:
    create_account(app, "alice")
    client = signed_in(app)
    token = session_token(app, client)
    assert token is not None
    clock.advance(minutes=21)
    assert client.get("/account").status_code == 303
    assert session_row(app, token) is None
    replay = app.test_client()
    set_session_token(app, replay, token)
    assert replay.get("/account").status_code == 303


def test_malformed_huge_and_foreign_cookies_find_nothing(app: Flask) -> None:
    """Not a token (non-ASCII, control characters, 4 KB), and the stored key of a live
    session (the row's id, not its token): each is a new visitor, never a 500."""
    create_account(app, "alice")
    live = session_token(app, signed_in(app))
    assert live is not None
    for value in ("é" * 20, "x\x01y", "A" * 4000, session_id(live), "", " "):
        client = app.test_client()
        set_session_token(app, client, value)
        page = client.get("/account")
        assert page.status_code == 303, value[:20]
        assert client.get("/signin").status_code == 200


def test_the_renewed_session_keeps_the_persons_language(app: Flask) -> None:
    """The other language: the steps in French, the pages after each renewal too, and
    the old cookie refused the same way."""
    create_account(app, "alice")
    client = app.test_client()
    fr = {"Accept-Language": "fr"}
    assert sign_in(client, "alice", **fr).status_code == 303
    pending = session_token(app, client)
    page = client.get("/2fa/challenge", headers=fr)
    assert page.status_code == 200 and 'lang="fr"' in page.get_data(as_text=True)
    code = fresh_totp(app, "alice")
    token = csrf(client, "/2fa/challenge")
    done = client.post("/2fa/challenge", data={"code": code, "csrf_token": token}, headers=fr)
    assert done.status_code == 303
    account = client.get("/account", headers=fr)
    assert account.status_code == 200 and 'lang="fr"' in account.get_data(as_text=True)
    title = french("Your account")
    assert title is None or title in account.get_data(as_text=True)
    replay = app.test_client()
    assert pending is not None
    set_session_token(app, replay, pending)
    assert replay.get("/2fa/challenge", headers=fr).status_code == 303
