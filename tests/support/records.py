"""What the server recorded: audit rows, server-side session rows, the session
cookie a test client holds, and the writes a call sent to the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from idp.models import AuditEvent

if TYPE_CHECKING:
    from idp.sessions import SessionStore


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


def session_store(app: Flask) -> SessionStore:
    """The app's server-side session store."""
    store: SessionStore = app.extensions["clef"].sessions
    return store


def new_db(app: Flask) -> Session:
    """A new database session of the app's own (the caller closes it)."""
    db: Session = app.extensions["clef"].session_factory()
    return db


def writes_during(app: Flask, call: Callable[[], Any]) -> list[str]:
    """The statements other than reads that ``call`` sent to the database."""
    with statements_sent(app.extensions["clef"].engine) as sent:
        call()
    return [statement for statement in sent if not statement.upper().startswith("SELECT")]


def limiter_states(app: Flask) -> list[object]:
    """Filled, request by request, with the state Flask-Limiter's decorator leaves on the
    request context (None where it did not run)."""
    from flask.globals import request_ctx

    from idp.ratelimit import LIMITER_STATE

    seen: list[object] = []

    @app.after_request
    def look(response: Any) -> Any:
        seen.append(getattr(request_ctx, LIMITER_STATE, None))
        return response
    return seen


@contextmanager
def statements_sent(engine: Any) -> Iterator[list[str]]:
    """Every statement sent on ``engine`` inside the block, whitespace folded."""
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", on_statement)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
