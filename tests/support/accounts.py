"""Accounts as the real services make them, with the second factor an enrolled account
has, and the codes its authenticator app shows at the app's (frozen) time."""

from __future__ import annotations

from typing import Any

from flask import Flask

from idp.audit import Where
from idp.models import Account
from tests.totp_reference import key_of
from tests.totp_reference import totp as reference_totp

# A fixed 160-bit test secret: tests compute its codes with tests/totp_reference.py.
TEST_TOTP_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
GOOD_PASSWORD = "correct horse battery staple"


def create_account(
    app: Flask,
    username: str = "alice",
    password: str = GOOD_PASSWORD,
    email_address: str | None = None,
    confirmed: bool = False,
    locale: str = "en",
    second_factor: str | None = "totp",
) -> Account:
    """An account made by the real registration service, with a second factor as an
    enrolled account has: an app with :data:`TEST_TOTP_SECRET` (the default), email
    codes (``"email"``, needs a confirmed address) or none (never finished, J8)."""
    svc = app.extensions["clef"]
    with app.app_context():
        db = svc.session_factory()
        try:
            account = svc.accounts.register(
                db, svc.clock.now(), username=username, password=password, confirm=password,
                email=email_address, locale=locale, where=Where(ip="127.0.0.1"),
            )
            if confirmed:
                account.email_confirmed_at = svc.clock.now()
            if second_factor is not None:
                give_second_factor(app, db, account.id, second_factor)
            db.commit()
            db.expunge(account)
            return account
        finally:
            db.close()


def get_account(app: Flask, username: str) -> Account | None:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        account = svc.accounts.get_by_username(db, username)
        if account is not None:
            db.expunge(account)
        return account
    finally:
        db.close()


def give_second_factor(app: Flask, db: Any, account_id: int, kind: str = "totp") -> None:
    """Store a factor as enrolment does (secret sealed by the app's own box)."""
    from mfa.models import SecondFactor
    from mfa.runtime import EXTENSION_KEY

    box = app.extensions[EXTENSION_KEY].box
    db.add(SecondFactor(
        account_id=account_id, kind=kind, created_at=app.extensions["clef"].clock.now(),
        totp_secret=box.seal(TEST_TOTP_SECRET) if kind == "totp" else None,
    ))


def current_totp(app: Flask, secret: str = TEST_TOTP_SECRET) -> str:
    """The code an app holding ``secret`` shows at the app's (frozen) time, computed by
    the independent RFC 6238 implementation."""
    now = app.extensions["clef"].clock.now()
    return reference_totp(key_of(secret), int(now.timestamp()))


def fresh_totp(app: Flask, username: str, secret: str = TEST_TOTP_SECRET) -> str:
    """A code the account has not used yet: when its current time step was already
    accepted (S11 refuses it again), the frozen clock moves on to the next step, as a
    person would wait for the app's next code."""
    from mfa.models import SecondFactor

    svc = app.extensions["clef"]
    account = get_account(app, username)
    assert account is not None
    db = svc.session_factory()
    try:
        factor = db.get(SecondFactor, account.id)
        last = factor.last_totp_step if factor is not None else None
    finally:
        db.close()
    period = svc.settings.mfa.totp_period_seconds
    step = int(svc.clock.now().timestamp()) // period
    if last is not None and last >= step:
        svc.clock.advance(seconds=period * (last - step + 1))
    return current_totp(app, secret)
