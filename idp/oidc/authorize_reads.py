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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, exists, select
from sqlalchemy.orm import Session

from idp.oidc.models import AuthorizationCode, Consent, OAuthClient
from idp.oidc.tokens import token_hash

MAX_CLIENT_ID = 64  # as ``Clients.get_copy``: a longer id names no portal

_CLIENTS = cast(Table, OAuthClient.__table__)
_CODES = cast(Table, AuthorizationCode.__table__)
_CONSENTS = cast(Table, Consent.__table__)

_STATEMENT = select(
    _CLIENTS,
    exists().where(_CODES.c.client_id == _CLIENTS.c.client_id,
                   _CODES.c.nonce_hash == bindparam("nonce_hash", type_=_CODES.c.nonce_hash.type))
    .label("nonce_used"),
    select(_CONSENTS.c.scope).where(
        _CONSENTS.c.account_id == bindparam("account_id", type_=_CONSENTS.c.account_id.type),
        _CONSENTS.c.client_id == _CLIENTS.c.client_id).scalar_subquery().label("consent_scope"),
).where(_CLIENTS.c.client_id == bindparam("client"))


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
    ``account_id`` consented to for it: one statement (none for an impossible id)."""
    nonce_hash = token_hash(nonce) if nonce else None
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
