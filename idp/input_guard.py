"""Hostile input refused before any view sees it: a NUL byte.

No person types a NUL (U+0000), and PostgreSQL refuses it in every text value, so one
reaching a query or an audit row would fail the request with a 500 on the scale-out
database only. Refused here, in one place, with a clear translated 400 for people and
an OAuth ``invalid_request`` for portals' servers, before anything is read or written
(S28: no stack trace reaches a page). Nothing is counted or recorded for such a request.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l

from idp.errors import render_error

NUL = "\x00"
NUL_MESSAGE = _l(
    "Something you sent contains a character that cannot be used. Go back, retype it and "
    "try again."
)


# The bodies Werkzeug parses into ``request.form``; any other body leaves it empty.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _texts() -> Iterable[str]:
    """Every piece of the request a view may read as text. The query string and the
    form are parsed only when the request has one (issue 11): most requests carry
    neither, and an empty one yields nothing to check."""
    yield request.path
    yield request.remote_addr or ""  # from X-Forwarded-For behind a trusted proxy
    yield request.headers.get("User-Agent", "")
    if request.environ.get("QUERY_STRING"):
        for key, value in request.args.items(multi=True):
            yield key
            yield value
    if request.mimetype in FORM_TYPES:
        for key, value in request.form.items(multi=True):
            yield key
            yield value


def has_nul() -> bool:
    """True when any text of the request holds a NUL byte. Reading the form may raise
    413 (body over the size limit), which the error handlers turn into its own page."""
    return any(NUL in text for text in _texts())


def register_input_guard(app: Flask, machine_endpoints: frozenset[str]) -> None:
    """``machine_endpoints`` answer portals' servers: JSON errors, not pages."""

    @app.before_request
    def refuse_nul() -> ResponseReturnValue | None:
        if not has_nul():
            return None
        if request.endpoint in machine_endpoints:
            body: Response = jsonify(error="invalid_request",
                                     error_description="NUL bytes are not allowed")
            body.headers["Cache-Control"] = "no-store"
            return body, 400
        return render_error(400, NUL_MESSAGE)
