"""Flask adapter for the server-side sessions of ``idp.sessions``.

Flask's ``session`` becomes a :class:`ServerSession`: a dict stored in the ``sessions``
table, found by the cookie's token. An anonymous visitor's session holds, at first, only
a form token and where to go back to (``next``): those travel in the cookie, signed
(:mod:`idp.visitor_cookie`, D15), and the visitor gets a row only once anything else is
stored. Views never touch tokens; they call
:func:`passed_password`, :func:`passed_second_factor` or :func:`end_session`, which renew
the token as S20 and S21 ask.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Request, Response, redirect, request, session, url_for
from flask.sessions import SessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import CallbackDict

from idp import audit, session_rows, visitor_cookie
from idp.errors import service_unavailable
from idp.oidc import reauth
from idp.redirects import request_target
from idp.runtime import db, opened_db, services
from idp.session_rows import SessionRow
from idp.sessions import ANONYMOUS, FULL, PASSWORD, of_another_account

F = TypeVar("F", bound=Callable[..., Any])
# Probes and metrics (idp.health, idp.metrics) never read or write a session: they stay
# cheap and answer with the database down.
OPERATIONS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Called by portals' servers with their own credentials (a client secret, a bearer token),
# never on behalf of a browser's session: a cookie sent along is not read (no session
# look-up per token request, issue 11) and cannot lend a session to these endpoints.
PORTAL_SERVER_PATHS = frozenset({"/token", "/userinfo", "/revoke", "/introspect"})
SECURE_COOKIE = "__Host-clef_session"
PLAIN_COOKIE = "clef_session"
CSRF_KEY = "csrf_token"  # where Flask-WTF keeps the raw form token (WTF_CSRF_FIELD_NAME)
NEXT_KEY = "next"  # where the sign-in steps go back to (S26; idp.views.common)
# All a visitor cookie may carry (D15): the visitor's own values, which a replayed older
# copy cannot turn against anyone. Storing anything else gives the visitor a row.
VISITOR_KEYS = frozenset({CSRF_KEY, NEXT_KEY})
# All a password step keeps of another account's session in this browser: where this
# sign-in goes back to, and the portal's "sign in again" marker it answers (S37).
CARRIED_TO_ANOTHER_ACCOUNT = frozenset({NEXT_KEY, reauth.LOGIN_ASKED_KEY})
# Requests a page makes by itself (its idle timer, J4): they never count as activity, or
# a tab left open would keep its session alive for ever (D5).
PASSIVE_ENDPOINTS = frozenset({"auth.session_remaining", "auth.session_expired"})


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(
        self,
        data: dict[str, Any] | None = None,
        token: str | None = None,
        record: SessionRow | None = None,
        expired: bool = False,
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.token = token
        self.record = record
        self.expired = expired
        # Opened from a visitor cookie (D15): what it held, and whether it is due to be
        # sealed again; None for any other session.
        self.visitor: dict[str, Any] | None = None
        self.visitor_due = False
        self.modified = False
        self.renewed = False
        self.ended = False
        self.inert = False
        # Set when the database could not be reached to open the session: the request
        # is answered with the 503 page (idp.errors) on this empty, inert session.
        self.unavailable: Exception | None = None

    @property
    def level(self) -> str:
        return self.record.level if self.record else ANONYMOUS

    @property
    def account_id(self) -> int | None:
        return self.record.account_id if self.record else None

    def keep_only(self, keys: frozenset[str]) -> None:
        """Drop every value but those under ``keys``."""
        for key in [key for key in self if key not in keys]:
            del self[key]

    def adopt(self, token: str, record: SessionRow) -> None:
        """Point at a renewed row, keeping what this request stored so far except the
        form token: pages after a privilege step get a fresh one (S20), made here so the
        page that follows has nothing to write back (issue 11)."""
        self[CSRF_KEY] = new_form_token()
        self.token, self.record = token, record
        record.data = dict(self)
        self.renewed = True


def new_form_token() -> str:
    """A raw form token as Flask-WTF makes one (160 random bits, hex), stored with the
    session when its row is written anyway: the GET page that then renders a form finds
    it and leaves the session unchanged, instead of a write and a commit per page."""
    return secrets.token_hex(20)


def cookie_name(app: Flask) -> str:
    return SECURE_COOKIE if app.config["CLEF_SECURE_COOKIE"] else PLAIN_COOKIE


class ServerSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        if request.path.startswith("/static/") or request.path in OPERATIONS_PATHS \
                or request.path in PORTAL_SERVER_PATHS:
            inert = ServerSession()
            inert.inert = True
            return inert
        token = request.cookies.get(cookie_name(app))
        if not token:
            return ServerSession()
        if token.startswith(visitor_cookie.PREFIX):
            return _visitor_session(token)
        svc = services()
        now = svc.clock.now()
        where = audit.Where(request.remote_addr, request.headers.get("User-Agent"))
        try:
            loaded = svc.sessions.load(db(), token, now, where, request)
        except Exception as error:
            if not service_unavailable(error):
                raise
            inert = ServerSession()
            inert.inert, inert.unavailable = True, error
            return inert
        if loaded.record is None:
            return ServerSession(expired=loaded.expired)
        return ServerSession(dict(loaded.record.data), token, loaded.record)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSession) or session.inert:
            return
        name = cookie_name(app)
        secure = app.config["CLEF_SECURE_COOKIE"]
        if session.ended:
            response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="Lax")
            db().commit()
            return
        svc = services()
        now = svc.clock.now()
        changed = session.renewed
        if session.record is None:
            data = dict(session)
            # A visitor cookie due to be sealed again counts as a change (D15: its idle
            # clock restarts with activity, as a row's last-seen time does).
            if not (session.modified or session.visitor_due) or not data:
                if session.expired:  # told once (J4): the dead cookie goes
                    response.delete_cookie(name, path="/", secure=secure, httponly=True,
                                           samesite="Lax")
                return
            data.setdefault(CSRF_KEY, new_form_token())
            if VISITOR_KEYS.issuperset(data) and all(isinstance(v, str) for v in data.values()):
                unchanged = data == session.visitor and not session.visitor_due
                sealed = None if unchanged else svc.visitors.seal(data)
                if unchanged or sealed is not None:  # else too long for a cookie: a row
                    _commit_pending()
                    if sealed is not None:
                        _set_cookie(response, name, sealed, secure)
                    return
            request_db = db()
            session.token = svc.sessions.insert_anonymous(request_db, now, data)
            request_db.commit()  # with whatever the view left pending
            _set_cookie(response, name, session.token, secure)
            return
        if session.modified and dict(session) != session.record.data:
            # Only a real change is written: an equal value would still cost a
            # statement and a commit after the view's own (issue 11). A value set again
            # unchanged (``next`` from the sign-in page's own link) marks the session
            # modified but writes nothing.
            session.record.data = dict(session)
        if request.endpoint not in PASSIVE_ENDPOINTS:
            svc.sessions.touch(session.record, now)
        # What a view left pending is still committed, as before. The request's session
        # is looked up once here, not once per question (issue 11).
        request_db = db()
        pending = _pending(request_db)
        # The data or the activity time (D5, here or by the view: "Stay signed in"):
        # one UPDATE of what changed since the read. As the request's only write it runs
        # alone (``execute_alone``): a single round trip on PostgreSQL instead of BEGIN,
        # UPDATE, COMMIT (issue 11). A row another request ended meanwhile (a logout in
        # another tab) is simply not found: it stays ended.
        wrote = session_rows.write_changes(request_db, session.record,
                                           alone=not (changed or pending))
        if wrote or pending or (changed and request_db.in_transaction()):
            # A renewal whose write the view already committed (the sign-in steps)
            # leaves no transaction open and nothing waiting: committing would only
            # begin and end an empty one, ~55 Python calls (issue 11). Anything still
            # waiting (``pending``) or sent and not committed is committed as before.
            request_db.commit()
        if changed:
            _set_cookie(response, name, session.token or "", secure)


def _visitor_session(value: str) -> ServerSession:
    """The session of a visitor cookie (D15): what it holds, with no row and no
    database; a forged, altered or expired one opens a new visitor's session."""
    opened = services().visitors.open(value)
    if opened is None or not VISITOR_KEYS.issuperset(opened[0]):
        return ServerSession()
    data, due = opened
    current = ServerSession(dict(data))
    current.visitor, current.visitor_due = data, due
    return current


def _pending(request_db: Any) -> bool:
    """Whether the request's database session holds writes not yet committed."""
    return bool(request_db.new or request_db.dirty or request_db.deleted
                or audit.unwritten(request_db) or session_rows.unwritten(request_db))


def _commit_pending() -> None:
    """Commit what a view left pending, as the write of a visitor's row did (D15: the
    row is gone, not the commit of the view's own writes)."""
    request_db = opened_db()
    if request_db is not None and (_pending(request_db) or request_db.in_transaction()):
        request_db.commit()


def _set_cookie(response: Response, name: str, token: str, secure: bool) -> None:
    # A browser-session cookie: the server decides when it dies (D6).
    response.set_cookie(name, token, path="/", secure=secure, httponly=True, samesite="Lax")


def current_session() -> ServerSession:
    current = session._get_current_object()  # type: ignore[attr-defined]
    if not isinstance(current, ServerSession):
        raise RuntimeError("the app must use ServerSessionInterface")
    return current


def passed_password(account_id: int) -> None:
    """The password step succeeded: new token, pending level (S20). Over another
    account's session (a shared computer) the new one starts from nothing of it but
    where this sign-in is heading: not that person's app secret being set up, recovery
    codes on show, or portal session id."""
    svc, current = services(), current_session()
    if of_another_account(current.record, account_id):
        current.keep_only(CARRIED_TO_ANOTHER_ACCOUNT)
    token, record = svc.sessions.passed_password(db(), current.record, account_id, svc.clock.now())
    current.adopt(token, record)
    # S37: a portal's "sign in again" marker survives only a step heading back to the
    # request that set it (``next``, kept by idp.views.common.remember_next).
    reauth.on_password_step(current, current.get("next"))


def passed_second_factor(methods: list[str]) -> None:
    """The second factor succeeded (called by the mfa slice): new token, signed in."""
    svc, current = services(), current_session()
    if current.record is None:
        raise ValueError("no session has passed the password")
    token, record = svc.sessions.passed_second_factor(db(), current.record, methods, svc.clock.now())
    current.adopt(token, record)


def kept_as_now() -> Callable[[], None]:
    """What the session is now (its data, token, row, flags), to go back to: a step
    that signs the session in before the statement deciding whether it may
    (``mfa.service``: the renewal rides in the code guard's statement) calls the
    result when the statement refused or failed. The renewal then no longer waits
    (``idp.session_rows.forget_renewal``), the form token and ``next`` are the old
    ones, and the answer sets no new cookie: as if the sign-in had never been made."""
    current = current_session()
    data, token, record = dict(current), current.token, current.record
    flags = current.modified, current.renewed

    def restore() -> None:
        if record is not None:
            session_rows.forget_renewal(db(), record)
        dict.clear(current)  # as it was, without marking it modified
        dict.update(current, data)
        current.token, current.record = token, record
        current.modified, current.renewed = flags

    return restore


def store_now() -> None:
    """Put what the session holds into its row in the current transaction: a step that
    changes the session (``next`` consumed) right after renewing it is then stored by
    the step's own commit, with no write-back and commit after it (issue 11)."""
    current = current_session()
    if current.record is None:
        return
    if dict(current) != current.record.data:
        current.record.data = dict(current)
    # Its activity time too, when a view moved it ("Stay signed in"); only what changed
    # is written (idp.session_rows.write_changes).
    if session_rows.has_changes(current.record):
        session_rows.queue_changes(db(), current.record)


def end_session() -> None:
    """Logout: the row is deleted and the cookie cleared (S21)."""
    current = current_session()
    if current.record is not None:
        services().sessions.end(db(), current.record)
    current.clear()
    current.record = None
    current.ended = True


def _to_sign_in() -> ResponseReturnValue:
    target = request_target(request.method, request.full_path)
    return redirect(url_for("auth.sign_in", next=target), code=303)


def login_required(view: F) -> F:
    """Only for a session that passed both factors; others go to sign-in and come back
    after it (J4: pages behind sign-in cannot be bookmarked into)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_session().level != FULL:
            return _to_sign_in()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def fresh_sign_in_required(view: F) -> F:
    """For changes to how the person signs in or recovers (second factor, recovery codes,
    recovery information): both factors passed within ``session.fresh_minutes`` (S14).
    An older sign-in goes through the sign-in steps again and comes back here."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        current = current_session()
        if current.level != FULL or not is_fresh(current.record):
            return _to_sign_in()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def is_fresh(record: SessionRow | None) -> bool:
    """Both factors passed within ``session.fresh_minutes`` of now (S14)."""
    if record is None or record.auth_time is None:
        return False
    svc = services()
    window = timedelta(minutes=svc.settings.session.fresh_minutes)
    return svc.clock.now() - record.auth_time <= window


def password_step_required(view: F) -> F:
    """For the steps that follow the password (second factor, confirming the email):
    the pending level grants these and nothing else (S20)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_session().level not in (PASSWORD, FULL):
            return _to_sign_in()
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
