"""Clef's response class: Werkzeug's final headers without Werkzeug's second pass over
them when there is nothing for that pass to change (issue 11).

Before a response starts, Werkzeug's ``get_wsgi_headers`` copies its headers into a
new ``Headers`` (a Python call per header and per check), looks for ``Location``,
``Content-Location`` and ``Content-Length``, runs ``Location`` through ``iri_to_uri``
(``urlsplit``, three ``quote`` and ``urlunsplit``, ~40 calls) and sets a missing
``Content-Length``: ~35 Python calls a page, ~95 a redirect, for headers that are, on
nearly every answer of Clef, already final. :meth:`ClefResponse.get_wsgi_response`
hands them on as they are when it can tell, cheaply, that Werkzeug would not change
them (:func:`plain_headers`); anything else is Werkzeug's own pass. The test in
``tests/perf/test_responses.py`` compares both answers, and ``iri_to_uri`` on
``PLAIN_LOCATION``'s strings."""

from __future__ import annotations

import re
from typing import Any

from flask import Response

# Locations ``iri_to_uri`` hands back unchanged: a path (not ``//``, which would be a
# host) or an http(s) URL of a lower-case ASCII host (labels of 1-63 characters, as
# the ``idna`` codec accepts them, no port, no user), then characters its ``quote``
# leaves as they are in a path and, after one ``?``, a non-empty query (``urlunsplit``
# drops an empty one); no fragment, no space or control character (``urlsplit``
# strips some), nothing outside ASCII.
_PATH = r"/(?!/)[A-Za-z0-9\-._~%!$&'()*+,/:;=@]*"
_HOST = r"https?://[a-z0-9\-]{1,63}(?:\.[a-z0-9\-]{1,63})*"
_QUERY = r"(?:\?[A-Za-z0-9\-._~%!$&'()*+,/:;=?@]+)?"
PLAIN_LOCATION = re.compile(rf"(?:{_HOST})?{_PATH}{_QUERY}")


def plain_headers(response: Response) -> list[tuple[str, str]] | None:
    """The response's headers as Werkzeug's ``get_wsgi_headers`` would hand them to
    the server, when that is a copy of them as they are: a status with a body
    (not 1xx, 204 or 304: Werkzeug removes headers then), ``Content-Length`` already
    set, no ``Content-Location``, no relative ``Location`` to make absolute
    (``autocorrect_location_header``), and at most one ``Location``, spelled so and
    :data:`PLAIN_LOCATION` (Werkzeug's ``headers["Location"] = ...`` would rewrite
    another spelling or a second one). ``None`` otherwise."""
    status = response.status_code
    if response.autocorrect_location_header or status < 200 or status == 204 or status == 304:
        return None
    pairs = list(response.headers)
    has_length = located = False
    for key, value in pairs:
        name = key.lower()
        if name == "content-length":
            has_length = True
        elif name == "location":
            if located or key != "Location" or PLAIN_LOCATION.fullmatch(value) is None:
                return None
            located = True
        elif name == "content-location":
            return None
    return pairs if has_length else None


class ClefResponse(Response):
    """Flask's response, answered without Werkzeug's second pass over final headers."""

    def get_wsgi_response(self, environ: Any) -> tuple[Any, str, list[tuple[str, str]]]:
        headers = plain_headers(self)
        if headers is None:
            return super().get_wsgi_response(environ)
        return self.get_app_iter(environ), self.status, headers
