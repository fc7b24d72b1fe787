"""Access and refresh tokens: made, stored as hashes, found, rotated and revoked.

Access tokens are opaque 256-bit random strings, not JWTs: userinfo and introspection
look them up anyway, a lookup lets logout, revocation and a password reset end them at
once (S18, S40), and no request pays for a second signature. Refresh tokens rotate on
every use with reuse detection (S40): the family of a token presented twice is revoked.

The hot paths (a code exchange, a refresh) are Core statements on rows, not ORM objects
(issue 11): a code or a refresh token is claimed by one ``UPDATE ... RETURNING`` whose
conditions carry every check that can be made in SQL (issue 11, S32, S40, D10), and the
new token is one ``INSERT``. The claim's row lock (PostgreSQL) or write lock (SQLite) is
held until the commit that also stores what it issued, so a concurrent second use waits
for it and then finds both the code used and the tokens to take back. Each claim also
requires the client's row to still have the revision of the copy the request was
authenticated with (``Clients.cached``). On PostgreSQL a refresh without a ``scope``
parameter is the claim and the INSERT in one statement, in autocommit
(:meth:`Tokens.rotate_refresh`), and so is the common code exchange answered in front of
Flask (:meth:`Tokens.exchange_code_on`, its request's checks in the claim's SQL).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, Table, bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from idp.db import ALONE
from idp.oidc.liveness import NOW, SEEN_AFTER, usable
from idp.oidc.models import AuthorizationCode, OAuthClient, OAuthToken
from idp.settings import OidcSettings

TOKEN_BYTES = 32
TableRow = Row[*tuple[Any, ...]]  # a Core result row, read by column name
CODES: Table = AuthorizationCode.__table__  # type: ignore[assignment]
TOKENS: Table = OAuthToken.__table__  # type: ignore[assignment]
CLIENTS: Table = OAuthClient.__table__  # type: ignore[assignment]
# What a claimed code carries to its tokens and ID token (``IssuedCode``).
CODE_COLUMNS = tuple(CODES.c[name] for name in (
    "code_hash", "client_id", "account_id", "redirect_uri", "scope", "nonce",
    "code_challenge", "code_challenge_method", "auth_time", "amr", "acr", "partner_acr", "sid"))
# What a claimed refresh token carries to its successor (``IssuedToken``).
TOKEN_COLUMNS = tuple(TOKENS.c[name] for name in (
    "id", "client_id", "account_id", "scope", "family", "code_hash", "sid", "auth_time",
    "amr", "acr", "issued_at", "access_expires_at", "family_expires_at", "revoked_at"))


def token_hash(value: str) -> str:
    """SHA-256 is enough for 256 random bits: nothing to brute-force."""
    return hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class SignInFacts:
    """How and when the person signed in, carried from the code to every token."""

    sid: str
    auth_time: datetime
    amr: str
    acr: str
    partner_acr: str | None = None  # D14: the partner's own acr, its own claim


# The hot statements, built once (issue 11: building a statement cost more CPU than
# running it); the request's values are bound parameters. A code or refresh token is
# claimed by one conditional UPDATE that also checks its account and session (D10).
_INSERT_TOKEN = insert(TOKENS)
# The client as the request authenticated it: the token endpoint checks the secret
# against a per-process copy of the client (``Clients.cached``), so every claim also
# requires the row to still have that copy's revision (a rotation or a removal since
# makes the claim fail, on every instance at once).
_CLIENT_UNCHANGED = exists().where(CLIENTS.c.client_id == bindparam("client"),
                                   CLIENTS.c.revision == bindparam("revision"))
_CLAIM_CODE = (
    update(CODES)
    .where(CODES.c.code_hash == bindparam("hash"),
           CODES.c.client_id == bindparam("client"), CODES.c.used_at.is_(None),
           CODES.c.expires_at > bindparam(NOW), usable(CODES.c.account_id, CODES.c.sid),
           _CLIENT_UNCHANGED)
    .values(used_at=bindparam(NOW)).returning(*CODE_COLUMNS)
)
_FIND_CODE = select(CODES.c.code_hash, CODES.c.client_id, CODES.c.account_id,
                    CODES.c.used_at).where(CODES.c.code_hash == bindparam("hash"))
_CLAIM_REFRESH_ONLY = (
    update(TOKENS)
    .where(TOKENS.c.refresh_token_hash == bindparam("hash"),
           TOKENS.c.client_id == bindparam("client"), TOKENS.c.rotated_at.is_(None),
           TOKENS.c.revoked_at.is_(None), TOKENS.c.refresh_expires_at > bindparam(NOW),
           usable(TOKENS.c.account_id, TOKENS.c.sid), _CLIENT_UNCHANGED)
    .values(rotated_at=bindparam(NOW))
)
_CLAIM_REFRESH = _CLAIM_REFRESH_ONLY.returning(*TOKEN_COLUMNS)
# What a refresh copies from the token it rotates to its successor (``Tokens.save``).
_CARRIED = ("client_id", "account_id", "scope", "family", "code_hash", "sid", "auth_time",
            "amr", "acr", "family_expires_at")
_NEW = ("access_token_hash", "refresh_token_hash", "issued_at", "access_expires_at")


def _rotation(*returning: Any) -> Any:
    """PostgreSQL: the refresh claim and its successor's INSERT as one statement (a
    data-modifying CTE), run in autocommit: one round trip where a transaction took four
    (BEGIN, the claim, the INSERT, COMMIT), with the same conditions and the same row
    lock (a concurrent use waits for it, then finds the token rotated). The successor's
    refresh limit is its idle limit, held to the family's absolute one (``save``). The
    claim returns to the INSERT only what it carries; the statement returns the
    successor's columns ``returning``."""
    claimed = _CLAIM_REFRESH_ONLY.returning(*(TOKENS.c[name] for name in _CARRIED)).cte("claimed")
    idle_until = bindparam("refresh_idle_until", type_=TOKENS.c.refresh_expires_at.type)
    # Parameters named unlike any column: a column's name among the parameters would
    # also be SET by the claim's UPDATE.
    values: list[Any] = [claimed.c[name] for name in _CARRIED]
    values += [bindparam(f"new_{name}", type_=TOKENS.c[name].type) for name in _NEW]
    values.append(func.least(idle_until, func.coalesce(claimed.c.family_expires_at, idle_until),
                             type_=TOKENS.c.refresh_expires_at.type))
    return (insert(TOKENS)
            .from_select([*_CARRIED, *_NEW, "refresh_expires_at"], select(*values))
            .returning(*returning))


# What a code's first tokens take from the claimed code (``Tokens.save``: a new family).
_FROM_CODE = ("client_id", "account_id", "scope", "code_hash", "sid", "auth_time", "amr", "acr")
_NEW_FROM_CODE = ("access_token_hash", "refresh_token_hash", "family", "issued_at",
                  "access_expires_at", "refresh_expires_at", "family_expires_at")
# The exchange's checks of the request against the code (RFC 6749 §4.1.3, RFC 7636 §4.6,
# the ``openid`` scope), in SQL: named unlike any column of the codes (see ``_rotation``).
EXCHANGE_REDIRECT_URI, EXCHANGE_SCOPE, EXCHANGE_CHALLENGE = (
    "asked_redirect_uri", "asked_scope", "asked_challenge")


def _exchange() -> Any:
    """PostgreSQL: a code exchange's claim and its tokens' INSERT as one statement (two
    data-modifying CTEs) run in autocommit, as ``_rotation`` does for a refresh: one round
    trip where a transaction took four (BEGIN, the claim, the INSERT, COMMIT), with the
    claim's conditions and row lock (a concurrent use waits for it, then finds the code
    used and, on the view's path, the tokens to take back: S32). What Authlib checks of
    the request against the code after its claim is folded into the claim's conditions
    (the redirect URI equal to the code's, the code's S256 challenge equal to the one
    made from the verifier, the ``openid`` scope), so a request failing any of them
    writes nothing and the view claims and answers it as before. Returns the claimed
    code's columns (``CODE_COLUMNS``: what the ID token needs), joined to the INSERT so
    a row means both were written."""
    claimed = _CLAIM_CODE.where(
        CODES.c.redirect_uri == bindparam(EXCHANGE_REDIRECT_URI),
        CODES.c.scope == bindparam(EXCHANGE_SCOPE),
        CODES.c.code_challenge_method == "S256",
        CODES.c.code_challenge == bindparam(EXCHANGE_CHALLENGE)).cte("claimed")
    values: list[Any] = [claimed.c[name] for name in _FROM_CODE]
    values += [bindparam(f"new_{name}", type_=TOKENS.c[name].type) for name in _NEW_FROM_CODE]
    issued = (insert(TOKENS).from_select([*_FROM_CODE, *_NEW_FROM_CODE], select(*values))
              .returning(TOKENS.c.code_hash).cte("issued"))
    return (select(*(claimed.c[column.name] for column in CODE_COLUMNS))
            .join_from(claimed, issued, issued.c.code_hash == claimed.c.code_hash))


_EXCHANGE_CODE = _exchange()
_REVOKE_FROM_CODE = (update(TOKENS).where(TOKENS.c.code_hash == bindparam("hash"),
                                          TOKENS.c.revoked_at.is_(None))
                     .values(revoked_at=bindparam(NOW)))
_FIND_REFRESH = select(
    TOKENS.c.client_id, TOKENS.c.account_id, TOKENS.c.family, TOKENS.c.sid,
    TOKENS.c.rotated_at, TOKENS.c.revoked_at, TOKENS.c.refresh_expires_at,
).where(TOKENS.c.refresh_token_hash == bindparam("hash"))
_ROTATE_REFRESH = _rotation(*TOKEN_COLUMNS)
# The refresh answered in front of Flask reads nothing of the successor but its scope
# (the answer's): one column to send, describe and read where fourteen cost about 120
# Python calls of psycopg's and SQLAlchemy's per refresh (issue 11).
_ROTATE_REFRESH_SCOPE = _rotation(TOKENS.c.scope)
_FIND_BEARER = (
    select(TOKENS.c.account_id, TOKENS.c.client_id, TOKENS.c.scope, TOKENS.c.issued_at,
           TOKENS.c.access_expires_at, CLIENTS.c.subject_type, CLIENTS.c.sector)
    .join(CLIENTS, CLIENTS.c.client_id == TOKENS.c.client_id)
    .where(TOKENS.c.access_token_hash == bindparam("hash"),
           TOKENS.c.revoked_at.is_(None), TOKENS.c.access_expires_at > bindparam(NOW),
           usable(TOKENS.c.account_id, TOKENS.c.sid))
)


class Tokens:
    def __init__(self, settings: OidcSettings) -> None:
        self.access_lifetime = timedelta(seconds=settings.access_token_lifetime_seconds)
        self.refresh_idle = timedelta(minutes=settings.refresh_idle_minutes)
        self.refresh_absolute = timedelta(hours=settings.refresh_absolute_hours)

    def generate(self, include_refresh_token: bool) -> dict[str, Any]:
        """Authlib's token generator: the bearer token response body."""
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": secrets.token_urlsafe(TOKEN_BYTES),
            "expires_in": int(self.access_lifetime.total_seconds()),
        }
        if include_refresh_token:
            token["refresh_token"] = secrets.token_urlsafe(TOKEN_BYTES)
        return token

    def save(self, db: Session, now: datetime, token: dict[str, Any], *, client_id: str,
             account_id: int, scope: str, code: Any = None, parent: Any = None) -> None:
        """Store what was issued, one INSERT: from a claimed code row (a new family) or
        a claimed refresh token row (the same family, its absolute limit unchanged).
        The caller commits, in the claim's transaction (see the module docstring)."""
        self.save_on(db.connection(), now, token, client_id=client_id, account_id=account_id,
                     scope=scope, code=code, parent=parent)

    def save_on(self, conn: Connection, now: datetime, token: dict[str, Any], *, client_id: str,
                account_id: int, scope: str, code: Any = None, parent: Any = None) -> None:
        """:meth:`save` on a connection the caller holds (the refresh and the code
        exchange answered in front of Flask, idp.oidc.token_endpoint, have no request
        session)."""
        if parent is not None:
            family, family_expires = parent.family, parent.family_expires_at
            facts = SignInFacts(parent.sid, parent.auth_time, parent.amr, parent.acr)
            code_hash = parent.code_hash
        elif code is not None:
            family, family_expires = secrets.token_hex(16), now + self.refresh_absolute
            facts = SignInFacts(code.sid, code.auth_time, code.amr, code.acr)
            code_hash = code.code_hash
        else:
            raise ValueError("a token comes from a code or a refresh token")
        refresh = token.get("refresh_token")
        refresh_expires = None
        if refresh:
            refresh_expires = now + self.refresh_idle
            if family_expires is not None:
                refresh_expires = min(refresh_expires, family_expires)
        conn.execute(_INSERT_TOKEN, {
            "client_id": client_id, "account_id": account_id, "scope": scope,
            "access_token_hash": token_hash(token["access_token"]),
            "refresh_token_hash": token_hash(refresh) if refresh else None,
            "family": family, "code_hash": code_hash, "sid": facts.sid,
            "auth_time": facts.auth_time, "amr": facts.amr, "acr": facts.acr,
            "issued_at": now, "access_expires_at": now + self.access_lifetime,
            "refresh_expires_at": refresh_expires, "family_expires_at": family_expires,
        })

    def claim_code(self, db: Session, code: str, client: OAuthClient, now: datetime,
                   seen_after: datetime) -> TableRow | None:
        """S32: use a code up, one conditional ``UPDATE ... RETURNING``: only a code of
        this client (whose row still has ``client``'s revision), not used, not expired,
        of an account that is not revoked and a sign-in session active after
        ``seen_after`` (D10). None when any of these fails: :meth:`find_code` tells
        why."""
        return self.claim_code_on(db.connection(), code, client, now, seen_after)

    def claim_code_on(self, conn: Connection, code: str, client: OAuthClient, now: datetime,
                      seen_after: datetime) -> TableRow | None:
        """:meth:`claim_code` on a connection the caller holds (the code exchange answered
        in front of Flask, idp.oidc.code_endpoint, has no request session)."""
        return conn.execute(_CLAIM_CODE, {
            "hash": token_hash(code), "client": client.client_id,
            "revision": client.revision, NOW: now, SEEN_AFTER: seen_after}).first()

    def exchange_code_on(self, conn: Connection, code: str, client: OAuthClient, now: datetime,
                         seen_after: datetime, redirect_uri: str, challenge: str,
                         token: dict[str, Any]) -> TableRow | None:
        """PostgreSQL, on a connection that holds no transaction: :meth:`claim_code_on`
        of a code whose redirect URI is ``redirect_uri``, scope ``openid`` and S256
        challenge ``challenge``, and :meth:`save_on` of ``token`` from it (a new
        family), as one statement (``_exchange``) run alone (``idp.db.ALONE``: in
        autocommit, without setting an isolation level on checkout and resetting it on
        return); the claimed code's row, or None with nothing written (the claim or a
        check failed)."""
        family_expires = now + self.refresh_absolute
        return conn.execute(_EXCHANGE_CODE, {
            "hash": token_hash(code), "client": client.client_id,
            "revision": client.revision, NOW: now, SEEN_AFTER: seen_after,
            EXCHANGE_REDIRECT_URI: redirect_uri, EXCHANGE_SCOPE: "openid",
            EXCHANGE_CHALLENGE: challenge,
            "new_access_token_hash": token_hash(token["access_token"]),
            "new_refresh_token_hash": token_hash(token["refresh_token"]),
            "new_family": secrets.token_hex(16), "new_issued_at": now,
            "new_access_expires_at": now + self.access_lifetime,
            "new_refresh_expires_at": min(now + self.refresh_idle, family_expires),
            "new_family_expires_at": family_expires}, execution_options=ALONE).first()

    def revoke_from_code_on(self, conn: Connection, code_hash: str, now: datetime) -> int:
        """:meth:`revoke_from_code` on a connection the caller holds (one ``UPDATE``,
        alone: in autocommit on a connection that holds no transaction)."""
        result = conn.execute(_REVOKE_FROM_CODE, {"hash": code_hash, NOW: now},
                              execution_options=ALONE)
        return int(result.rowcount)

    def find_code(self, db: Session, code: str) -> TableRow | None:
        """The code's row whatever its state: the failure path of :meth:`claim_code`."""
        return db.connection().execute(_FIND_CODE, {"hash": token_hash(code)}).first()

    def claim_refresh(self, db: Session, value: str, client: OAuthClient, now: datetime,
                      seen_after: datetime) -> TableRow | None:
        """S40: use a refresh token up, one conditional ``UPDATE ... RETURNING``, so of
        two concurrent uses one wins: only a token of this client (whose row still has
        ``client``'s revision), neither rotated nor
        revoked, within its idle and absolute limit, of an account that is not revoked
        and a sign-in session active after ``seen_after`` (D10). None when any of these
        fails: :meth:`find_refresh` tells why (the loser of a race finds it rotated)."""
        return self.claim_refresh_on(db.connection(), value, client, now, seen_after)

    def claim_refresh_on(self, conn: Connection, value: str, client: OAuthClient, now: datetime,
                         seen_after: datetime) -> TableRow | None:
        """:meth:`claim_refresh` on a connection the caller holds."""
        return conn.execute(_CLAIM_REFRESH, {
            "hash": token_hash(value), "client": client.client_id,
            "revision": client.revision, NOW: now, SEEN_AFTER: seen_after}).first()

    def rotate_refresh(self, db: Session, value: str, client: OAuthClient, now: datetime,
                       seen_after: datetime, token: dict[str, Any]) -> TableRow | None:
        """PostgreSQL, a refresh that asks for no other scope: :meth:`claim_refresh` and
        :meth:`save` of ``token`` as one statement in autocommit (``_rotation``); the
        stored successor's row, or None when the claim fails (nothing written; the
        caller ends the autocommit transaction before it looks why). Only when the
        request has no transaction open yet."""
        conn = db.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        return self.rotate_refresh_on(conn, value, client, now, seen_after, token)

    def rotate_refresh_on(self, conn: Connection, value: str, client: OAuthClient,
                          now: datetime, seen_after: datetime,
                          token: dict[str, Any]) -> TableRow | None:
        """:meth:`rotate_refresh` on a connection the caller holds, in autocommit."""
        return conn.execute(_ROTATE_REFRESH, self._rotation_params(
            value, client, now, seen_after, token)).first()

    def rotate_refresh_alone_on(self, conn: Connection, value: str, client: OAuthClient,
                                now: datetime, seen_after: datetime,
                                token: dict[str, Any]) -> TableRow | None:
        """:meth:`rotate_refresh_on` for a caller that reads only the successor's
        ``scope`` (the refresh answered in front of Flask), on a connection that holds
        no transaction: the one statement marked to run alone (``idp.db.ALONE``: in
        autocommit, as the ``AUTOCOMMIT`` isolation level would run it, without setting
        that level on checkout and resetting it on return, about 70 Python calls)."""
        return conn.execute(_ROTATE_REFRESH_SCOPE, self._rotation_params(
            value, client, now, seen_after, token), execution_options=ALONE).first()

    def _rotation_params(self, value: str, client: OAuthClient, now: datetime,
                         seen_after: datetime, token: dict[str, Any]) -> dict[str, Any]:
        return {
            "hash": token_hash(value), "client": client.client_id,
            "revision": client.revision, NOW: now, SEEN_AFTER: seen_after,
            "new_access_token_hash": token_hash(token["access_token"]),
            "new_refresh_token_hash": token_hash(token["refresh_token"]),
            "new_issued_at": now, "new_access_expires_at": now + self.access_lifetime,
            "refresh_idle_until": now + self.refresh_idle}

    def find_bearer(self, db: Session, value: str, now: datetime,
                    seen_after: datetime) -> TableRow | None:
        """S43, D10: a live access token with what UserInfo answers from, one SELECT:
        not revoked or expired, of an account that is not revoked and a sign-in session
        active after ``seen_after``, joined to its client's subject type and sector
        (S45). None for anything else. A read alone: outside a transaction when the
        request has not opened one (autocommit), so PostgreSQL is not sent a BEGIN and a
        ROLLBACK around it (issue 11)."""
        conn = db.connection() if db.in_transaction() else db.connection(
            execution_options={"isolation_level": "AUTOCOMMIT"})
        return self.find_bearer_on(conn, value, now, seen_after)

    def find_bearer_on(self, conn: Connection, value: str, now: datetime,
                       seen_after: datetime) -> TableRow | None:
        """:meth:`find_bearer` on a connection the caller holds (UserInfo's own,
        without a request session: idp.oidc.server.BearerValidator)."""
        return conn.execute(_FIND_BEARER, {
            "hash": token_hash(value), NOW: now, SEEN_AFTER: seen_after}).first()

    def find_refresh(self, db: Session, value: str) -> TableRow | None:
        """The refresh token's row whatever its state: the failure path of
        :meth:`claim_refresh`."""
        return db.connection().execute(_FIND_REFRESH, {
            "hash": token_hash(value)}).first()

    def mark_code_reused(self, db: Session, code_hash: str, now: datetime) -> int:
        """S32: a code presented again: mark it (taking its row lock) and take back what
        its first use issued. Returns how many tokens were revoked."""
        db.execute(update(AuthorizationCode).where(AuthorizationCode.code_hash == code_hash)
                   .values(reused_at=now).execution_options(synchronize_session=False))
        return self.revoke_from_code(db, code_hash, now)

    def get_by_access(self, db: Session, value: str) -> OAuthToken | None:
        return db.scalars(select(OAuthToken).where(
            OAuthToken.access_token_hash == token_hash(value))).first()

    def get_by_refresh(self, db: Session, value: str) -> OAuthToken | None:
        return db.scalars(select(OAuthToken).where(
            OAuthToken.refresh_token_hash == token_hash(value))).first()

    def access_is_live(self, row: OAuthToken, now: datetime) -> bool:
        return row.revoked_at is None and now < row.access_expires_at

    def refresh_is_live(self, row: OAuthToken, now: datetime) -> bool:
        return (row.revoked_at is None and row.rotated_at is None
                and row.refresh_expires_at is not None and now < row.refresh_expires_at)

    def _revoke(self, db: Session, now: datetime, *conditions: Any) -> int:
        result = db.execute(
            update(OAuthToken).where(OAuthToken.revoked_at.is_(None), *conditions)
            .values(revoked_at=now).execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    def revoke_family(self, db: Session, family: str, now: datetime) -> int:
        return self._revoke(db, now, OAuthToken.family == family)

    def revoke_from_code(self, db: Session, code_hash: str, now: datetime) -> int:
        """S32: a code used twice takes back what its first use issued."""
        return self._revoke(db, now, OAuthToken.code_hash == code_hash)

    def revoke_for_sessions(self, db: Session, sids: list[str], now: datetime) -> int:
        """The sign-in sessions ended: their portals' tokens end too."""
        if not sids:
            return 0
        return self._revoke(db, now, OAuthToken.sid.in_(sids))

    def drop_codes_for_sessions(self, db: Session, sids: list[str]) -> int:
        """D10: the sessions ended, so their unexchanged codes can never be exchanged.
        Used codes stay (until they expire) so that their reuse is still recognised."""
        if not sids:
            return 0
        result = db.execute(delete(AuthorizationCode).where(
            AuthorizationCode.sid.in_(sids), AuthorizationCode.used_at.is_(None)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def drop_codes_for_account(self, db: Session, account_id: int) -> int:
        """D10, S18: a reset or a revocation ends every unexchanged code of the account."""
        result = db.execute(delete(AuthorizationCode).where(
            AuthorizationCode.account_id == account_id, AuthorizationCode.used_at.is_(None)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def revoke_for_account(self, db: Session, account_id: int, now: datetime) -> int:
        """S18, S40: a password reset or a revocation ends every token of the account."""
        return self._revoke(db, now, OAuthToken.account_id == account_id)

    def purge(self, db: Session, now: datetime) -> int:
        """Delete rows no token in them can be used any more, and codes past their
        lifetime (a used code is kept that long to recognise its reuse, S32)."""
        tokens = db.execute(delete(OAuthToken).where(
            OAuthToken.access_expires_at <= now,
            or_(OAuthToken.refresh_expires_at.is_(None), OAuthToken.refresh_expires_at <= now),
        ))
        codes = db.execute(delete(AuthorizationCode).where(AuthorizationCode.expires_at <= now))
        return int(tokens.rowcount) + int(codes.rowcount)  # type: ignore[attr-defined]
