"""Small tools the tests share: accounts made through the real service, the CSRF token
of a page, the outbox, signing in through the real screens."""

from __future__ import annotations

import email
import re
from collections.abc import Mapping
from email.message import Message
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idp.audit import Where
from idp.models import Account

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
GOOD_PASSWORD = "correct horse battery staple"


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def csrf_from(response: TestResponse) -> str:
    found = CSRF_RE.search(response.get_data(as_text=True))
    assert found, "no CSRF token on the page"
    return found.group(1)


def csrf(client: FlaskClient, path: str) -> str:
    return csrf_from(client.get(path))


def create_account(
    app: Flask,
    username: str = "alice",
    password: str = GOOD_PASSWORD,
    email_address: str | None = None,
    confirmed: bool = False,
    locale: str = "en",
) -> Account:
    """An account made by the real registration service."""
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


def sign_in(client: FlaskClient, username: str, password: str = GOOD_PASSWORD,
            **headers: str) -> TestResponse:
    token = csrf(client, "/signin")
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": password}, headers=headers)


def outbox(app: Flask) -> list[Message]:
    folder = Path(app.extensions["clef"].settings.instance_path) / "outbox"
    if not folder.is_dir():
        return []
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def body_of(message: Message) -> str:
    part = message.get_payload(0) if message.is_multipart() else message
    assert isinstance(part, Message)
    payload = part.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(part.get_content_charset() or "utf-8")
