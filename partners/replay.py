"""A partner's back-channel logout token is accepted once (OIDC Back-Channel Logout
1.0 §2.6, "jti ... MAY be used to detect replay"; here it must): each accepted ``jti``
is remembered, per issuer, until the token could no longer pass its time checks.

One ``INSERT ... ON CONFLICT DO NOTHING`` decides: of two instances handed the same
token at once, exactly one inserts the row, and only that one ends sessions."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from partners.models import UsedLogoutToken


def _key(issuer: str, jti: str) -> str:
    return hashlib.sha256(f"{issuer}\n{jti}".encode()).hexdigest()


def accept_once(db: Session, issuer: str, jti: str, keep_until: datetime) -> bool:
    """True the first time this issuer's ``jti`` is seen; False for a replay. The
    caller commits (with what the token does, so a failure forgets it too)."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(UsedLogoutToken).values(
        id=_key(issuer, jti), keep_until=keep_until).on_conflict_do_nothing(
        index_elements=[UsedLogoutToken.id]).returning(UsedLogoutToken.id)
    # RETURNING, not rowcount: through SQLAlchemy on PostgreSQL (psycopg) this INSERT's
    # rowcount reads -1 (unknown) whether or not it inserted; the replay tests caught it.
    return db.execute(statement).scalar() is not None


def purge(db: Session, now: datetime) -> int:
    """The worker's sweep: drop what no token can be replayed against any more."""
    result = db.execute(delete(UsedLogoutToken).where(UsedLogoutToken.keep_until <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
