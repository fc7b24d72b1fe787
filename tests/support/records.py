"""What the server recorded: audit rows, server-side session rows, and the session
cookie a test client holds."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.models import AuditEvent


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


def audit_tags(app: Flask) -> list[str]:
    """Every audit event's tag, oldest first."""
    return [event.tag for event in audit_events(app)]


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
