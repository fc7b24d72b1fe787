"""The token endpoint's common requests as the layer in front of Flask reads them (issue 11).

The parts every answerer of the token layer (idp.oidc.token_endpoint: the refresh and,
idp.oidc.code_endpoint, the code exchange) shares, so that each applies the same strict
rules and the token view's same services:

- the body's shape: ``application/x-www-form-urlencoded``, each field known, sent once,
  its value of RFC 3986's unreserved characters (no ``%``, ``+`` or NUL, so every
  parser reads the same text), bar the fields an answerer names as *decoded*
  (``redirect_uri``), which may also hold URI delimiters and percent-escapes that
  decode to printable ASCII (no NUL, no space), read as Werkzeug reads them
  (:func:`decoded`);
- the client's credentials: ``client_secret_basic`` (plain base64 of ``id:secret``, both
  unreserved, so Authlib's parser and the limit's agree) or ``client_secret_post``, never
  both (:func:`parse`), checked against this process's copy of a confidential client
  (``Clients.held``, ``Clients.secret_matches``; every claim checks the copy's revision in
  SQL, as on the Flask path) by :class:`TokenAnswerer`;
- the limit of idp.oidc.token_limit, counted once under ``client:<id>`` as the view counts
  it (S41); the layer writes the answer Authlib makes (``JSON_HEADERS``).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from idp.oidc import token_limit
from idp.oidc.clients import Clients
from idp.oidc.models import OAuthClient
from idp.oidc.runtime import OidcServices
from idp.runtime import Services

PATH = "/token"
ENDPOINT = "oidc.token"
FORM = "application/x-www-form-urlencoded"
MAX_BODY = 2048  # a code exchange with client_secret_post is under 500 bytes
MAX_BASIC = token_limit.MAX_CREDENTIAL_LENGTH
CLIENT_FIELDS = frozenset({"client_id", "client_secret"})
# RFC 3986's unreserved characters: what every token, code, verifier, client id and secret
# Clef makes or accepts is written in, and what no form parser decodes differently.
_VALUE = re.compile(r"[A-Za-z0-9._~-]+")
# A value of unreserved characters, the URI delimiters a form parser takes literally
# (RFC 3986's reserved ones but ``&``, ``+``, ``#``, ``[``, ``]``) and percent-escapes (a
# redirect URI, encoded by some clients, not by others), nothing else: no ``+`` (a space
# to a form parser), no lone ``%``.
_ESCAPED = re.compile(r"(?:[A-Za-z0-9._~:/?@!$'()*,;=-]|%[0-9A-Fa-f]{2})+")
_PRINTABLE = re.compile(r"[!-~]+")  # printable ASCII, no space
_BASIC = re.compile(r"[Bb][Aa][Ss][Ii][Cc] ([A-Za-z0-9+/]+={0,2})")
# Authlib's token response headers (``default_json_headers``), in its order.
JSON_HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"),
                ("Pragma", "no-cache"))


@dataclass(frozen=True)
class Ask:
    """A token request in the common shape: who asks, with what secret, and the grant's
    own fields (``grant_type`` and the rest, decoded)."""

    client_id: str
    secret: str
    fields: dict[str, str]


def decoded(value: str) -> str | None:
    """A value of unreserved characters, delimiters and percent-escapes as a form parser
    reads it,
    when it reads as printable ASCII (no space, no NUL: S28); else None. Werkzeug reads
    such a value the same (a test compares the two)."""
    if not _ESCAPED.fullmatch(value):
        return None
    try:
        text = unquote(value, errors="strict")
    except UnicodeDecodeError:
        return None
    return text if _PRINTABLE.fullmatch(text) else None


def form(body: bytes, names: frozenset[str], escaped: frozenset[str] = frozenset()) -> \
        dict[str, str] | None:
    """The body's fields when each is one of ``names``, sent once, of unreserved
    characters (or, for ``escaped``, :func:`decoded`); else None."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    fields: dict[str, str] = {}
    for pair in text.split("&"):
        name, sep, value = pair.partition("=")
        if not sep or name not in names or name in fields:
            return None
        if name in escaped:
            found = decoded(value)
            if found is None:
                return None
            value = found
        elif not _VALUE.fullmatch(value):
            return None
        fields[name] = value
    return fields


def basic(header: str) -> tuple[str, str] | None:
    """``client_secret_basic``'s id and secret when the header is plain base64 of
    ``id:secret``, both of unreserved characters (Authlib's parser and the limit's then
    read the same pair: nothing to unquote, no ``:`` in the id); else None."""
    if len(header) > MAX_BASIC:
        return None
    match = _BASIC.fullmatch(header)
    if match is None:
        return None
    try:
        raw = base64.b64decode(match.group(1), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = raw.partition(":")
    if not sep or not _VALUE.fullmatch(client_id) or not _VALUE.fullmatch(secret):
        return None
    return client_id, secret


def parse(environ: dict[str, Any], body: bytes, grant: str, own: frozenset[str],
          escaped: frozenset[str] = frozenset()) -> Ask | None:
    """The request for ``grant`` in the common shape, or None (Flask answers): exactly the
    fields ``own`` (``grant_type`` among them) and the client's credentials, in the
    Authorization header or, both of them, in the body."""
    fields = form(body, own | CLIENT_FIELDS, escaped)
    if fields is None or fields.get("grant_type") != grant:
        return None
    header = environ.get("HTTP_AUTHORIZATION")
    if header is not None:
        if fields.keys() != own:
            return None
        pair = basic(header)
        if pair is None:
            return None
        return Ask(pair[0], pair[1], fields)
    if fields.keys() != own | CLIENT_FIELDS:
        return None
    client_id, secret = fields.pop("client_id"), fields.pop("client_secret")
    if len(client_id) + len(secret) > token_limit.MAX_CREDENTIAL_LENGTH:
        return None
    return Ask(client_id, secret, fields)


class TokenAnswerer:
    """What every answerer of the token layer does the same way: the client from this
    process's copies, the limit's count. A subclass names its ``grant`` and the body's
    first field that marks it (``marker``), reads its :meth:`parse` and makes its
    :meth:`answer`."""

    grant = ""
    marker = b""

    def __init__(self, core: Services, provider: OidcServices, config: dict[str, Any]) -> None:
        self.core = core
        self.clients: Clients = provider.clients
        self.tokens = provider.tokens
        self.config = config

    def parse(self, environ: dict[str, Any], body: bytes) -> Ask | None:
        raise NotImplementedError

    def answer(self, client: OAuthClient, ask: Ask) -> dict[str, Any] | None:
        """The token, stored and committed, or None with nothing written (Flask answers)."""
        raise NotImplementedError

    def client(self, ask: Ask) -> OAuthClient | None:
        """This process's copy of a confidential client whose secret matches; None for
        anything else (no copy yet, a public client, a secret that may be new)."""
        client = self.clients.held(ask.client_id)
        if client is None or client.public or not self.clients.secret_matches(client, ask.secret):
            return None
        return client

    def limit_applies(self) -> bool:
        return token_limit.shortcut_applies(self.config)

    def count(self, client_id: str) -> Any:
        """The view's count under the client's key: None within the limit, else the
        item breached. Raises when the store fails."""
        value: str = self.config["CLEF_RATE_LIMITS"]["token_per_client"]
        return token_limit.hit(token_limit.client_key(client_id), value)
