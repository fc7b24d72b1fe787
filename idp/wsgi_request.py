"""The request class of Clef's app: Flask's, with its cookies read where WSGI puts them."""

from __future__ import annotations

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie
from werkzeug.utils import cached_property


class ClefRequest(Request):
    """Flask's request; only :attr:`cookies` differs, in how it finds the header.

    Werkzeug's property gathers the Cookie headers with ``headers.getlist``, which, on a
    WSGI environ, walks every header of the request to find them: about 50 Python calls
    on each request that reads a cookie (the session's, the language's; issue 11). A
    WSGI server hands all of a request's cookies in the one ``HTTP_COOKIE`` value, the
    only one that walk can find, so the same text is parsed here by the same function,
    into the same class (``tests/idp/test_request_cookies.py`` compares the two)."""

    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        found = parse_cookie(self.environ.get("HTTP_COOKIE", ""), cls=self.dict_storage_class)
        return found  # type: ignore[return-value]
