"""The upstream side of a trip to a partner: discovery and keys (cached, the keys
refreshed on an unknown ``kid``), the authorization request (code flow, PKCE S256,
``state`` and ``nonce``), the response checks (``state``, RFC 9207 ``iss``), the code
exchange, and the ID token's full validation. No Flask: plain values in and out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

LEEWAY_SECONDS = 60  # iat/exp leeway: small clock drift between Clef and a partner
TIMEOUT_SECONDS = 5
ALGORITHMS = ["RS256", "ES256", "PS256"]
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"

# What went wrong, for the error page and the audit record.
REFUSED = "refused"
CANCELLED = "cancelled"
UNREACHABLE = "unreachable"
BAD_RESPONSE = "bad_response"
BAD_TOKEN = "bad_token"  # noqa: S105 - a failure kind, not a token


class PartnerError(Exception):
    """The trip to the partner failed; ``kind`` is one of the constants above and
    ``detail`` a short reason for the audit (never a secret)."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


@dataclass(frozen=True)
class Trip:
    """What is kept server-side, bound to the browser session, while the person is at
    the partner."""

    partner_id: int
    state: str
    nonce: str
    verifier: str

    def as_dict(self) -> dict[str, Any]:
        return {"partner_id": self.partner_id, "state": self.state, "nonce": self.nonce,
                "verifier": self.verifier}

    @classmethod
    def from_dict(cls, data: Any) -> Trip | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(int(data["partner_id"]), str(data["state"]), str(data["nonce"]),
                       str(data["verifier"]))
        except (KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class PartnerConfig:
    id: int
    issuer: str
    client_id: str
    client_secret: str
    scope: str
    acr: str | None


def new_trip(partner_id: int) -> Trip:
    return Trip(partner_id, secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                secrets.token_urlsafe(48))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _fetch_json(url: str, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> dict[str, Any]:
    if not url.startswith(("https://", "http://")):
        raise PartnerError(BAD_RESPONSE, "not an http(s) URL")
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(1_000_000)
    except urllib.error.HTTPError as error:
        raise PartnerError(REFUSED, f"HTTP {error.code} from {urllib.parse.urlsplit(url).path}") from error
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise PartnerError(UNREACHABLE, "the partner did not answer") from error
    try:
        parsed = json.loads(body)
    except ValueError as error:
        raise PartnerError(BAD_RESPONSE, "not JSON") from error
    if not isinstance(parsed, dict):
        raise PartnerError(BAD_RESPONSE, "not a JSON object")
    return parsed


class Upstream:
    """Talks to partners. Discovery documents and key sets are cached per issuer for
    the life of the process; a key set is fetched again when a token names an unknown
    ``kid`` (the partner rotated its keys)."""

    def __init__(self) -> None:
        self._metadata: dict[str, dict[str, Any]] = {}
        self._keys: dict[str, KeySet] = {}

    def metadata(self, issuer: str) -> dict[str, Any]:
        found = self._metadata.get(issuer)
        if found is None:
            found = _fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
            if found.get("issuer") != issuer:
                raise PartnerError(BAD_RESPONSE, "the discovery document names another issuer")
            self._metadata[issuer] = found
        return found

    def authorization_url(self, partner: PartnerConfig, trip: Trip, redirect_uri: str) -> str:
        endpoint = self.metadata(partner.issuer).get("authorization_endpoint")
        if not isinstance(endpoint, str):
            raise PartnerError(BAD_RESPONSE, "no authorization endpoint")
        params = {"response_type": "code", "client_id": partner.client_id,
                  "redirect_uri": redirect_uri, "scope": partner.scope, "state": trip.state,
                  "nonce": trip.nonce, "code_challenge": s256(trip.verifier),
                  "code_challenge_method": "S256"}
        if partner.acr:
            params["acr_values"] = partner.acr
        return endpoint + ("&" if "?" in endpoint else "?") + urllib.parse.urlencode(params)

    def end_session_endpoint(self, issuer: str) -> str | None:
        try:
            value = self.metadata(issuer).get("end_session_endpoint")
        except PartnerError:
            return None
        return value if isinstance(value, str) else None

    def check_response(self, partner: PartnerConfig, trip: Trip, args: dict[str, str]) -> str:
        """The authorization response: the right ``state`` (this browser's trip), the
        right ``iss`` (RFC 9207: no mix-up with another partner), then the code."""
        if not hmac.compare_digest(args.get("state", ""), trip.state):
            raise PartnerError(BAD_RESPONSE, "state does not match this browser's trip")
        metadata = self.metadata(partner.issuer)
        iss = args.get("iss")
        if iss is not None and iss != partner.issuer:
            raise PartnerError(BAD_RESPONSE, "iss names another issuer")
        if iss is None and metadata.get("authorization_response_iss_parameter_supported"):
            raise PartnerError(BAD_RESPONSE, "iss missing")
        error = args.get("error")
        if error:
            kind = CANCELLED if error in ("access_denied", "login_required", "consent_required") else REFUSED
            raise PartnerError(kind, f"partner error {error[:40]}")
        code = args.get("code")
        if not code:
            raise PartnerError(BAD_RESPONSE, "no code")
        return code

    def exchange(self, partner: PartnerConfig, trip: Trip, code: str, redirect_uri: str,
                 now: int) -> dict[str, Any]:
        """The code for tokens (client_secret_basic), then the ID token's claims."""
        endpoint = self.metadata(partner.issuer).get("token_endpoint")
        if not isinstance(endpoint, str):
            raise PartnerError(BAD_RESPONSE, "no token endpoint")
        basic = base64.b64encode(
            f"{urllib.parse.quote(partner.client_id, safe='')}:"
            f"{urllib.parse.quote(partner.client_secret, safe='')}".encode()).decode("ascii")
        body = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": redirect_uri,
                                       "code_verifier": trip.verifier}).encode("ascii")
        tokens = _fetch_json(endpoint, body, {"Authorization": f"Basic {basic}",
                                              "Content-Type": "application/x-www-form-urlencoded"})
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise PartnerError(BAD_TOKEN, "no ID token")
        return self.validate_id_token(partner, id_token, trip.nonce, now)

    def _key_set(self, issuer: str, kid: str | None) -> KeySet:
        keys = self._keys.get(issuer)
        if keys is None or (kid is not None and all(k.kid != kid for k in keys.keys)):
            uri = self.metadata(issuer).get("jwks_uri")
            if not isinstance(uri, str):
                raise PartnerError(BAD_RESPONSE, "no jwks_uri")
            try:
                keys = KeySet.import_key_set(_fetch_json(uri))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as error:
                raise PartnerError(BAD_RESPONSE, "unreadable key set") from error
            self._keys[issuer] = keys
        return keys

    def _verified_claims(self, partner: PartnerConfig, token: str) -> dict[str, Any]:
        try:
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            kid = header.get("kid") if isinstance(header, dict) else None
        except (ValueError, IndexError) as error:
            raise PartnerError(BAD_TOKEN, "unreadable token") from error
        keys = self._key_set(partner.issuer, kid if isinstance(kid, str) else None)
        try:
            return dict(jwt.decode(token, keys, algorithms=ALGORITHMS).claims)
        except (JoseError, ValueError) as error:
            raise PartnerError(BAD_TOKEN, "bad signature") from error

    def validate_logout_token(self, partner: PartnerConfig, token: str, now: int) -> str:
        """OIDC Back-Channel Logout §2.6: signature, iss, aud, iat, the logout event, a
        ``sub``, and no ``nonce``. Returns the partner's ``sub`` whose sessions end."""
        claims = self._verified_claims(partner, token)
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        events = claims.get("events")
        checks = {
            "iss": claims.get("iss") == partner.issuer,
            "aud": isinstance(audiences, list) and partner.client_id in audiences,
            "iat": isinstance(claims.get("iat"), int) and abs(claims["iat"] - now) <= 300,
            "exp": not isinstance(claims.get("exp"), int) or claims["exp"] + LEEWAY_SECONDS > now,
            "events": isinstance(events, dict) and LOGOUT_EVENT in events,
            "nonce": "nonce" not in claims,
            "sub": isinstance(claims.get("sub"), str) and bool(claims["sub"]),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise PartnerError(BAD_TOKEN, f"logout token {failed[0]} check failed")
        return str(claims["sub"])

    def validate_id_token(self, partner: PartnerConfig, id_token: str, nonce: str,
                          now: int) -> dict[str, Any]:
        """OIDC Core §3.1.3.7: signature, iss, aud, azp, exp, iat (small leeway), nonce."""
        claims = self._verified_claims(partner, id_token)
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        checks = {
            "iss": claims.get("iss") == partner.issuer,
            "aud": isinstance(audiences, list) and partner.client_id in audiences,
            "azp": (claims.get("azp", partner.client_id) == partner.client_id
                    and (len(audiences or []) <= 1 or "azp" in claims)),
            "exp": isinstance(claims.get("exp"), int) and claims["exp"] + LEEWAY_SECONDS > now,
            "iat": isinstance(claims.get("iat"), int) and claims["iat"] - LEEWAY_SECONDS <= now,
            "nonce": hmac.compare_digest(str(claims.get("nonce", "")), nonce),
            "sub": isinstance(claims.get("sub"), str) and 0 < len(claims["sub"]) <= 255,
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise PartnerError(BAD_TOKEN, f"ID token {failed[0]} check failed")
        return claims
