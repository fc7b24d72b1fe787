"""Signed tokens between the forgot-password steps (itsdangerous).

Each step has its own purpose (a salt), so a token that says "the username was given"
cannot stand in for "the answers were right". A token is short-lived (by the injectable
clock, so tests move time) and carries a fingerprint of the account's state and the
flow's nonce: once the password changes, the account is revoked or its recovery email
changes, or a newer flow starts, every older token is refused.

Tokens are kept in the server-side session, never in a URL (S28).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from idp.clock import Clock, timestamp_signer
from idp.keys import KeyRing
from idp.models import Account

TOKEN_KEY_PURPOSE = "recovery.flow-token"  # noqa: S105 - a key-derivation purpose
STATE_PURPOSE = "recovery.account-state"

STARTED = "reset.started"  # the username was given; the code was sent (if any)
CODE_PASSED = "reset.code-passed"  # the emailed code was right; the question is next
VERIFIED = "reset.verified"  # proven: the new password may be set
PURPOSES = (STARTED, CODE_PASSED, VERIFIED)


class InvalidToken(Exception):
    """Missing, forged, expired, for another step, or of a finished or superseded flow."""


class FlowTokens:
    def __init__(self, keys: KeyRing, clock: Clock, lifetime: timedelta) -> None:
        self._keys = keys
        self._secret = keys.derive(TOKEN_KEY_PURPOSE)
        self._signer = timestamp_signer(clock)
        self.lifetime = lifetime

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in PURPOSES:
            raise ValueError(f"unknown token purpose {purpose!r}")
        return URLSafeTimedSerializer(self._secret, salt=purpose, signer=self._signer)

    def state_of(self, account: Account | None) -> str:
        """A keyed fingerprint of what a finished reset (or a revocation, or a new
        recovery email) changes; empty for a username with no account."""
        if account is None:
            return ""
        confirmed = account.email_confirmed_at.isoformat() if account.email_confirmed_at else ""
        state = f"{account.id}:{account.password_hash}:{account.status}:{account.email}:{confirmed}"
        return self._keys.keyed_hash(STATE_PURPOSE, state)

    def make(self, purpose: str, payload: dict[str, Any]) -> str:
        return str(self._serializer(purpose).dumps(payload))

    def read(self, purpose: str, token: str | None) -> dict[str, Any]:
        """The payload of a live token of ``purpose``; raises :class:`InvalidToken`."""
        if not token:
            raise InvalidToken()
        try:
            payload = self._serializer(purpose).loads(
                token, max_age=int(self.lifetime.total_seconds())
            )
        except BadSignature as error:  # SignatureExpired is a BadSignature
            raise InvalidToken() from error
        if not isinstance(payload, dict):
            raise InvalidToken()
        return payload
