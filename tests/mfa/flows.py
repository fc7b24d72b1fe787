"""Small readers of the second-factor state for the flow tests."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from idp.models import WebSession
from idp.throttle import SECOND_FACTOR_STEP
from mfa.models import SecondFactor
from mfa.runtime import EXTENSION_KEY
from tests.helpers import csrf, get_account, session_token
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


def post_code(client: FlaskClient, code: str, token: str | None = None) -> Any:
    """The second step's form posted with ``code`` (the page's own form token unless one
    is given)."""
    token = token or csrf(client, "/2fa/challenge")
    return client.post("/2fa/challenge", data={"csrf_token": token, "code": code})


def failures(app: Flask, username: str, step: str = SECOND_FACTOR_STEP) -> int:
    """The failures counted against ``username`` at ``step``."""
    svc = app.extensions["clef"]
    with svc.session_factory() as db:
        return int(svc.throttle.state(db, get_account(app, username).username_key, step).failures)
