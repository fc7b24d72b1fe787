"""Does an ``id_token_hint`` name the person and sign-in session in front of us?

RP-initiated logout (S44) skips its question only when the hint names the current
session; ``prompt=none`` (S37, OIDC Core §3.1.2.1) answers ``login_required`` when
the hint names someone else. The hint's signature is checked by the caller (Authlib's
end-session endpoint) or by :func:`verified_claims`; here only its ``sub`` and ``sid``
are compared with the session's, as the portal that received the token saw them.
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.keys import KeyRing
from idp.oidc.models import OAuthClient
from idp.oidc.subjects import session_id_for, subject_for

MAX_HINT_LENGTH = 8192


def verified_claims(raw: str | None, jwks: dict[str, Any], issuer: str,
                    client_id: str) -> dict[str, Any] | None:
    """The claims of an ID token this provider signed for ``client_id`` (expired or
    not: a hint only names someone), or None when it is not one."""
    if not raw or len(raw) > MAX_HINT_LENGTH:
        return None
    try:
        key_set = KeySet.import_key_set(jwks)  # type: ignore[arg-type]  # a JWKS dict
        token = jwt.decode(raw, key_set, algorithms=["RS256", "ES256"])
    except (JoseError, ValueError, TypeError):
        return None
    claims = dict(token.claims)
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if claims.get("iss") != issuer or client_id not in audiences:
        return None
    return claims


def names_subject(claims: dict[str, Any], keys: KeyRing, client: OAuthClient,
                  account_id: int | None) -> bool:
    """True when the hint's ``sub`` is this account as ``client`` knows it."""
    return account_id is not None and claims.get("sub") == subject_for(keys, client, account_id)


def names_session(claims: dict[str, Any], keys: KeyRing, client: OAuthClient,
                  account_id: int | None, provider_sid: str | None) -> bool:
    """True when the hint names this account *and* this sign-in session (``sid``)."""
    if not provider_sid or not names_subject(claims, keys, client, account_id):
        return False
    return bool(claims.get("sid") == session_id_for(keys, client, provider_sid))
