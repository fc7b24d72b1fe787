"""The authorization request as Authlib reads it, built once from plain values (issue 11).

Authlib's Flask adapter (``FlaskOAuth2Request``) reads Flask's ``request.values``
through its context-local proxy on every ``payload.data`` access (37 times in a consent
POST), walks the combined query and form again for ``datalist``, and rebuilds the whole
URL (``request.url``, every character quoted) only to check that it is https. Here the
query and the form are read once into a dict of first values and a dict of lists, with
the precedence of Werkzeug's ``request.values`` (the query first; the form after it,
and not at all for a GET), and the transport is checked on the request's origin: the
scheme and host, all of the URL that Authlib's check reads (``is_secure_transport``).

Nothing here knows Flask: the view hands over the values
(tests/oidc/test_issue11_authorize_request.py compares every part with Authlib's own adapter).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from authlib.common.security import is_secure_transport
from authlib.oauth2.rfc6749 import InsecureTransportError, OAuth2Payload, OAuth2Request

INSECURE_TRANSPORT_VARIABLE = "AUTHLIB_INSECURE_TRANSPORT"  # Authlib's own switch
Lists = Iterable[tuple[str, list[str]]]


class AuthorizePayload(OAuth2Payload):
    """The parameters of one authorization request: ``data`` the first value of each
    (the query's before the form's), ``datalist`` every value (the query's, then the
    form's), as ``request.values.get`` and ``getlist`` answer.

    Both are plain attributes (slots), not Authlib's read-only properties: Authlib's
    ``client_id``, ``redirect_uri``, ``scope`` ... read ``data`` about twenty times per
    request, each a Python call through a property (issue 11). A slot on this class is
    found before the base class's property; nothing assigns them after ``__init__``."""

    __slots__ = ("data", "datalist")
    data: dict[str, str]
    datalist: defaultdict[str, list[str]]

    def __init__(self, query: Lists, form: Lists | None) -> None:
        datalist: defaultdict[str, list[str]] = defaultdict(list)
        data: dict[str, str] = {}
        for key, values in query:
            if values:
                data[key] = values[0]
                datalist[key] = list(values)
        for key, values in form or ():
            if not values:
                continue
            data.setdefault(key, values[0])
            datalist[key].extend(values)
        self.data = data
        self.datalist = datalist


class AuthorizeRequest(OAuth2Request):
    """Authlib's ``OAuth2Request`` for /authorize, from a payload made once.

    Authlib's constructor checks the transport on the full URL; this one sets the same
    attributes (tests/oidc/test_issue11_authorize_request.py compares them with Authlib's) and
    checks the origin, once per origin and process (:func:`transport_is_secure`). The
    full URL, which the authorization code grant never reads, is made only if asked
    for (``uri``). Raises ``InsecureTransportError`` as Authlib's does."""

    def __init__(self, method: str, origin: str, headers: Any,  # Werkzeug's Headers
                 payload: AuthorizePayload, url: Callable[[], str]) -> None:
        if not transport_is_secure(origin):
            raise InsecureTransportError()
        self.method = method
        self.headers = headers
        self._url = url
        self._body = None
        self.payload = payload
        self.client = None
        self.auth_method = None
        self.user = None
        self.authorization_code = None
        self.refresh_token = None
        self.credential = None
        self._scope = None

    @property
    def uri(self) -> str:  # Authlib's is a plain attribute, set by its constructor
        return self._url()

    @property
    def args(self) -> Any:
        raise NotImplementedError("read request.payload")  # as Authlib's base request

    @property
    def form(self) -> Any:
        raise NotImplementedError("read request.payload")


def transport_is_secure(origin: str) -> bool:
    """Authlib's ``is_secure_transport`` on ``origin`` (``scheme://host/``): the
    variable that turns the check off is read each time, the answer for an origin is
    kept (a few origins per deployment; at most 64 kept, as the Host header is the
    client's to choose)."""
    return bool(os.getenv(INSECURE_TRANSPORT_VARIABLE)) or _secure_origin(origin)


@lru_cache(maxsize=64)
def _secure_origin(origin: str) -> bool:
    return bool(is_secure_transport(origin))
