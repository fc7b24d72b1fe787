"""Small readers of the second-factor state for the flow tests."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from idp.models import WebSession
from idp.sessions import session_id
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY
from tests.helpers import get_account, session_token


def session_row(app: Flask, client: FlaskClient) -> WebSession | None:
    token = session_token(app, client)
    if token is None:
        return None
    db = app.extensions["clef"].session_factory()
    try:
        row = db.get(WebSession, session_id(token))
        if row is not None:
            db.expunge(row)
        return row
    finally:
        db.close()


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
