"""Password hashing with argon2id: the only home of argon2 in Clef (STYLE.md).

S3 / ASVS 11.4.2: argon2id at or above OWASP's parameters, hashes upgraded at the next
sign-in when the parameters change. S6: checking a password for an unknown account
costs one argon2 verification too, against a dummy hash made with the same parameters,
and so does an account whose stored hash no password matches (a sign-in partner's
identity, J14, stores "!"): argon2 would refuse that at once, faster than any real hash.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher as _Argon2
from argon2 import Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from idp.settings import Argon2Settings

ARGON2_PREFIX = "$argon2"  # every hash argon2 makes starts so (PHC string format)


@dataclass(frozen=True)
class PasswordCheck:
    """The result of one verification: did it match, and should the hash be redone."""

    matches: bool
    needs_rehash: bool = False


def normalise_password(password: str) -> str:
    """NFKC (NIST §3.1.1.2): a composed and a decomposed "é" are the same password.
    No case folding and no trimming (S1)."""
    return unicodedata.normalize("NFKC", password)


class PasswordHasher:
    def __init__(self, params: Argon2Settings) -> None:
        self._argon2 = _Argon2(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            type=Type.ID,
        )
        # Made once per process; verifying against it costs what a real one costs.
        self._dummy_hash = self._argon2.hash("clef-dummy-password-for-unknown-accounts")

    def hash(self, password: str) -> str:
        return self._argon2.hash(normalise_password(password))

    def verify(self, stored_hash: str | None, password: str) -> PasswordCheck:
        """Check ``password`` against ``stored_hash``, or against the dummy hash when
        there is no account or its hash is not an argon2 hash (no password matches it),
        so every path does exactly one full argon2 verification (S6)."""
        usable = stored_hash is not None and stored_hash.startswith(ARGON2_PREFIX)
        target = stored_hash if usable and stored_hash else self._dummy_hash
        try:
            self._argon2.verify(target, normalise_password(password))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return PasswordCheck(matches=False)
        if not usable:
            return PasswordCheck(matches=False)
        return PasswordCheck(matches=True, needs_rehash=self._argon2.check_needs_rehash(target))
