"""Headers on every response (S25; ASVS 3.4.x, 14.3.2; RFC 9700 §4.16).

Pages load only their own scripts and styles; nothing may frame them; responses are not
stored by caches (every page here is personal or carries a form token), except static
files and the provider's public documents (discovery, JWKS), whose views mark them
``public`` themselves."""

from __future__ import annotations

from flask import Response, request

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
)


def add_security_headers(response: Response, hsts: bool) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if hsts:
        response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if not request.path.startswith("/static/") and not response.cache_control.public:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    return response
