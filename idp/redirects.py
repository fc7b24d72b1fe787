"""Where a ``next`` parameter may send a person: same-site relative paths only (S26,
ASVS 3.7.2). Anything else (a scheme, a host, ``//host``, ``/\\host``, control
characters) is dropped, and the caller falls back to its default page."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# C0 controls and DEL, matched in C (a per-character generator cost ~1,400 calls a flow).
_CONTROL = re.compile("[\x00-\x1f\x7f]")


def request_target(method: str, full_path: str) -> str | None:
    """Where to come back to after signing in: a GET's own path and query (Werkzeug's
    ``full_path`` ends in a bare ``?`` when there is none); nothing for other methods,
    which cannot be replayed by a redirect."""
    return safe_next(full_path.rstrip("?")) if method == "GET" else None


def safe_next(value: str | None) -> str | None:
    """``value`` when it is a local absolute path, else None."""
    if not value or len(value) > 2000:
        return None
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    if _CONTROL.search(value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value
