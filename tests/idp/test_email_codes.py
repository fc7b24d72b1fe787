"""Emailed confirmation codes (S16; S12 and S7 where they apply): through the
registration screens that confirm a recovery email, and the ``EmailCodes`` service."""

from __future__ import annotations

import hashlib

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text
from werkzeug.test import TestResponse

from idp.db import Base
from idp.email_codes import (
    CodeExpired,
    NoLiveCode,
    ResendTooSoon,
    TooManyWrongCodes,
    WrongCode,
)
from idp.models import Account, EmailCode
from tests.helpers import create_account, csrf, emailed_code, get_account, outbox, register

ADDRESS = "alice@example.com"


@pytest.fixture
def app(make_app) -> Flask:
    # The per-IP limit on code posts (10/minute) is not under test here; these tests post
    # more than that within a real minute.
    return make_app(rate_limit={"email_code_per_ip": "1000/minute"})


def start(app: Flask, client: FlaskClient, username: str = "alice",
          address: str = ADDRESS) -> str:
    """Register with a recovery email; returns the code the mail carries."""
    response = register(client, username, email_address=address)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/register/email")
    return emailed_code(outbox(app)[-1])


def submit(client: FlaskClient, code: str) -> TestResponse:
    return client.post("/register/email",
                       data={"csrf_token": csrf(client, "/register/email"), "code": code})


def resend(client: FlaskClient) -> TestResponse:
    return client.post("/register/email/resend",
                       data={"csrf_token": csrf(client, "/register/email")})


def confirmed(app: Flask, username: str = "alice") -> bool:
    account = get_account(app, username)
    assert account is not None
    return account.has_confirmed_email


def other_than(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def accepted(response: TestResponse) -> bool:
    return response.status_code == 303 and response.headers["Location"].endswith("/register/questions")


def page(response: TestResponse) -> str:
    return response.get_data(as_text=True)


def test_the_right_code_confirms_the_address_S16(app, client):
    code = start(app, client)
    assert not confirmed(app)
    assert accepted(submit(client, code))
    assert confirmed(app)
    assert get_account(app, "alice").email_confirmed_at == app.extensions["clef"].clock.now()


def test_codes_are_six_random_digits_S16(app):
    svc = app.extensions["clef"]
    account = create_account(app, "alice", email_address=ADDRESS)
    db = svc.session_factory()
    try:
        codes = []
        for _ in range(30):
            codes.append(svc.email_codes.issue(db, account.id, "probe", ADDRESS, svc.clock.now()))
            svc.email_codes.discard(db, account.id, "probe")
    finally:
        db.close()
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert len(set(codes)) > 25  # 30 draws from a million: repeats are all but impossible


def test_code_is_stored_only_as_a_keyed_hash_S16(app, client):
    code = start(app, client)
    svc = app.extensions["clef"]
    account_id = get_account(app, "alice").id

    with svc.engine.connect() as connection:
        (row,) = connection.execute(text("SELECT * FROM email_codes")).mappings().all()
        everything = [
            str(value)
            for table in Base.metadata.sorted_tables
            for record in connection.execute(select(table)).all()
            for value in record
        ]
    assert code not in " ".join(everything)
    assert row["binding"] == ADDRESS
    stored = row["code_hash"]
    for guess in (code, f"{account_id}:confirm_email:{code}"):
        plain = guess.encode()
        # S324: sha1 here only to show the stored value is not an unkeyed hash of the code
        assert stored not in (hashlib.sha256(plain).hexdigest(), hashlib.sha1(plain).hexdigest())  # noqa: S324
    assert svc.keys.matches("email_code", f"{account_id}:confirm_email:{code}", stored)


def test_code_expires_after_ten_minutes_S16(app, client, clock):
    code = start(app, client)
    clock.advance(minutes=10)

    response = submit(client, code)

    assert response.status_code == 400
    assert "That code has expired. Ask for a new code." in page(response)
    assert not confirmed(app)
    assert "There is no code waiting" in page(submit(client, code))  # deleted, not revived


def test_code_still_works_just_before_ten_minutes_S16(app, client, clock):
    code = start(app, client)
    clock.advance(minutes=9, seconds=59)
    assert accepted(submit(client, code))


def test_code_works_once_S16(app):
    svc = app.extensions["clef"]
    account = create_account(app, "alice", email_address=ADDRESS)
    db = svc.session_factory()
    try:
        code = svc.email_codes.issue(db, account.id, "confirm_email", ADDRESS, svc.clock.now())
        db.commit()
        assert svc.email_codes.verify(db, account.id, "confirm_email", code,
                                      svc.clock.now()) == ADDRESS
        db.commit()
        with pytest.raises(NoLiveCode):
            svc.email_codes.verify(db, account.id, "confirm_email", code, svc.clock.now())
        assert db.get(EmailCode, (account.id, "confirm_email")) is None
    finally:
        db.close()


def test_resend_kills_the_previous_code_S16(app, client, clock):
    first = start(app, client)
    second = first
    while second == first:  # one chance in a million that a new code repeats the old one
        clock.advance(seconds=30)
        response = resend(client)
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/register/email?sent=1")
        second = emailed_code(outbox(app)[-1])
    assert "Earlier codes no longer work." in page(client.get("/register/email?sent=1"))

    old = submit(client, first)

    assert old.status_code == 400
    assert "That code is not correct. 4 tries left." in page(old)
    assert accepted(submit(client, second))


def test_resend_too_soon_is_refused_S16(app, client, clock):
    start(app, client)

    now = resend(client)
    clock.advance(seconds=29)
    later = resend(client)

    assert now.status_code == later.status_code == 429
    assert "Wait 30 seconds before asking again." in page(now)
    assert "Wait 1 second before asking again." in page(later)
    assert len(outbox(app)) == 1
    clock.advance(seconds=1)
    assert resend(client).status_code == 303
    assert len(outbox(app)) == 2


def test_five_wrong_codes_kill_the_code_and_the_flow_restarts_S16(app, client):
    code = start(app, client)
    wrong = other_than(code)
    for left in (4, 3, 2, 1):
        response = submit(client, wrong)
        assert response.status_code == 400
        tries = "try" if left == 1 else "tries"
        assert f"That code is not correct. {left} {tries} left." in page(response)

    fifth = submit(client, wrong)

    assert "Too many wrong codes. Ask for a new code." in page(fifth)
    right_too_late = submit(client, code)
    assert right_too_late.status_code == 400
    assert "There is no code waiting. Ask for a new code." in page(right_too_late)
    assert not confirmed(app)
    # A new code must be asked for; it works (no wait: the dead code left no row).
    assert resend(client).status_code == 303
    assert accepted(submit(client, emailed_code(outbox(app)[-1])))


def test_asking_for_a_new_code_does_not_reset_the_wrong_tries_S7(app, client, clock):
    code = start(app, client)
    for _ in range(3):
        submit(client, other_than(code))
    clock.advance(seconds=30)
    resend(client)
    fresh = emailed_code(outbox(app)[-1])

    assert "1 try left" in page(submit(client, other_than(fresh)))
    assert "Too many wrong codes" in page(submit(client, other_than(fresh)))
    assert "There is no code waiting" in page(submit(client, fresh))


def test_a_code_bound_to_one_address_does_not_confirm_another_S16(app, client):
    code = start(app, client, address="first@example.com")
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:  # the address on the account changes after the code went out
        account = db.scalars(select(Account).where(Account.username == "alice")).one()
        account.email = "second@example.com"
        db.commit()
    finally:
        db.close()

    response = submit(client, code)

    assert response.status_code == 400
    assert not confirmed(app)
    assert get_account(app, "alice").email == "second@example.com"


def test_codes_are_bound_to_account_and_purpose_S12(app):
    svc = app.extensions["clef"]
    alice = create_account(app, "alice", email_address=ADDRESS)
    bob = create_account(app, "bob", email_address="bob@example.com")
    now = svc.clock.now()
    db = svc.session_factory()
    try:
        code = svc.email_codes.issue(db, alice.id, "confirm_email", ADDRESS, now)
        svc.email_codes.issue(db, alice.id, "signin", "attempt-1", now)
        svc.email_codes.issue(db, bob.id, "confirm_email", "bob@example.com", now)
        db.commit()
        with pytest.raises(WrongCode):  # alice's code on bob's row
            svc.email_codes.verify(db, bob.id, "confirm_email", code, now)
        with pytest.raises(WrongCode):  # the confirm_email code for another purpose
            svc.email_codes.verify(db, alice.id, "signin", code, now)
        assert svc.email_codes.pending_binding(db, alice.id, "signin") == "attempt-1"
        assert svc.email_codes.verify(db, alice.id, "confirm_email", code, now) == ADDRESS
    finally:
        db.close()


def test_service_raises_typed_errors_S16(app, clock):
    """The service's contract, one error per outcome, so the screens can say which."""
    svc = app.extensions["clef"]
    account = create_account(app, "alice", email_address=ADDRESS)
    db = svc.session_factory()
    try:
        codes = svc.email_codes
        with pytest.raises(NoLiveCode):
            codes.verify(db, account.id, "confirm_email", "123456", clock.now())
        code = codes.issue(db, account.id, "confirm_email", ADDRESS, clock.now())
        with pytest.raises(ResendTooSoon) as soon:
            codes.issue(db, account.id, "confirm_email", ADDRESS, clock.advance(seconds=10))
        assert soon.value.retry_after.total_seconds() == 20
        with pytest.raises(WrongCode) as wrong:
            codes.verify(db, account.id, "confirm_email", other_than(code), clock.now())
        assert wrong.value.attempts_left == 4
        for _ in range(3):
            with pytest.raises(WrongCode):
                codes.verify(db, account.id, "confirm_email", other_than(code), clock.now())
        with pytest.raises(TooManyWrongCodes):
            codes.verify(db, account.id, "confirm_email", other_than(code), clock.now())
        code = codes.issue(db, account.id, "confirm_email", ADDRESS, clock.now())
        with pytest.raises(CodeExpired):
            codes.verify(db, account.id, "confirm_email", code, clock.advance(minutes=10))
        code = codes.issue(db, account.id, "confirm_email", ADDRESS, clock.now())
        assert codes.verify(db, account.id, "confirm_email", f" {code[:3]} {code[3:]} ",
                            clock.now()) == ADDRESS  # spaces as people type them
    finally:
        db.close()


def test_a_new_code_after_a_dead_one_in_the_same_transaction_works_S16(app, clock):
    """verify() leaves the commit to its caller; a caller that sends a fresh code in the
    same transaction (a slice restarting its flow) must get a live one, not a row that
    is about to be deleted."""
    svc = app.extensions["clef"]
    account = create_account(app, "alice", email_address=ADDRESS)
    db = svc.session_factory()
    try:
        codes = svc.email_codes
        code = codes.issue(db, account.id, "confirm_email", ADDRESS, clock.now())
        for _ in range(4):
            with pytest.raises(WrongCode):
                codes.verify(db, account.id, "confirm_email", other_than(code), clock.now())
        with pytest.raises(TooManyWrongCodes):
            codes.verify(db, account.id, "confirm_email", other_than(code), clock.now())
        fresh = codes.issue(db, account.id, "confirm_email", ADDRESS, clock.now())
        db.commit()
        assert codes.verify(db, account.id, "confirm_email", fresh, clock.now()) == ADDRESS
    finally:
        db.close()
