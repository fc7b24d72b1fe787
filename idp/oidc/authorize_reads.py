"""What an authorization request reads, in one statement (issue 11).

An /authorize request needs its portal's row (Authlib's client checks: redirect URI,
PKCE, scope), whether its ``nonce`` was used before by that portal (a replayed
request, OIDC Core §3.1.2.1) and, for a signed-in person, the consent they gave that
portal. These were three statements, each a round trip, one after the other; here they
are one prebuilt Core SELECT of the client's row with the two answers beside it
(correlated subqueries, both on indexed columns). Nothing is cached beyond the request:
the row is read fresh every time, so a portal changed or removed on another instance is
seen at once (S31).

A NULL ``nonce_hash`` or ``account_id`` makes its subquery answer "unused" or "no
consent" without reading anything useful, so the same statement serves a request
without a nonce, a POST (whose nonce the code's unique index checks, S35) and a new
visitor.

For a signed-in person the same columns ride with the session's read
(:data:`AUTHORIZE_RIDER`, ``idp.session_rows.Rider``): the consent page and its answer
send one statement less. They are taken only when the request asks about the very
portal, nonce and account they were read for (:func:`carried`); anything else is read
here, as before.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.orm import Session

from idp.oidc.models import AuthorizationCode, Consent, OAuthClient
from idp.oidc.tokens import token_hash
from idp.session_rows import ACCOUNTS, Rider, take_rider

MAX_CLIENT_ID = 64  # as ``Clients.get_copy``: a longer id names no portal

_CLIENTS = cast(Table, OAuthClient.__table__)
_CODES = cast(Table, AuthorizationCode.__table__)
_CONSENTS = cast(Table, Consent.__table__)


def _answers(nonce_hash: Any, account_id: Any) -> tuple[Any, Any]:
    """Beside a portal's row: whether ``nonce_hash`` was used with that portal, and the
    scope ``account_id`` consented to for it (both correlated to ``_CLIENTS``)."""
    return (
        exists().where(_CODES.c.client_id == _CLIENTS.c.client_id,
                       _CODES.c.nonce_hash == nonce_hash).label("nonce_used"),
        select(_CONSENTS.c.scope).where(
            _CONSENTS.c.account_id == account_id,
            _CONSENTS.c.client_id == _CLIENTS.c.client_id).scalar_subquery().label("consent_scope"))


_STATEMENT = select(
    _CLIENTS,
    *_answers(bindparam("nonce_hash", type_=_CODES.c.nonce_hash.type),
              bindparam("account_id", type_=_CONSENTS.c.account_id.type)),
).where(_CLIENTS.c.client_id == bindparam("client"))


# The same columns with the session's row: the portal named by the request, joined on
# its id (NULLs when there is none; its columns named apart from the session's), its
# nonce's use, and the session's account's consent.
_CLIENT_KEYS = tuple(column.key for column in _CLIENTS.c)
_RIDER_CLIENT, _RIDER_NONCE = "authorize_client", "authorize_nonce_hash"
_PortalRow = namedtuple("_PortalRow", _CLIENT_KEYS)  # type: ignore[misc]  # as the Row
_ID_AT = _CLIENT_KEYS.index("id")


def _hash_of(nonce: str | None) -> str | None:
    return token_hash(nonce) if nonce else None


def _rider_params(request: Any) -> dict[str, Any] | None:
    """What the session's read binds for /authorize, from the query as it arrives (the
    consent form posts to the same query), and for a GET its nonce: None when the query
    names no portal that could exist (the view then reads as before)."""
    args = request.args
    client_id = args.get("client_id")
    if not client_id or len(client_id) > MAX_CLIENT_ID:
        return None
    return {_RIDER_CLIENT: client_id,
            _RIDER_NONCE: _hash_of(args.get("nonce") if request.method == "GET" else None)}


AUTHORIZE_RIDER = Rider(
    "oidc.authorize",
    (*(column.label(f"authorize__{column.key}") for column in _CLIENTS.c),
     *_answers(bindparam(_RIDER_NONCE, type_=_CODES.c.nonce_hash.type), ACCOUNTS.c.id)),
    ((_CLIENTS, _CLIENTS.c.client_id == bindparam(_RIDER_CLIENT, type_=_CLIENTS.c.client_id.type)),),
    _rider_params)
# The provider's page it rides on (``idp.oidc.views.authorize``).
AUTHORIZE_PATH = "/authorize"


@dataclass(frozen=True)
class AuthorizeRead:
    """One request's reading: the portal (the statement's row, read-only, with the
    columns of ``OAuthClient``; None when there is none), and the answers for the
    nonce and the account it was read for (a caller asking about another reads again)."""

    client_id: str
    client: OAuthClient | None
    nonce_hash: str | None
    nonce_used: bool
    account_id: int | None
    consent_scope: str | None

    def answers_nonce(self, client_id: str, nonce: str) -> bool:
        return self.client_id == client_id and self.nonce_hash is not None \
            and self.nonce_hash == token_hash(nonce)

    def answers_consent(self, account_id: int, client_id: str) -> bool:
        return self.client is not None and self.client_id == client_id \
            and self.account_id == account_id


def read(db: Session, client_id: str, nonce: str | None, account_id: int | None) -> AuthorizeRead:
    """The portal ``client_id``, whether ``nonce`` was used with it, and the scope
    ``account_id`` consented to for it: one statement (none for an impossible id, none
    either when the session's read carried them: :func:`carried`)."""
    nonce_hash = _hash_of(nonce)
    found = _carried(db, client_id, nonce_hash, account_id)
    if found is not None:
        return found
    row: Any = None
    if client_id and len(client_id) <= MAX_CLIENT_ID:
        row = db.connection().execute(_STATEMENT, {
            "client": client_id, "nonce_hash": nonce_hash, "account_id": account_id}).first()
    if row is None:
        return AuthorizeRead(client_id, None, nonce_hash, False, account_id, None)
    # The row itself stands for the portal: it has every column of ``OAuthClient`` as
    # an attribute, already converted (JSON lists, booleans), and nothing here writes
    # to a client. An ORM copy (``Clients.get_copy``) cost 130 Python calls more per
    # request for its instrumented attributes (issue 11).
    client = cast(OAuthClient, row)
    return AuthorizeRead(client_id, client, nonce_hash, bool(row.nonce_used), account_id,
                         row.consent_scope)


def carried(db: Session, client_id: str, nonce: str | None, account_id: int | None) -> AuthorizeRead | None:
    """:func:`read`'s answer as the session's read made it (:data:`AUTHORIZE_RIDER`),
    when it was made for this very portal, nonce and account; else None. Taken once."""
    return _carried(db, client_id, _hash_of(nonce), account_id)


def _carried(db: Session, client_id: str, nonce_hash: str | None,
             account_id: int | None) -> AuthorizeRead | None:
    if account_id is None:
        return None
    found = take_rider(db, AUTHORIZE_RIDER, account_id)
    if found is None or found.params.get(_RIDER_CLIENT) != client_id \
            or found.params.get(_RIDER_NONCE) != nonce_hash:
        return None
    portal, (nonce_used, consent_scope) = (found.values[:len(_CLIENT_KEYS)],
                                           found.values[len(_CLIENT_KEYS):])
    if portal[_ID_AT] is None:  # the outer join found no such portal
        return AuthorizeRead(client_id, None, nonce_hash, False, account_id, None)
    return AuthorizeRead(client_id, cast(OAuthClient, _PortalRow(*portal)), nonce_hash,
                         bool(nonce_used), account_id, consent_scope)
