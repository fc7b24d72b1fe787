"""Hostile input refused before any view sees it: a NUL byte.

No person types a NUL (U+0000), and PostgreSQL refuses it in every text value, so one
reaching a query or an audit row would fail the request with a 500 on the scale-out
database only. Refused here, in one place, with a clear translated 400 for people and
an OAuth ``invalid_request`` for portals' servers, before anything is read or written
(S28: no stack trace reaches a page). Nothing is counted or recorded for such a request.
"""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from idp.errors import render_error

NUL = "\x00"
NUL_MESSAGE = _l(
    "Something you sent contains a character that cannot be used. Go back, retype it and "
    "try again."
)


# The bodies Werkzeug parses into ``request.form``; any other body leaves it empty.
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _any_nul(fields: MultiDict[str, str]) -> bool:
    return any(NUL in key or NUL in value for key, value in fields.items(multi=True))


def has_nul() -> bool:
    """True when any text of the request a view may read holds a NUL byte: the path,
    the client address (from X-Forwarded-For behind a trusted proxy), the User-Agent, the
    query and the form. The query string and the form are parsed only when the request
    has one (issue 11): most requests carry neither, and an empty one holds nothing.
    Reading the form may raise 413 (body over the size limit), which the error handlers
    turn into its own page."""
    environ = request.environ
    if NUL in request.path or NUL in (environ.get("REMOTE_ADDR") or "") \
            or NUL in environ.get("HTTP_USER_AGENT", ""):
        return True
    if environ.get("QUERY_STRING") and _any_nul(request.args):
        return True
    return bool(environ.get("CONTENT_TYPE")) and request.mimetype in FORM_TYPES \
        and _any_nul(request.form)


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
