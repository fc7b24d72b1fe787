"""Recovery codes (S13; NIST §4.2.1.1): random, shown once, kept as keyed hashes,
each usable once, the whole set replaced at a time.

A code is ``recovery_code_length`` characters of Crockford's base32 alphabet (5 bits
each: 16 characters give 80 bits); when typed back, case, spaces and dashes do not
matter and the look-alikes O, I and L read as 0, 1 and 1. A code is stored as
HMAC-SHA256 under a purpose key (``idp.keys``): with 80 random bits a keyed hash cannot
be reversed, and finding it is one indexed query instead of an argon2 run per stored
code. Burning a code is one conditional UPDATE, so of two concurrent uses of one code
exactly one succeeds.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from idp.keys import KeyRing
from mfa.models import RecoveryCode

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32
LOOK_ALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})
HASH_PURPOSE = "mfa.recovery_code"
GROUP = 4


def normalise(typed: str) -> str:
    """What the person typed, as the generator wrote it."""
    kept = "".join(ch for ch in typed.upper() if ch.isascii() and ch.isalnum())
    return kept.translate(LOOK_ALIKES)


def display(code: str) -> str:
    """Grouped for reading aloud and copying: ``ABCD-EFGH-...``."""
    return "-".join(code[i:i + GROUP] for i in range(0, len(code), GROUP))


class RecoveryCodes:
    def __init__(self, keys: KeyRing, count: int, length: int) -> None:
        self._keys = keys
        self.count = count
        self.length = length

    def _hash(self, account_id: int, code: str) -> str:
        return self._keys.keyed_hash(HASH_PURPOSE, f"{account_id}:{code}")

    def replace(self, db: Session, account_id: int, now: datetime) -> list[str]:
        """A new set for the account; every earlier code (used or not) is gone.

        Returns the codes in clear, grouped, for the one page that shows them. The
        caller commits."""
        db.execute(delete(RecoveryCode).where(RecoveryCode.account_id == account_id))
        codes = ["".join(secrets.choice(ALPHABET) for _ in range(self.length))
                 for _ in range(self.count)]
        db.add_all(RecoveryCode(account_id=account_id, code_hash=self._hash(account_id, code),
                                created_at=now) for code in codes)
        return [display(code) for code in codes]

    def burn(self, db: Session, account_id: int, typed: str, now: datetime) -> bool:
        """Use one code: True when ``typed`` is an unused code of this account, which is
        then used up. One conditional UPDATE decides (the caller commits at once)."""
        code = normalise(typed)
        if len(code) != self.length:
            return False
        result = db.execute(
            update(RecoveryCode)
            .where(RecoveryCode.account_id == account_id,
                   RecoveryCode.code_hash == self._hash(account_id, code),
                   RecoveryCode.used_at.is_(None))
            .values(used_at=now)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def remaining(self, db: Session, account_id: int) -> int:
        query = select(func.count()).where(RecoveryCode.account_id == account_id,
                                           RecoveryCode.used_at.is_(None))
        return int(db.scalar(query) or 0)
