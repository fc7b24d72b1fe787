"""The upstream side of a trip to a partner: discovery and keys (cached for a set
lifetime, the keys refreshed on an unknown ``kid`` at most once per floor), the
authorization request (code flow, PKCE S256, ``state`` and ``nonce``), the response
checks (``state``, RFC 9207 ``iss``), the code exchange, and the validation of the ID
token and of back-channel logout tokens. No Flask: plain values in and out."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import secrets
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.clock import Clock
from idp.keys import same_text
from idp.oidc.clients import ClientRefused, verify_uri
from idp.settings import PartnerSettings

ALGORITHMS = ["RS256", "ES256", "PS256"]
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_JTI_LENGTH = 255

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
class LogoutToken:
    """What a valid logout token says: whose sessions end (the partner's ``sub``), its
    ``jti``, and until when (Unix time) it must be remembered to refuse a replay."""

    subject: str
    jti: str
    keep_until: int


@dataclass(frozen=True)
class PartnerConfig:
    id: int
    issuer: str
    client_id: str
    client_secret: str
    scope: str
    acr: str | None


def vouched_acr(partner: PartnerConfig, claims: dict[str, Any]) -> str | None:
    """D14: the partner's own ``acr``, when it is one of the values the administrator
    registered the partner as vouching for (``clef partners add --acr``); None for no
    acr or any other value (a partner cannot claim what it was not trusted to say)."""
    said = claims.get("acr")
    allowed = (partner.acr or "").split()
    return said if isinstance(said, str) and said in allowed else None


def new_trip(partner_id: int) -> Trip:
    return Trip(partner_id, secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                secrets.token_urlsafe(48))


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _fetch_json(url: str, timeout: int, data: bytes | None = None,
                headers: dict[str, str] | None = None) -> dict[str, Any]:
    try:  # what the issuer may be (partners.cli): https, plain http on loopback only
        verify_uri(url, "a partner's endpoint")
    except ClientRefused as error:
        raise PartnerError(BAD_RESPONSE, "not an https URL") from error
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read(1_000_000)
    except urllib.error.HTTPError as error:
        raise PartnerError(REFUSED, f"HTTP {error.code} from {urllib.parse.urlsplit(url).path}") from error
    except (urllib.error.URLError, OSError, TimeoutError) as error:
        raise PartnerError(UNREACHABLE, "the partner did not answer") from error
    except (http.client.HTTPException, ValueError) as error:  # a malformed status or headers
        raise PartnerError(BAD_RESPONSE, "not an HTTP answer") from error
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise PartnerError(BAD_RESPONSE, "not JSON") from error
    if not isinstance(parsed, dict):
        raise PartnerError(BAD_RESPONSE, "not a JSON object")
    return parsed


@dataclass(frozen=True)
class _Cached:
    value: Any
    fetched_at: datetime


class Upstream:
    """Talks to partners. A discovery document is kept per issuer for
    ``discovery_lifetime_seconds``, then fetched again (a partner may move its
    endpoints or its ``jwks_uri``). A key set is kept until a token names a ``kid`` it
    lacks (the partner rotated its keys); it is then fetched again, but at most once per
    ``jwks_refetch_floor_seconds`` per issuer, so tokens with made-up ``kid`` values
    cannot turn every request into a fetch from the partner."""

    def __init__(self, settings: PartnerSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._metadata: dict[str, _Cached] = {}
        self._keys: dict[str, _Cached] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def _lock_for(self, issuer: str) -> threading.Lock:
        """One lock per partner: a slow or unreachable partner holds up only the
        requests that need its own keys, never another partner's."""
        with self._locks_lock:
            return self._locks.setdefault(issuer, threading.Lock())

    def _fetch(self, url: str, data: bytes | None = None,
               headers: dict[str, str] | None = None) -> dict[str, Any]:
        return _fetch_json(url, self.settings.timeout_seconds, data, headers)

    def metadata(self, issuer: str) -> dict[str, Any]:
        now = self.clock.now()
        found = self._metadata.get(issuer)
        lifetime = timedelta(seconds=self.settings.discovery_lifetime_seconds)
        if found is None or now - found.fetched_at >= lifetime:
            document = self._fetch(issuer.rstrip("/") + "/.well-known/openid-configuration")
            if document.get("issuer") != issuer:
                raise PartnerError(BAD_RESPONSE, "the discovery document names another issuer")
            found = _Cached(document, now)
            self._metadata[issuer] = found
        return dict(found.value)

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
        if not same_text(args.get("state", ""), trip.state):
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
        tokens = self._fetch(endpoint, body, {"Authorization": f"Basic {basic}",
                                              "Content-Type": "application/x-www-form-urlencoded"})
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise PartnerError(BAD_TOKEN, "no ID token")
        return self.validate_id_token(partner, id_token, trip.nonce, now)

    def _key_set(self, issuer: str, kid: str | None) -> KeySet:
        now = self.clock.now()
        floor = timedelta(seconds=self.settings.jwks_refetch_floor_seconds)
        with self._lock_for(issuer):  # one fetch per floor, even for concurrent requests
            cached = self._keys.get(issuer)
            if cached is not None:
                keys: KeySet = cached.value
                if kid is None or any(k.kid == kid for k in keys.keys):
                    return keys
                if now - cached.fetched_at < floor:
                    return keys  # an unknown kid again so soon: the signature check fails
                # The floor runs from this attempt, whether or not the partner answers.
                self._keys[issuer] = _Cached(keys, now)
            uri = self.metadata(issuer).get("jwks_uri")
            if not isinstance(uri, str):
                raise PartnerError(BAD_RESPONSE, "no jwks_uri")
            try:
                keys = KeySet.import_key_set(self._fetch(uri))  # type: ignore[arg-type]
            except (JoseError, ValueError, TypeError, KeyError) as error:
                raise PartnerError(BAD_RESPONSE, "unreadable key set") from error
            self._keys[issuer] = _Cached(keys, now)
            return keys

    def _verified_claims(self, partner: PartnerConfig, token: str) -> dict[str, Any]:
        try:
            header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            kid = header.get("kid") if isinstance(header, dict) else None
        except (ValueError, IndexError, RecursionError) as error:
            raise PartnerError(BAD_TOKEN, "unreadable token") from error
        keys = self._key_set(partner.issuer, kid if isinstance(kid, str) else None)
        try:
            return dict(jwt.decode(token, keys, algorithms=ALGORITHMS).claims)
        except (JoseError, ValueError, RecursionError) as error:
            raise PartnerError(BAD_TOKEN, "bad signature") from error

    def validate_logout_token(self, partner: PartnerConfig, token: str, now: int) -> LogoutToken:
        """OIDC Back-Channel Logout §2.6: signature, iss, aud, iat, the logout event, a
        ``sub``, a ``jti`` (§2.4 requires it: without one a replay cannot be told), and
        no ``nonce``. Returns whose sessions end and what the replay memory keeps."""
        claims = self._verified_claims(partner, token)
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        events = claims.get("events")
        leeway, window = self.settings.leeway_seconds, self.settings.logout_iat_window_seconds
        exp, iat, jti = claims.get("exp"), claims.get("iat"), claims.get("jti")
        checks = {
            "iss": claims.get("iss") == partner.issuer,
            "aud": isinstance(audiences, list) and partner.client_id in audiences,
            "iat": isinstance(iat, int) and abs(iat - now) <= window,
            "exp": not isinstance(exp, int) or exp + leeway > now,
            "jti": isinstance(jti, str) and 0 < len(jti) <= MAX_JTI_LENGTH,
            "events": isinstance(events, dict) and LOGOUT_EVENT in events,
            "nonce": "nonce" not in claims,
            "sub": isinstance(claims.get("sub"), str) and bool(claims["sub"]),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise PartnerError(BAD_TOKEN, f"logout token {failed[0]} check failed")
        # Past this the token fails its own checks: iat beyond the window, or exp.
        last = int(iat) + window  # type: ignore[arg-type]
        if isinstance(exp, int):
            last = min(last, exp + leeway)
        return LogoutToken(str(claims["sub"]), str(jti), last + 1)

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
            "exp": isinstance(claims.get("exp"), int) and claims["exp"] + self.settings.leeway_seconds > now,
            "iat": isinstance(claims.get("iat"), int) and claims["iat"] - self.settings.leeway_seconds <= now,
            "nonce": same_text(str(claims.get("nonce", "")), nonce),
            "sub": isinstance(claims.get("sub"), str) and 0 < len(claims["sub"]) <= 255,
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise PartnerError(BAD_TOKEN, f"ID token {failed[0]} check failed")
        return claims
