"""The request class of Clef's app: Flask's, with its cookies read where WSGI puts them
and its query, form and cookie values answering a missing name without an exception."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Request
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.sansio.http import parse_cookie
from werkzeug.utils import cached_property


class Values(ImmutableMultiDict[str, str]):
    """Werkzeug's immutable multi-dict, whose :meth:`get` answers a missing name at once.

    Werkzeug's ``get`` looks the name up through ``__getitem__``, which for a missing name
    builds and raises a ``BadRequestKeyError`` (an HTTP exception, about fifteen Python
    calls) that ``get`` then catches. A page asks for names that are usually absent (a
    ``next``, a ``login_hint``, ``ui_locales``, the language cookie, the session cookie of
    a new visitor): five or six such misses a page (issue 11). The answer is the same:
    the default for a missing name, else Werkzeug's own ``get`` (its first value, its
    ``type`` conversion); ``tests/idp/test_request_cookies.py`` compares the two."""

    def get(self, key: Any, default: Any = None,  # type: ignore[override]
            type: Callable[[str], Any] | None = None) -> Any:
        if key not in self:
            return default
        if type is None:
            return super().get(key, default)
        return super().get(key, default, type)


class ClefRequest(Request):
    """Flask's request, with :class:`Values` for its query, form and cookies, and its
    cookies found where WSGI puts them.

    Werkzeug's property gathers the Cookie headers with ``headers.getlist``, which, on a
    WSGI environ, walks every header of the request to find them: about 50 Python calls
    on each request that reads a cookie (the session's, the language's; issue 11). A
    WSGI server hands all of a request's cookies in the one ``HTTP_COOKIE`` value, the
    only one that walk can find, so the same text is parsed here by the same function,
    into the same class (``tests/idp/test_request_cookies.py`` compares the two)."""

    parameter_storage_class = Values  # Werkzeug's names: the query's and the form's class
    dict_storage_class = Values  # and the cookies'

    @cached_property
    def cookies(self) -> ImmutableMultiDict[str, str]:
        found = parse_cookie(self.environ.get("HTTP_COOKIE", ""), cls=self.dict_storage_class)
        return found  # type: ignore[return-value]
