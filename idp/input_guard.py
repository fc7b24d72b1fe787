"""Hostile input refused before any view sees it: a NUL byte.

No person types a NUL (U+0000), and PostgreSQL refuses it in every text value, so one
reaching a query or an audit row would fail the request with a 500 on the scale-out
database only. Refused here, in one place, with a clear translated 400 for people and
an OAuth ``invalid_request`` for portals' servers, before anything is read or written
(S28: no stack trace reaches a page). Nothing is counted or recorded for such a request.
"""

from __future__ import annotations

from flask import Response, jsonify
from flask.typing import ResponseReturnValue
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Request

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


def _query_has_nul(query: str) -> bool:
    """True when the query string's fields, once decoded, could hold a NUL: it holds a
    raw NUL or its percent-encoding ``%00`` (the only two ways to one: UTF-8 decoding
    makes no NUL of anything else, invalid sequences become U+FFFD). Read without
    parsing the query (issue 11); it refuses whatever the parsed check refused."""
    return NUL in query or "%00" in query


def has_nul(current: Request) -> bool:
    """True when any text of the request a view may read holds a NUL byte: the path,
    the client address (from X-Forwarded-For behind a trusted proxy), the User-Agent, the
    query and the form. The path and the query are read as sent, before decoding (a NUL
    decoded from them is a NUL or a ``%00`` in them); the form is parsed only when the
    request has one (issue 11). Reading the form may raise 413 (body over the size
    limit), which the error handlers turn into its own page."""
    environ = current.environ
    if NUL in environ.get("PATH_INFO", "") or NUL in (environ.get("REMOTE_ADDR") or "") \
            or NUL in environ.get("HTTP_USER_AGENT", ""):
        return True
    if _query_has_nul(environ.get("QUERY_STRING", "")):
        return True
    return bool(environ.get("CONTENT_TYPE")) and current.mimetype in FORM_TYPES \
        and _any_nul(current.form)


def nul_refusal(endpoint: str | None, machine_endpoints: frozenset[str]) -> ResponseReturnValue:
    """The answer to a request with a NUL: ``machine_endpoints`` answer portals'
    servers, so they get a JSON ``invalid_request``; people get a page."""
    if endpoint in machine_endpoints:
        body: Response = jsonify(error="invalid_request",
                                 error_description="NUL bytes are not allowed")
        body.headers["Cache-Control"] = "no-store"
        return body, 400
    return render_error(400, NUL_MESSAGE)
