"""Rate limits of the token endpoint: per authenticated portal, not per address.

A portal's server makes every code exchange and refresh of its users from a few
addresses, so a per-address limit made all of one portal's users share one budget
(issue 9 item 9). Requests whose client authenticates (``client_secret_basic`` or
``client_secret_post``, S41) count against ``rate_limit.token_per_client`` for that
client; anything else (a public client, a wrong or missing secret) counts against
``rate_limit.token_per_ip`` for its address (S27), so guessing secrets stays limited
per address and nobody can spend a portal's budget without its secret.

The limit is counted by one direct call to the limiter's strategy (:func:`limited`,
issue 11): the same key, scope, store and sliding window as Flask-Limiter's decorator,
without its per-request resolution of the view's limits (about 350 function calls of a
refresh's 2,300). Whenever that shortcut could differ from the decorator (the store
found dead and not yet back, a request filter, a default, application or meta limit
configured, the limiter disabled) the request goes through the decorator itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from functools import partial, wraps
from typing import Any, TypeVar
from urllib.parse import unquote

from flask import current_app, g, request
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from limits import RateLimitItem

from idp import ratelimit
from idp.oidc.models import OAuthClient
from idp.oidc.runtime import oidc
from idp.ratelimit import counts_directly, limiter, refusal
from idp.ratelimit import store_failed as store_failed  # token_endpoint calls it here
from idp.runtime import db

F = TypeVar("F", bound=Callable[..., Any])

_CACHE = "clef_token_client"
_ROWS = "clef_client_rows"
MAX_CREDENTIAL_LENGTH = 512
TOKEN_ENDPOINT = "oidc.token"  # noqa: S105 - an endpoint name, not a secret
SCOPE = "token"
# Set by the refresh answered in front of Flask (idp.oidc.token_endpoint) on a request
# it counted and then handed to Flask: True (counted, within the limit) or the limit item
# it breached. The view then counts nothing more (each request is counted once) and
# refuses a breach as its own count would. A WSGI server never puts such a key in the
# environ (a request's headers become ``HTTP_`` keys holding strings).
COUNTED = "clef.token_limit.counted"


def _presented() -> tuple[str, str] | None:
    """The client id and secret of the request (RFC 6749 §2.3.1), unchecked."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() == "basic " and len(header) <= MAX_CREDENTIAL_LENGTH:
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        basic_id, sep, basic_secret = raw.partition(":")
        return (unquote(basic_id), unquote(basic_secret)) if sep else None
    client_id, secret = request.form.get("client_id"), request.form.get("client_secret")
    if client_id and secret and len(client_id) + len(secret) <= MAX_CREDENTIAL_LENGTH:
        return client_id, secret
    return None


def basic_header_is_malformed() -> bool:
    """True for ``Authorization: Basic`` that is not base64 of UTF-8 ``id:secret``:
    answered 401 invalid_client here, before Authlib would fail on it with a 500."""
    header = request.headers.get("Authorization", "")
    if header[:6].lower() != "basic ":
        return False
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return True
    return ":" not in raw


def client_row(client_id: str) -> OAuthClient | None:
    """The client's row, looked up once per request: the limit's key (below) and
    Authlib's client authentication both ask for it (issue 11: one SELECT, not two), as
    a read-only copy (no ORM loading). On the token endpoint, this process's copy
    (``Clients.cached``, no SELECT at all): its claims check the copy's revision in
    SQL. Every other endpoint reads the row fresh."""
    rows: dict[str, OAuthClient | None] = g.setdefault(_ROWS, {})
    if client_id not in rows:
        clients = oidc().clients
        read = clients.cached if request.endpoint == TOKEN_ENDPOINT else clients.get_copy
        rows[client_id] = read(db(), client_id)
    return rows[client_id]


def forget_request_clients() -> None:
    """A token request that failed drops the copies it used, so the next request reads
    the client again: a copy is trusted only as long as it leads to tokens (a stale
    secret cannot keep counting against the portal's budget)."""
    clients = oidc().clients
    for client_id, row in g.get(_ROWS, {}).items():
        if row is not None:
            clients.forget(client_id)


def authenticated_client_id() -> str | None:
    """The client id when the request's credentials are right (once per request).

    A secret that does not match this process's copy of the client is checked again
    against the row read afresh before the request is refused: the copy may predate a
    rotation on another instance, and the portal's first request with its new secret
    must not fail for it. The fresh row then serves the rest of the request (Authlib's
    client authentication asks :func:`client_row` too)."""
    if _CACHE not in g:
        found = None
        presented = _presented()
        if presented is not None:
            clients = oidc().clients
            client = client_row(presented[0])
            if client is not None and not clients.secret_matches(client, presented[1]) \
                    and request.endpoint == TOKEN_ENDPOINT:
                clients.forget(presented[0])
                g.get(_ROWS, {}).pop(presented[0], None)
                client = client_row(presented[0])
            if client is not None and clients.secret_matches(client, presented[1]):
                found = client.client_id
        setattr(g, _CACHE, found)
    cached: str | None = g.get(_CACHE)
    return cached


def limit_key() -> str:
    """The one key a token request is counted under: its authenticated client, or
    else its address (S27, S41). A client id is hex and an address has no ``client:``
    prefix, so the two budgets never share a counter."""
    client_id = authenticated_client_id()
    return client_key(client_id) if client_id is not None else get_remote_address()


def client_key(client_id: str) -> str:
    """The key an authenticated client's token requests are counted under."""
    return f"client:{client_id}"


def limit_value() -> str:
    """``rate_limit.token_per_client`` for an authenticated client, else
    ``rate_limit.token_per_ip``, read per request.

    One limit with this value and :func:`limit_key` replaces two decorators, each
    with an ``exempt_when`` callable (issue 11): Flask-Limiter resolved, filtered and
    checked two limits per token request (on Redis, every check a round trip) where
    exactly one of them ever applied."""
    name = "token_per_client" if authenticated_client_id() is not None else "token_per_ip"
    value: str = current_app.config["CLEF_RATE_LIMITS"][name]
    return value


# True when counting directly is exactly what the decorator would do (``config``: the
# app's); the token layer in front of Flask asks it too.
shortcut_applies = counts_directly


def _shortcut_applies() -> bool:
    return shortcut_applies(current_app.config)


# ``hit(key, value)``: one hit per limit item of ``value`` under the decorator's key
# (``[prefix/]key/oidc.token:token``), stopping at the first breach: the item breached,
# or None. Raises when the store fails (:func:`store_failed`). A partial, not a function
# around ``idp.ratelimit.hit``: no call of its own on every token request (issue 11).
hit = partial(ratelimit.hit, endpoint=TOKEN_ENDPOINT, scope=SCOPE)


def _refuse(item: RateLimitItem) -> RateLimitExceeded:
    """The refusal of a breach (429 with Retry-After, ``idp.errors``)."""
    return refusal(item, limit_key, SCOPE)


def _count() -> None:
    """:func:`hit` under :func:`limit_key` and :func:`limit_value`; a breach raises
    ``RateLimitExceeded``."""
    breached = hit(limit_key(), limit_value())
    if breached is not None:
        raise _refuse(breached)


def limited(view: F) -> F:
    """The token view, counted against :func:`limit_value` under :func:`limit_key`:
    directly when :func:`shortcut_applies`, else (and when the store fails during the
    count) through Flask-Limiter's decorator, which then falls back to memory as for
    every other limit (D4, S27)."""
    decorated = limiter.limit(limit_value, key_func=limit_key, scope=SCOPE)(view)

    @wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        counted = request.environ.get(COUNTED)
        if counted is True:  # counted in front of Flask, within the limit
            return view(*args, **kwargs)
        if isinstance(counted, RateLimitItem):  # counted in front of Flask: a breach
            raise _refuse(counted)
        if not _shortcut_applies():
            return decorated(*args, **kwargs)
        try:
            _count()
        except RateLimitExceeded:
            raise
        except Exception:
            if not store_failed():
                raise
            return decorated(*args, **kwargs)
        return view(*args, **kwargs)  # a sync view: Flask's ensure_sync would return it

    return run  # type: ignore[return-value]
