"""Encryption at rest for secrets the service must read back (TOTP secrets, S11; token
signing keys, S42), with key rotation.

Fernet (AES-128-CBC with HMAC-SHA256, from ``cryptography``) seals each secret; a
:class:`~cryptography.fernet.MultiFernet` over the configured keys encrypts with the
first and decrypts with any, which is exactly what rotating a key needs. A key derived
from the service secret always comes last, so the embedded default needs no key of its
own and moving to configured keys needs no extra step.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.orm import Session

from idp.keys import KeyRing

DERIVED_KEY_PURPOSE = "secret_box"


class SecretUnreadable(Exception):
    """No configured key opens this value (a key was dropped too early)."""


def new_key() -> str:
    """A fresh key for ``service.encryption_keys``."""
    return Fernet.generate_key().decode("ascii")


class SecretBox:
    def __init__(self, configured_keys: Iterable[str], keys: KeyRing) -> None:
        derived = base64.urlsafe_b64encode(keys.derive(DERIVED_KEY_PURPOSE))
        fernets = [Fernet(key.encode("ascii")) for key in configured_keys]
        fernets.append(Fernet(derived))
        self._box = MultiFernet(fernets)

    def seal(self, secret: str) -> str:
        return self._box.encrypt(secret.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._box.decrypt(sealed.encode("ascii")).decode("utf-8")
        except InvalidToken as error:
            raise SecretUnreadable() from error

    def reseal(self, sealed: str) -> str:
        """The same secret under the first key (``clef encryption reseal``)."""
        try:
            return self._box.rotate(sealed.encode("ascii")).decode("ascii")
        except InvalidToken as error:
            raise SecretUnreadable() from error


# Something that re-encrypts the secrets it owns under the first key and says how many
# (a slice registers one on ``Services.resealers``; ``clef encryption reseal`` runs them all).
Resealer = Callable[[Session, SecretBox], int]
