"""The common refresh answered in front of Flask (issue 11), and the token layer that
answers it and the common code exchange (idp.oidc.code_endpoint).

A portal's server refreshes its users' tokens all day. Through Flask a refresh paid for
the request context, the app's hooks, Authlib's request wrapper, its grant and client
authentication machinery and two response objects: about half of its function calls.
This WSGI layer answers only the exact common case, with the same service functions the
token view uses for each decision:

- ``POST /token``, no query string (Authlib reads the query's parameters too), a body
  of ``application/x-www-form-urlencoded`` of at most :data:`MAX_BODY` bytes with a
  Content-Length, made of ``grant_type=refresh_token``, a ``refresh_token`` and, for
  ``client_secret_post``, ``client_id`` and ``client_secret``, each once, each value of
  unreserved characters only (RFC 3986: no ``%``, ``+`` or NUL, so every parser reads the
  same text); no ``scope`` (a refresh keeps its scope);
- the client authenticated with ``client_secret_basic`` (a header of plain base64 of
  ``id:secret``, both of unreserved characters, so Authlib's parser and the limit's
  agree) or ``client_secret_post``, never both, against this process's copy of a
  confidential client (``Clients.held``, ``Clients.secret_matches``; the claim checks
  the copy's revision in SQL, as on the Flask path);
- a transport Authlib accepts (``is_secure_transport``), a Host within
  ``service.trusted_hosts`` (S17), no NUL in what the input guard reads (S28);
- the limit of idp.oidc.token_limit counted once, as the view counts it
  (``token_limit.hit`` under ``client:<id>``, ``rate_limit.token_per_client``, S41);
- the claim of idp.oidc.tokens (S40, D4, D10: single use, live session and account,
  limits): on PostgreSQL the claim and the successor in one statement run alone, in
  autocommit, reading back only the successor's scope (``Tokens.rotate_refresh_alone_on``),
  on SQLite the claim and the INSERT in one transaction
  (``Tokens.claim_refresh_on``, ``Tokens.save_on``), with the token generator
  (``Tokens.generate``);
- the answer Authlib makes (status, JSON body as Flask's provider writes it: keys sorted,
  ASCII; Content-Type,
  ``Cache-Control: no-store``, ``Pragma: no-cache``); the layer sits inside ProxyFix and
  SecurityHeaders (idp.app), which add the same headers to it as to Flask's answers.
  It is counted under its grant type in the tokens issued and timed under
  ``oidc.token`` (idp.metrics).

The shape rules, the client's copy and the limit's count are idp.oidc.token_request's,
shared with the code exchange's answerer (idp.oidc.code_endpoint), which this same layer
calls for a body naming ``grant_type=authorization_code``.

Everything else goes to Flask unchanged (the body handed on as read), which answers it as
before: another grant or parameter, a public client, a client this process holds no copy
of, a secret that does not match the copy (it may be new: the view reads the row
again), a limit store that is dead or fails (the view's decorator and its in-memory
fallback), and every failed claim: a failed claim writes nothing, and the view claims
again and looks why (reuse revokes the family, S40; a dead session's family is revoked,
D10; a stale client copy is a 401). A request handed on after its count carries
``token_limit.COUNTED``, so the view neither counts it again nor lets a breach pass. While
a default or application rate limit is configured the layer is not installed
(Flask-Limiter's own hook must see every request).
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from authlib.common.security import is_secure_transport
from sqlalchemy import Connection

from idp.errors import service_unavailable
from idp.oidc import token_limit
from idp.oidc.code_endpoint import MARKER as CODE_FIELD
from idp.oidc.code_endpoint import Exchanger
from idp.oidc.models import OAuthClient
from idp.oidc.published import GUARDED_WITH_ADDRESS, clean_and_trusted, request_host
from idp.oidc.runtime import EXTENSION_KEY as OIDC_KEY
from idp.oidc.runtime import OidcServices
from idp.oidc.token_request import (
    ENDPOINT,
    FORM,
    JSON_HEADERS,
    MAX_BODY,
    PATH,
    Ask,
    TokenAnswerer,
    parse,
)
from idp.oidc.tokens import TableRow
from idp.ratelimit import VIEWS_ONLY
from idp.runtime import EXTENSION_KEY as CORE_KEY
from idp.runtime import Services

log = logging.getLogger("clef.oidc.refresh")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Observe = Callable[[str, str, float], None]
# The counter of tokens issued for a grant type (``metrics.TOKENS.labels``): its ``inc``.
Issued = Callable[[str], Any]

GRANT = "refresh_token"
# A Host of a name or an address and a port, nothing a URL parser could read otherwise.
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_FIELDS = frozenset({"grant_type", "refresh_token"})
# A body without it is no refresh: handed on (or to the code answerer) before any parsing.
GRANT_FIELD = b"grant_type=refresh_token"


class Refresher(TokenAnswerer):
    """The decisions and the writes of a refresh, with the token view's services."""

    grant = GRANT
    marker = GRANT_FIELD

    def __init__(self, core: Services, provider: OidcServices, config: dict[str, Any]) -> None:
        super().__init__(core, provider, config)
        self.one_statement = core.engine.dialect.name == "postgresql"

    def parse(self, environ: dict[str, Any], body: bytes) -> Ask | None:
        """The refresh in the common shape: no ``scope`` (a refresh keeps its scope)."""
        return parse(environ, body, GRANT, _FIELDS)

    def answer(self, client: OAuthClient, ask: Ask) -> dict[str, Any] | None:
        return self.rotate(client, ask.fields["refresh_token"])

    def rotate(self, client: OAuthClient, value: str) -> dict[str, Any] | None:
        """The successor of refresh token ``value``, stored and committed, as the token
        view issues it; None when the claim fails (nothing written)."""
        now: datetime = self.core.clock.now()
        seen_after = now - self.core.sessions.idle
        with self.core.engine.connect() as conn:
            if self.one_statement:
                token = self.tokens.generate(include_refresh_token=True)
                row = self.tokens.rotate_refresh_alone_on(conn, value, client, now,
                                                          seen_after, token)
                if row is None:
                    return None
            else:
                row = self.tokens.claim_refresh_on(conn, value, client, now, seen_after)
                if row is None:
                    conn.rollback()
                    return None
                token = self.tokens.generate(include_refresh_token=True)
                self._save(conn, now, token, row)
                conn.commit()
        if row.scope:
            token["scope"] = row.scope  # as Authlib: the refreshed token's own scope
        return token

    def _save(self, conn: Connection, now: datetime, token: dict[str, Any], row: TableRow) -> None:
        self.tokens.save_on(conn, now, token, client_id=row.client_id,
                            account_id=row.account_id, scope=row.scope or "", parent=row)


class TokenEndpoint:
    """WSGI middleware answering the common refresh with ``refresher`` and the common code
    exchange with ``exchanger`` (when given), passing every other request (and every one
    they do not answer) to ``app``: the token endpoint's layer in front of Flask."""

    def __init__(self, app: WsgiApp, refresher: Refresher, trusted_hosts: list[str] | None,
                 observe: Observe | None = None, issued: Issued | None = None,
                 exchanger: Exchanger | None = None) -> None:
        self.app = app
        self.refresher = refresher
        self.exchanger = exchanger
        self.trusted_hosts = trusted_hosts
        self.observe = observe
        # grant type -> the ``inc`` of its counter, looked up once (a label costs a lock)
        self.issued = {answerer.grant: issued(answerer.grant).inc
                       for answerer in (refresher, exchanger) if answerer is not None} \
            if issued is not None else {}

    def _servable(self, environ: dict[str, Any]) -> bool:
        """The request line and headers of a token request the layer may answer (the
        body is read next only for these)."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING") \
                or environ.get("CONTENT_TYPE") != FORM or "HTTP_TRANSFER_ENCODING" in environ:
            return False
        length = environ.get("CONTENT_LENGTH", "")
        return length.isdigit() and length.isascii() and 0 < int(length) <= MAX_BODY

    def _trusted(self, environ: dict[str, Any]) -> bool:
        """No NUL for the input guard, a trusted Host, a transport Authlib accepts. The
        URL it checks is the request's as Flask makes it: its scheme and the host
        Werkzeug reads (:func:`request_host`: empty for a Host it finds invalid, such as
        ``:0`` or an empty header, and then Authlib refuses the transport)."""
        if not clean_and_trusted(environ, GUARDED_WITH_ADDRESS, None):
            return False
        host = request_host(environ, self.trusted_hosts)
        if host is None or not _HOST.fullmatch(host):
            return False  # none, or one that URL parsers might split differently: Flask's
        return bool(is_secure_transport(f"{environ['wsgi.url_scheme']}://{host}{PATH}"))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or not self._servable(environ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        environ["wsgi.input"] = io.BytesIO(body)  # Flask reads it again if handed on
        # The answerer whose grant the body names, at a glance (its parse decides).
        answerer: TokenAnswerer | None = self.refresher if GRANT_FIELD in body \
            else self.exchanger if self.exchanger is not None and CODE_FIELD in body else None
        if answerer is None:  # another grant: not ours, at once
            return self.app(environ, start_response)
        try:
            token = self._answer(environ, body, answerer)
        except Exception as error:
            if service_unavailable(error):  # outside Clef: no trace (as idp.errors)
                log.error("database unavailable for a %s in front of Flask: Flask answers",
                          _NAMES[answerer.grant])
            else:
                log.exception("%s failed in front of Flask: Flask answers", _NAMES[answerer.grant])
            token = None
        if token is None:
            return self.app(environ, start_response)
        data = json.dumps(token, sort_keys=True).encode()  # as Flask's JSON provider
        start_response("200 OK", [*JSON_HEADERS, ("Content-Length", str(len(data)))])
        issued = self.issued.get(answerer.grant)
        if issued is not None:
            issued()
        if self.observe is not None:
            self.observe(ENDPOINT, "POST", time.perf_counter() - started)
        return [data]

    def _answer(self, environ: dict[str, Any], body: bytes,
                answerer: TokenAnswerer) -> dict[str, Any] | None:
        """The new token, or None to hand the request to Flask (with the limit's mark
        once it was counted)."""
        if len(body) != int(environ["CONTENT_LENGTH"]):
            return None
        ask = answerer.parse(environ, body)
        if ask is None or not self._trusted(environ):
            return None
        client = answerer.client(ask)
        if client is None or not answerer.limit_applies():
            return None
        try:
            breached = answerer.count(ask.client_id)
        except Exception:
            token_limit.store_failed()  # the view counts it: in memory, or it fails as here
            return None
        environ[token_limit.COUNTED] = True if breached is None else breached
        if breached is not None:
            return None  # the view refuses it: 429 with Retry-After
        return answerer.answer(client, ask)


# How the log names a request of each grant.
_NAMES = {GRANT: "refresh", Exchanger.grant: "code exchange"}


def token_endpoint_in_front(config: dict[str, Any], extensions: dict[str, Any], inner: WsgiApp,
                     trusted_hosts: list[str] | None, observe: Observe | None,
                     issued: Issued | None) -> WsgiApp:
    """``inner`` behind the token layer (the common refresh and code exchange), with the
    app's ``config`` and ``extensions`` (its services); ``inner`` alone while a default
    or application rate limit is configured (Flask-Limiter's hook applies it to every
    request, so a token request must go through Flask). ``issued``: a grant type's
    counter of tokens issued (``metrics.TOKENS.labels``)."""
    if not config.get(VIEWS_ONLY):
        return inner
    core, provider = extensions[CORE_KEY], extensions[OIDC_KEY]
    return TokenEndpoint(inner, Refresher(core, provider, config), trusted_hosts, observe,
                           issued, Exchanger(core, provider, config))
