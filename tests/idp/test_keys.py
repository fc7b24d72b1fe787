"""The keyed hashes of ``idp.keys`` stay what they were: hashes already stored (codes,
throttle keys, usernames) must still match after ``keyed_hash`` moved to one call
into OpenSSL (issue 11)."""

from __future__ import annotations

import hashlib
import hmac

from idp.keys import KeyRing


def _as_before(ring_secret: str, purpose: str, value: str) -> str:
    """``keyed_hash`` as it was written before: an HMAC object, then its hex digest."""
    key = hmac.new(ring_secret.encode("utf-8"), purpose.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def test_keyed_hashes_are_the_hmac_sha256_stored_before() -> None:
    secret = "secret-" + "k" * 40
    ring = KeyRing(secret)
    for purpose in ("throttle", "email-code", "recovery-code"):
        for value in ("alice", "", "Ünïcödé ß", "x" * 500, "123456"):
            assert ring.keyed_hash(purpose, value) == _as_before(secret, purpose, value)
            assert ring.matches(purpose, value, _as_before(secret, purpose, value))
            assert not ring.matches(purpose, value + "!", _as_before(secret, purpose, value))


def test_each_purpose_has_its_own_key() -> None:
    ring = KeyRing("secret-" + "k" * 40)
    assert ring.keyed_hash("a", "alice") != ring.keyed_hash("b", "alice")
    assert KeyRing("other-" + "k" * 40).keyed_hash("a", "alice") != ring.keyed_hash("a", "alice")
