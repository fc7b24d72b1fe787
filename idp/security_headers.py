"""Headers on every response (S25; ASVS 3.4.x, 14.3.2; RFC 9700 §4.16).

Pages load only their own scripts and styles; nothing may frame them; responses are not
stored by caches (every page here is personal or carries a form token), except static
files and the provider's public documents (discovery, JWKS), whose views mark them
``public`` themselves.

Added as WSGI middleware around the whole app (issue 11): the header lines are made
once per process and appended to what the app hands ``start_response``, so every
response gets them (error pages, 304s, a response an after-request hook failed on),
without ten validated ``Headers`` writes and a Cache-Control parse per request."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
)
HSTS = ("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
NOT_STORED = (("Cache-Control", "no-store"), ("Pragma", "no-cache"))
STATIC_PREFIX = "/static/"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HeaderList = list[tuple[str, str]]


def fixed_headers(hsts: bool) -> tuple[tuple[str, str], ...]:
    """The lines every response carries, whatever it is."""
    lines = [
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    ]
    if hsts:
        lines.append(HSTS)
    return tuple(lines)


def _is_public(headers: HeaderList) -> bool:
    """True when the response's Cache-Control names ``public`` (the directive, not a
    substring of another value)."""
    for name, value in headers:
        if name.lower() == "cache-control":
            return any(part.strip().split("=")[0].lower() == "public" for part in value.split(","))
    return False


def with_security_headers(headers: HeaderList, path: str, hsts: bool) -> HeaderList:
    """``headers`` with the fixed lines, replacing any the app set, and ``no-store``
    unless the response is a static file or marked ``public``."""
    return _ADDERS[hsts](headers, path)


class _Adder:
    """The lines of one ``hsts`` choice and the names they replace, made once."""

    def __init__(self, hsts: bool) -> None:
        self.fixed = fixed_headers(hsts)
        self.names = frozenset(name.lower() for name, _ in self.fixed)
        self.private_names = self.names | {"cache-control", "pragma"}

    def __call__(self, headers: HeaderList, path: str) -> HeaderList:
        private = not path.startswith(STATIC_PREFIX) and not _is_public(headers)
        replaced = self.private_names if private else self.names
        kept = [line for line in headers if line[0].lower() not in replaced]
        kept.extend(self.fixed)
        if private:
            kept.extend(NOT_STORED)
        return kept


_ADDERS = {False: _Adder(False), True: _Adder(True)}


class SecurityHeaders:
    """WSGI middleware: every response leaves with :func:`with_security_headers`."""

    def __init__(self, app: WsgiApp, hsts: bool) -> None:
        self.app = app
        self.add = _ADDERS[hsts]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        add = self.add

        def start(status: str, headers: HeaderList, exc_info: Any = None) -> Any:
            return start_response(status, add(headers, path), exc_info)

        return self.app(environ, start)
