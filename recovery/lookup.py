"""Forgot username (J6): the usernames registered to a recovery email.

Only confirmed addresses count: an address someone typed at registration without
confirming it may belong to somebody else, who must not learn the username. Addresses
are compared without regard to case (people retype them differently).
"""

from __future__ import annotations

import unicodedata

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from idp.models import Account


def normalise_address(raw: str) -> str:
    """The comparison form of an email address: NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", raw).strip().lower()


def find_by_recovery_email(db: Session, address: str) -> list[Account]:
    """Every account whose confirmed recovery email is ``address``, revoked ones
    included (the mail says they cannot be recovered, S19), oldest first."""
    wanted = normalise_address(address)
    query = (
        select(Account)
        .where(func.lower(Account.email) == wanted, Account.email_confirmed_at.is_not(None))
        .order_by(Account.id)
    )
    return list(db.scalars(query))
