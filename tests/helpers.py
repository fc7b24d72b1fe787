"""Small tools the tests share: accounts made through the real service, the CSRF token
of a page, the outbox, signing in through the real screens."""

from __future__ import annotations

import email
import re
from collections.abc import Mapping
from email.message import Message
from pathlib import Path
from typing import Any

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.audit import Where
from idp.models import Account, AuditEvent

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


# --- Audit rows, the admin CLI, registration and emailed codes (added for tests/idp) ---


def audit_events(app: Flask, tag: str | None = None) -> list[AuditEvent]:
    """Every audit row, oldest first, optionally only those with ``tag``."""
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        query = select(AuditEvent).order_by(AuditEvent.id)
        if tag is not None:
            query = query.where(AuditEvent.tag == tag)
        rows = list(db.scalars(query))
        db.expunge_all()
        return rows
    finally:
        db.close()


def run_cli(app: Flask, *args: str) -> Result:
    """Run ``clef <args>`` against ``app`` through Flask's CLI runner."""
    return app.test_cli_runner().invoke(args=list(args))


CODE_RE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


def register(client: FlaskClient, username: str, password: str = GOOD_PASSWORD,
             email_address: str | None = None, **headers: str) -> TestResponse:
    """Post the registration screen (J2) as a person would."""
    data = {"csrf_token": csrf(client, "/register"), "username": username,
            "password": password, "confirm": password}
    if email_address is not None:
        data["email"] = email_address
    return client.post("/register", data=data, headers=headers)


def emailed_code(message: Message) -> str:
    """The one six-digit code in a mail's body."""
    found = CODE_RE.findall(body_of(message))
    assert len(found) == 1, f"expected one code in the mail, found {found}"
    return str(found[0])


# --- Sessions, audit and translations (added for tests/idp) -----------------------------

PO_FILE = (Path(__file__).resolve().parent.parent
           / "translations" / "fr" / "LC_MESSAGES" / "messages.po")


def session_cookie_name(app: Flask) -> str:
    from idp.web_session import cookie_name

    return cookie_name(app)


def session_token(app: Flask, client: FlaskClient) -> str | None:
    """The session token the test client holds, or None."""
    cookie = client.get_cookie(session_cookie_name(app))
    return cookie.value if cookie is not None else None


def set_session_token(app: Flask, client: FlaskClient, token: str) -> None:
    """Make the client present ``token`` (to replay an old cookie, say)."""
    client.set_cookie(session_cookie_name(app), token)


def pass_second_factor(app: Flask, client: FlaskClient,
                       methods: tuple[str, ...] = ("pwd", "otp")) -> str:
    """Stand-in for the second-factor step (not built yet): move the client's pending
    session to the full level through the real SessionStore, as the mfa slice will."""
    from idp.models import WebSession
    from idp.sessions import session_id

    svc = app.extensions["clef"]
    token = session_token(app, client)
    assert token, "the client has no session"
    db = svc.session_factory()
    try:
        record = db.get(WebSession, session_id(token))
        assert record is not None, "the client's session is not live"
        new_token, _ = svc.sessions.passed_second_factor(db, record, list(methods), svc.clock.now())
        db.commit()
    finally:
        db.close()
    set_session_token(app, client, new_token)
    return new_token


def audit_tags(app: Flask) -> list[str]:
    """Every audit event's tag, oldest first."""
    return [event.tag for event in audit_events(app)]


def french(msgid: str) -> str | None:
    """The French catalogue's translation of ``msgid``, or None while it has none (the
    catalogue is written alongside the screens)."""
    from babel.messages.pofile import read_po

    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle, locale="fr")
    message = catalog.get(msgid)
    if message is None or message.fuzzy or not message.string:
        return None
    text = message.string
    return text if isinstance(text, str) else text[0]


def decoded_header(message: Message, name: str) -> str:
    """A header as the person reads it (RFC 2047 encoded words decoded, folding undone)."""
    from email.header import decode_header, make_header

    return str(make_header(decode_header(str(message[name]))))
