"""The provider's public documents (discovery, JWKS) answered in front of Flask (issue 11).

Portals fetch these two documents far more often than anything else, and each is the
same bytes for everyone: no session, no form, no limit, no database. Through Flask, a
request for them still paid for the request context, the session cookie (a database
read when one was sent), the CSRF, limiter and input hooks and the response object:
about four times a bare Flask route. This WSGI layer answers exactly
``GET``/``HEAD`` of the two paths, with no query string, from bytes and header lines
made once per document version (per ETag), with the same headers Flask sends (the
security headers of S25, ``Cache-Control: public``, ETag, Date) and the same 304.

Anything else goes to Flask unchanged, which keeps every rule there: another method
(405); a query string, a body with a content type, or a NUL byte in what the input
guard reads (S28, its 400); an ``If-Match`` or ``If-Range`` (Flask's conditional rules);
a Host outside ``service.trusted_hosts`` (S17); and a document not in memory yet or no
longer fresh (the JWKS after ``oidc.jwks_memory_seconds`` or a key's removal time, S42):
Flask's view reads it again, with the 503 page if the database is down, and the next
request is fast again. Each answer is still timed in the latency histogram under its
endpoint name (idp.metrics).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import formatdate
from typing import Any

from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_etags, quote_etag
from werkzeug.wsgi import get_host

from idp.settings import PUBLISHED_MAX_AGE_SECONDS

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Document = Callable[[], "tuple[bytes, str] | None"]
Observe = Callable[[str, str, float], None]
METHODS = frozenset({"GET", "HEAD"})
# Request headers that make Flask's answer differ from the plain 200/304 served here.
FLASK_DECIDES = ("HTTP_IF_MATCH", "HTTP_IF_RANGE")
# What the input guard (idp.input_guard) reads besides the path and the query string.
GUARDED = ("HTTP_USER_AGENT", "HTTP_X_FORWARDED_FOR")
# The same for a layer whose answer depends on the client address (UserInfo, the
# refresh): X-Forwarded-For becomes REMOTE_ADDR behind a trusted proxy (ProxyFix).
GUARDED_WITH_ADDRESS = (*GUARDED, "REMOTE_ADDR")
CACHE_CONTROL = f"public, max-age={PUBLISHED_MAX_AGE_SECONDS}"


def clean_and_trusted(environ: dict[str, Any], guarded: Iterable[str],
                      trusted_hosts: list[str] | None) -> bool:
    """True when a layer in front of Flask may answer as Flask would: no NUL in the
    ``guarded`` environ values the input guard reads (S28), and a Host within
    ``trusted_hosts`` when some are set (S17). Otherwise Flask answers, with its own
    refusals."""
    if any("\x00" in (environ.get(name) or "") for name in guarded):
        return False
    if trusted_hosts:
        try:
            get_host(environ, trusted_hosts)
        except SecurityError:
            return False
    return True


def request_host(environ: dict[str, Any], trusted_hosts: list[str] | None) -> str | None:
    """The host of the request's URL as Flask's request reads it (Werkzeug's
    ``get_host``): empty for a Host it finds invalid (a port of 0 or over 65535, an
    empty header), None for one outside ``trusted_hosts`` (S17: Flask's 400)."""
    try:
        return get_host(environ, trusted_hosts)
    except SecurityError:
        return None


class _Prepared:
    """One version of one document: its body and its header lines, made once (the Date
    line goes between them)."""

    __slots__ = ("body", "etag", "fixed", "not_modified", "ok")

    def __init__(self, body: bytes, etag: str, fixed: tuple[tuple[str, str], ...]) -> None:
        self.body, self.etag, self.fixed = body, etag, fixed
        quoted = quote_etag(etag)
        self.ok = (("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                   ("ETag", quoted), ("Cache-Control", CACHE_CONTROL))
        self.not_modified = (("ETag", quoted), ("Cache-Control", CACHE_CONTROL))


class _Clock:
    """The Date header's text, made once a second rather than once a request."""

    def __init__(self) -> None:
        self.second = -1
        self.text = ""

    def date(self) -> str:
        second = int(time.time())
        if second != self.second:
            self.second, self.text = second, formatdate(second, usegmt=True)
        return self.text


class PublishedDocuments:
    """WSGI middleware answering ``documents`` (path -> the current (bytes, ETag), or
    None when Flask must answer) and passing every other request to ``app``."""

    def __init__(self, app: WsgiApp, documents: Mapping[str, tuple[str, Document]],
                 fixed_headers: tuple[tuple[str, str], ...], trusted_hosts: list[str] | None,
                 observe: Observe | None = None) -> None:
        self.app = app
        self.documents = dict(documents)  # path -> (endpoint name, document)
        self.fixed = fixed_headers
        self.trusted_hosts = trusted_hosts
        self.observe = observe
        self.prepared: dict[str, _Prepared] = {}
        self.clock = _Clock()

    def _servable(self, environ: dict[str, Any]) -> bool:
        if environ.get("REQUEST_METHOD") not in METHODS or environ.get("QUERY_STRING"):
            return False
        if environ.get("CONTENT_TYPE"):  # a body that may be a form: the input guard reads it
            return False
        if any(name in environ for name in FLASK_DECIDES):
            return False
        return clean_and_trusted(environ, GUARDED, self.trusted_hosts)

    def _current(self, path: str, document: Document) -> _Prepared | None:
        found = document()
        if found is None:
            return None
        prepared = self.prepared.get(path)
        if prepared is None or prepared.etag != found[1] or prepared.body is not found[0]:
            prepared = _Prepared(found[0], found[1], self.fixed)
            self.prepared[path] = prepared
        return prepared

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        entry = self.documents.get(environ.get("PATH_INFO", ""))
        if entry is None or not self._servable(environ):
            return self.app(environ, start_response)
        started = time.perf_counter()
        endpoint, document = entry
        prepared = self._current(environ["PATH_INFO"], document)
        if prepared is None:
            return self.app(environ, start_response)
        date = ("Date", self.clock.date())
        asked = environ.get("HTTP_IF_NONE_MATCH")
        if asked and parse_etags(asked).contains_weak(prepared.etag):
            start_response("304 NOT MODIFIED", [*prepared.not_modified, date, *prepared.fixed])
            body: Iterable[bytes] = []
        else:
            start_response("200 OK", [*prepared.ok, date, *prepared.fixed])
            body = [] if environ["REQUEST_METHOD"] == "HEAD" else [prepared.body]
        if self.observe is not None:
            self.observe(endpoint, environ["REQUEST_METHOD"], time.perf_counter() - started)
        return body
