"""UserInfo answered in front of Flask (issue 11).

Portals' servers call UserInfo with an access token after every sign-in and refresh.
Through Flask, such a request paid for the request context, the app's hooks, Authlib's
request wrapper and two response objects, most of what it cost; the one read it needs
is the rest. This WSGI layer answers ``GET`` and ``POST /userinfo`` exactly as the
Flask view (:func:`idp.oidc.views.userinfo`) does, with the same parts:

- the token from the ``Authorization`` header only, split as Authlib's
  ``ResourceProtector`` splits it (the scheme ``bearer`` in any case, RFC 6750 §2.1);
- the same one read (:func:`read_bearer`: a live access token of a usable account and
  sign-in session, S43, D10) on a pooled connection of its own, no request session;
- the same body (:func:`userinfo_body`, the ``sub`` of S45);
- the same refusals, made once by Authlib's own errors through the app's registered
  protector (:class:`Refusals`): 401 with ``WWW-Authenticate`` and the JSON body;
- the database unreachable: the same JSON 503 with ``Retry-After`` (:func:`unavailable_response`);
- the security headers of S25 with ``Cache-Control: no-store`` (idp.security_headers,
  applied once to each prepared answer), and the request timed in the latency
  histogram under ``oidc.userinfo`` (idp.metrics).

Anything else goes to Flask unchanged, which keeps every rule there (the rules of
idp.oidc.published): another method (HEAD, an OPTIONS preflight: 405); a query string
(a token there is refused by the view); a body, or a content type other than none or
an empty form (a token in a form body is refused by the view; the NUL guard reads
forms); a NUL byte in what the input guard reads (S28); a Host outside
``service.trusted_hosts`` (S17, its 400). While a default or application rate limit is
configured the layer is not installed: Flask-Limiter's own hook must see every request.
An unexpected failure here is logged and the request handed to Flask, which answers it
(or fails the same way, with its 500 page).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2 import OAuth2Error
from flask import Flask, Response
from flask.json.provider import JSONProvider
from sqlalchemy import Engine, Row

from idp.errors import RETRY_AFTER_SECONDS, service_unavailable
from idp.keys import KeyRing
from idp.oidc.published import GUARDED_WITH_ADDRESS, clean_and_trusted
from idp.oidc.runtime import EXTENSION_KEY as OIDC_KEY
from idp.oidc.runtime import OidcServices
from idp.oidc.subjects import SubjectOwner, subject_for
from idp.oidc.tokens import Tokens
from idp.ratelimit import VIEWS_ONLY
from idp.runtime import EXTENSION_KEY as CORE_KEY
from idp.runtime import Services
from idp.security_headers import with_security_headers

log = logging.getLogger("clef.oidc.userinfo")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Observe = Callable[[str, str, float], None]
HeaderList = list[tuple[str, str]]
# The body for an access token, or None when it is not one that may be answered for.
Lookup = Callable[[str], "str | None"]

PATH = "/userinfo"
ENDPOINT = "oidc.userinfo"
METHODS = frozenset({"GET", "POST"})
# A body the view never reads: none, or an empty form (its NUL guard and form have nothing).
BODILESS_TYPES = frozenset({"", "application/x-www-form-urlencoded"})
EMPTY_LENGTHS = frozenset({"", "0"})
JSON_TYPE = "application/json"
UNAVAILABLE_BODY = json.dumps({
    "error": "temporarily_unavailable",
    "error_description": "The service cannot answer now. Try again in a few minutes.",
})


def read_bearer(engine: Engine, tokens: Tokens, value: str, now: datetime,
                seen_after: datetime) -> Row[Any] | None:
    """S43, D10: the access token's row (with its client's subject type and sector), or
    None, read on a pooled connection of its own: UserInfo reads nothing else, and a
    request session (an ORM session made, joined and closed) cost about a fifth of its
    function calls. No transaction is opened for the one read on either database: on
    PostgreSQL a plain SELECT outside a transaction runs in autocommit (idp.db: no BEGIN,
    no ROLLBACK), and pysqlite begins a transaction only before a write. (An
    ``isolation_level`` option here would only cost its setting and resetting per
    request.)"""
    with engine.connect() as conn:
        return tokens.find_bearer_on(conn, value, now, seen_after)


def userinfo_body(keys: KeyRing, row: SubjectOwner, account_id: int) -> str:
    """UserInfo's JSON: the same ``sub`` as the ID token (S45). One key, encoded
    directly (jsonify looks the app's JSON settings up per call)."""
    return json.dumps({"sub": subject_for(keys, row, account_id)})


def error_response(error: OAuth2Error, provider: JSONProvider) -> Response:
    """An Authlib error as UserInfo answers it: its status and headers, its body as the
    app's JSON."""
    status, body, headers = error()
    data = body if isinstance(body, str) else cast(Response, provider.response(dict(body))).get_data()
    return Response(data, status=status, headers=headers, mimetype=JSON_TYPE)


def unavailable_response() -> Response:
    """The database cannot be reached: a 503 the portal's server can read (JSON, never a
    page or a trace, S28), to try again after ``Retry-After``. Logged without a trace,
    as idp.errors logs its 503: the cause is outside Clef."""
    response = Response(UNAVAILABLE_BODY, status=503, mimetype=JSON_TYPE)
    response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return response


def log_unavailable(endpoint: str) -> None:
    log.error("database unavailable: answered 503 to %s", endpoint)


# status line, header lines (the security headers in), body
Answer = tuple[str, HeaderList, bytes]


def prepared(response: Response, hsts: bool) -> Answer:
    """``response`` as the WSGI answer Flask and the security headers make of it."""
    headers = with_security_headers(response.headers.to_wsgi_list(), PATH, hsts)
    return response.status, headers, response.get_data()


def _raised(attempt: Callable[[], Any]) -> OAuth2Error:
    try:
        attempt()
    except OAuth2Error as error:
        return error
    raise AssertionError("Authlib accepted what it must refuse")


class Refusals:
    """UserInfo's three refusals, made by the registered protector and token validator
    exactly as they refuse a request, once per process: no Authorization header, a
    scheme other than Bearer (or no token after it), and a token that is not a live
    access token."""

    def __init__(self, protector: ResourceProtector, provider: JSONProvider, hsts: bool) -> None:
        def headers(value: str | None) -> Any:
            return SimpleNamespace(headers={} if value is None else {"Authorization": value})

        def answer(error: OAuth2Error) -> Answer:
            return prepared(error_response(error, provider), hsts)

        self.missing = answer(_raised(lambda: protector.parse_request_authorization(headers(None))))
        self.unsupported = answer(_raised(
            lambda: protector.parse_request_authorization(headers("Basic"))))
        validator = protector.get_token_validator("bearer")
        self.invalid = answer(_raised(lambda: validator.validate_token(None, ["openid"], None)))


class UserInfoEndpoint:
    """WSGI middleware answering UserInfo requests with ``lookup`` and passing every
    other request (and every unusual UserInfo request) to ``app``."""

    def __init__(self, app: WsgiApp, lookup: Lookup, refusals: Refusals, hsts: bool,
                 trusted_hosts: list[str] | None, observe: Observe | None = None) -> None:
        self.app = app
        self.lookup = lookup
        self.refusals = refusals
        self.trusted_hosts = trusted_hosts
        self.observe = observe
        self.unavailable = prepared(unavailable_response(), hsts)
        self.tail = with_security_headers([], PATH, hsts)  # what follows the body's two lines

    def _servable(self, environ: dict[str, Any]) -> bool:
        if environ.get("REQUEST_METHOD") not in METHODS or environ.get("QUERY_STRING"):
            return False
        if environ.get("CONTENT_TYPE", "") not in BODILESS_TYPES \
                or environ.get("CONTENT_LENGTH", "") not in EMPTY_LENGTHS \
                or "HTTP_TRANSFER_ENCODING" in environ:
            return False
        return clean_and_trusted(environ, GUARDED_WITH_ADDRESS, self.trusted_hosts)

    def _answer(self, authorization: str | None) -> Answer:
        """The answer to this Authorization header, parsed as Authlib parses it
        (``ResourceProtector.parse_request_authorization``)."""
        if not authorization:
            return self.refusals.missing
        parts = authorization.split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "bearer":
            return self.refusals.unsupported
        try:
            body = self.lookup(parts[1])
        except Exception as error:
            if not service_unavailable(error):
                raise
            log_unavailable(PATH)
            return self.unavailable
        if body is None:
            return self.refusals.invalid
        data = body.encode()
        return "200 OK", [("Content-Type", JSON_TYPE), ("Content-Length", str(len(data))),
                          *self.tail], data

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or not self._servable(environ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        try:
            answer = self._answer(environ.get("HTTP_AUTHORIZATION"))
        except Exception:
            log.exception("UserInfo failed in front of Flask: Flask answers")
            return self.app(environ, start_response)
        status, headers, body = answer
        start_response(status, list(headers))  # a copy: a server may add to the list
        if self.observe is not None:
            self.observe(ENDPOINT, environ["REQUEST_METHOD"], time.perf_counter() - started)
        return [body]


def userinfo_in_front(app: Flask, inner: WsgiApp, protector: ResourceProtector, hsts: bool,
                      trusted_hosts: list[str] | None, observe: Observe | None) -> WsgiApp:
    """``inner`` behind the UserInfo layer; ``inner`` alone while a default or
    application rate limit is configured (Flask-Limiter's hook applies it to every
    request, so UserInfo must go through Flask)."""
    if not app.config.get(VIEWS_ONLY):
        return inner
    core: Services = app.extensions[CORE_KEY]
    provider: OidcServices = app.extensions[OIDC_KEY]

    def lookup(value: str) -> str | None:
        now = core.clock.now()
        row = read_bearer(core.engine, provider.tokens, value, now, now - core.sessions.idle)
        return None if row is None else userinfo_body(core.keys, row, row.account_id)

    refusals = Refusals(protector, app.json, hsts)
    return UserInfoEndpoint(inner, lookup, refusals, hsts, trusted_hosts, observe)
