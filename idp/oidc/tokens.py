"""Access and refresh tokens: made, stored as hashes, found, rotated and revoked.

Access tokens are opaque 256-bit random strings, not JWTs: userinfo and introspection
look them up anyway, a lookup lets logout, revocation and a password reset end them at
once (S18, S40), and no request pays for a second signature. Refresh tokens rotate on
every use with reuse detection (S40): the family of a token presented twice is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from idp.oidc.models import AuthorizationCode, OAuthToken
from idp.settings import OidcSettings

TOKEN_BYTES = 32


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
             account_id: int, scope: str, code: AuthorizationCode | None,
             parent: OAuthToken | None) -> OAuthToken:
        """Store what was issued: from a code (a new family) or from a refresh token
        (the same family, its absolute limit unchanged)."""
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
        row = OAuthToken(
            client_id=client_id, account_id=account_id, scope=scope,
            access_token_hash=token_hash(token["access_token"]),
            refresh_token_hash=token_hash(refresh) if refresh else None,
            family=family, code_hash=code_hash, sid=facts.sid, auth_time=facts.auth_time,
            amr=facts.amr, acr=facts.acr, issued_at=now,
            access_expires_at=now + self.access_lifetime,
            refresh_expires_at=refresh_expires, family_expires_at=family_expires,
        )
        db.add(row)
        if code is not None and self._code_reused_meanwhile(db, code.code_hash):
            row.revoked_at = now  # S32: a reuse raced this exchange
        return row

    def _code_reused_meanwhile(self, db: Session, code_hash: str) -> bool:
        """Checked after the token row is written, under the code row's lock: either
        the reuse committed first (seen here), or it waits for this transaction and
        then revokes the committed token (:meth:`mark_code_reused`)."""
        db.flush()
        reused = db.execute(select(AuthorizationCode.reused_at)
                            .where(AuthorizationCode.code_hash == code_hash)
                            .with_for_update()).scalar_one_or_none()
        return reused is not None

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

    def claim_refresh(self, db: Session, row: OAuthToken, now: datetime) -> bool:
        """Use a refresh token up: one conditional UPDATE, so of two concurrent uses
        one wins; the loser is treated as a reuse."""
        result = db.execute(
            update(OAuthToken)
            .where(OAuthToken.id == row.id, OAuthToken.rotated_at.is_(None),
                   OAuthToken.revoked_at.is_(None))
            .values(rotated_at=now)
            .execution_options(synchronize_session=False)
        )
        claimed = bool(result.rowcount)  # type: ignore[attr-defined]
        if claimed:
            # Known to the ORM as stored: assigning it would flush a second UPDATE of the
            # same column at the commit (issue 11).
            set_committed_value(row, "rotated_at", now)
        return claimed

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
