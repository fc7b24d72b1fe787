"""Small readers of the second-factor state for the flow tests."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from idp.models import WebSession
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY
from tests.helpers import get_account, session_token
from tests.helpers import session_row as row_of


def session_row(app: Flask, client: FlaskClient) -> WebSession | None:
    """The session row of the cookie ``client`` holds, or None."""
    token = session_token(app, client)
    row: WebSession | None = None if token is None else row_of(app, token)
    return row


def factor_of(app: Flask, username: str) -> SecondFactor | None:
    account = get_account(app, username)
    assert account is not None
    db = app.extensions["clef"].session_factory()
    try:
        factor = db.get(SecondFactor, account.id)
        if factor is not None:
            db.expunge(factor)
        return factor
    finally:
        db.close()


def remaining_codes(app: Flask, username: str) -> int:
    account = get_account(app, username)
    assert account is not None
    db = app.extensions["clef"].session_factory()
    try:
        return int(app.extensions[EXTENSION_KEY].recovery_codes.remaining(db, account.id))
    finally:
        db.close()
