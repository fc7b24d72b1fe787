"""Validating a logout token (OpenID Connect Back-Channel Logout 1.0 §2.6), with
joserfc against Clef's published keys. Knows nothing of Flask."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet, KeySetSerialization

EVENT = "http://schemas.openid.net/event/backchannel-logout"
TYPE = "logout+jwt"
MAX_AGE_SECONDS = 300  # an older token is refused even if its exp says otherwise

# force=False: the cached key set; force=True: fetched again (a key Clef rotated in)
FetchKeys = Callable[[bool], KeySetSerialization]


class InvalidLogoutToken(Exception):
    """The token must be refused (§2.8: answer 400)."""


def validate_logout_token(token: str, fetch_keys: FetchKeys, issuer: str, client_id: str,
                          algorithms: Collection[str], leeway: int) -> dict[str, Any]:
    """The token's claims, once §2.6 holds: signed by one of the issuer's keys with an
    expected algorithm (never ``none``), ``iss``, ``aud``, ``iat`` and ``exp`` right
    (within ``leeway`` seconds), the back-channel logout event, a ``sub`` or a ``sid``,
    and no ``nonce``. Raises :class:`InvalidLogoutToken`."""
    algorithms = [a for a in algorithms if a != "none"]
    try:
        try:
            decoded = jwt.decode(token, KeySet.import_key_set(fetch_keys(False)), algorithms)
        except InvalidKeyIdError:
            decoded = jwt.decode(token, KeySet.import_key_set(fetch_keys(True)), algorithms)
        typ = decoded.header.get("typ")
        if typ is not None and typ != TYPE:
            raise InvalidLogoutToken(f"typ {typ!r}")
        claims = dict(decoded.claims)
        registry = jwt.JWTClaimsRegistry(
            leeway=leeway,
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": client_id},
            iat={"essential": True},
            exp={"essential": True},
            jti={"essential": True},
        )
        registry.validate(claims)
    except (JoseError, ValueError) as error:
        raise InvalidLogoutToken(str(error) or type(error).__name__) from error
    if registry.now - claims["iat"] > MAX_AGE_SECONDS + leeway:
        raise InvalidLogoutToken("iat too old")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise InvalidLogoutToken("no back-channel logout event")
    if not (claims.get("sid") or claims.get("sub")):
        raise InvalidLogoutToken("neither sid nor sub")
    if "nonce" in claims:
        raise InvalidLogoutToken("a logout token never has a nonce")
    return claims
