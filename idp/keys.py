"""Purpose-bound keys derived from the one configured secret.

Every use of the secret (CSRF, signed tokens, keyed hashes of codes and usernames) gets
its own key, HMAC-SHA256(secret, purpose), so one use can never stand in for another and
rotating the secret rotates them all.
"""

from __future__ import annotations

import hashlib
import hmac


class KeyRing:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode("utf-8")
        # Purposes are a fixed handful of names in the code: each key is derived once
        # per process, not at every keyed hash (issue 11).
        self._derived: dict[str, bytes] = {}

    def derive(self, purpose: str) -> bytes:
        """The 32-byte key for ``purpose``."""
        key = self._derived.get(purpose)
        if key is None:
            key = hmac.new(self._secret, purpose.encode("utf-8"), hashlib.sha256).digest()
            self._derived[purpose] = key
        return key

    def keyed_hash(self, purpose: str, value: str) -> str:
        """Hex HMAC of ``value`` under the purpose's key: a stored form of a short code
        or identifier that cannot be reversed or brute-forced without the secret."""
        # ``hmac.digest``: the same HMAC-SHA256 in one call into OpenSSL, where
        # ``hmac.new(...).hexdigest()`` builds an HMAC object first (~7 Python calls;
        # eight keyed hashes a sign-in flow, issue 11).
        return hmac.digest(self.derive(purpose), value.encode("utf-8"), "sha256").hex()

    def matches(self, purpose: str, value: str, stored_hash: str) -> bool:
        """Constant-time comparison of ``value`` against a stored keyed hash."""
        return hmac.compare_digest(self.keyed_hash(purpose, value), stored_hash)


def same_text(given: str, expected: str) -> bool:
    """Constant-time equality of a text from outside with one Clef holds, whatever
    characters ``given`` has: compared as UTF-8 bytes, since ``hmac.compare_digest``
    refuses a str with non-ASCII characters (a TypeError, which must never be a 500)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected.encode("utf-8"))
