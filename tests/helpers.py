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
from tests.totp_reference import key_of
from tests.totp_reference import totp as reference_totp

# A fixed 160-bit test secret: tests compute its codes with tests/totp_reference.py.
TEST_TOTP_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
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


def sign_in(client: FlaskClient, username: str, password: str = GOOD_PASSWORD,
            **headers: str) -> TestResponse:
    token = csrf(client, "/signin")
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": password}, headers=headers)


def sign_in_at(client: FlaskClient, location: str, username: str,
               password: str = GOOD_PASSWORD) -> TestResponse:
    """Sign in on the page a redirect led to (it keeps that page's ``next``)."""
    token = csrf(client, location)
    return client.post("/signin", data={"csrf_token": token, "username": username,
                                        "password": password})


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


def session_row(app: Flask, token: str) -> Any:
    """The server-side session row of ``token`` (detached), or None."""
    from idp.models import WebSession
    from idp.sessions import session_id

    db = app.extensions["clef"].session_factory()
    try:
        row = db.get(WebSession, session_id(token))
        if row is not None:
            db.expunge(row)
        return row
    finally:
        db.close()


def set_session_token(app: Flask, client: FlaskClient, token: str) -> None:
    """Make the client present ``token`` (to replay an old cookie, say)."""
    client.set_cookie(session_cookie_name(app), token)


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


def pass_second_factor(app: Flask, client: FlaskClient, username: str = "alice",
                       secret: str = TEST_TOTP_SECRET) -> TestResponse:
    """The real second step after :func:`sign_in`: a fresh TOTP code posted to the
    challenge. Returns the response (a 303 on success)."""
    code = fresh_totp(app, username, secret)
    token = csrf(client, "/2fa/challenge")
    response = client.post("/2fa/challenge", data={"code": code, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return response


SECRET_RE = re.compile(r'<code id="totp-secret">([A-Z2-7 ]+)</code>')
RECOVERY_CODE_RE = re.compile(r"<li><code>([0-9A-Z-]+)</code></li>")


def shown_secret(page: TestResponse) -> str:
    found = SECRET_RE.search(page.get_data(as_text=True))
    assert found, "no TOTP secret on the page"
    return found.group(1).replace(" ", "")


def shown_recovery_codes(page: TestResponse) -> list[str]:
    return RECOVERY_CODE_RE.findall(page.get_data(as_text=True))


def enrol_app(app: Flask, client: FlaskClient, saved: bool = True) -> tuple[str, list[str]]:
    """J8 through the real screens: choose the app, read the secret the page shows,
    confirm with a code computed from it, read the recovery codes, say they are saved.
    Returns (secret, recovery codes)."""
    setup = client.get("/2fa/setup/app")
    assert setup.status_code == 200, setup.headers.get("Location")
    secret = shown_secret(setup)
    confirmed = client.post("/2fa/setup/app", data={
        "csrf_token": csrf_from(setup), "code": current_totp(app, secret)})
    assert confirmed.status_code == 303, confirmed.get_data(as_text=True)[:2000]
    assert confirmed.headers["Location"] == "/2fa/recovery-codes"
    page = client.get("/2fa/recovery-codes")
    codes = shown_recovery_codes(page)
    if saved:
        done = client.post("/2fa/recovery-codes", data={"csrf_token": csrf_from(page), "saved": "y"})
        assert done.status_code == 303
    return secret, codes


def sign_out_via(client: FlaskClient) -> TestResponse:
    """Press "Sign out" on the account page."""
    return client.post("/signout", data={"csrf_token": csrf(client, "/account")})


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
