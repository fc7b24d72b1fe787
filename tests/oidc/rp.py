"""A relying party as a portal's server would be: builds authorization requests with
PKCE, state and nonce; follows redirects as the browser; exchanges the code over HTTP;
validates the ID token with joserfc against the published JWKS, as a certified RP
library does. The provider is reached only through its HTTP endpoints."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import KeySet
from werkzeug.test import TestResponse

from tests.helpers import run_cli

ISSUER = "http://127.0.0.1:5000"


def register_client(app: Flask, *args: str) -> tuple[str, str | None]:
    """``clef clients add ...`` as an administrator runs it; returns (id, secret)."""
    result = run_cli(app, "clients", "add", *args)
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if line.startswith("client_"))
    return lines["client_id"].strip(), lines.get("client_secret", "").strip() or None


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Request:
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    nonce: str | None = field(default_factory=lambda: secrets.token_urlsafe(16))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))


@dataclass
class RelyingParty:
    app: Flask
    client_id: str
    secret: str | None
    redirect_uri: str = "https://portal.example/callback"

    def authorize_url(self, req: Request, **extra: str | None) -> str:
        params: dict[str, str] = {"response_type": "code", "client_id": self.client_id,
                                  "redirect_uri": self.redirect_uri, "scope": "openid",
                                  "state": req.state, "code_challenge": s256(req.verifier),
                                  "code_challenge_method": "S256"}
        if req.nonce:
            params["nonce"] = req.nonce
        for key, value in extra.items():
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        return "/authorize?" + urlencode(params)

    @staticmethod
    def callback(response: TestResponse) -> dict[str, str]:
        """The parameters of a redirect to the portal."""
        assert response.status_code == 302, (response.status_code, response.headers.get("Location"))
        location = response.headers["Location"]
        parts = urlsplit(location)
        return {k: v[0] for k, v in parse_qs(parts.query).items()}

    def token(self, client: FlaskClient, data: dict[str, str], auth: str = "basic") -> TestResponse:
        data = dict(data)
        headers = {}
        if self.secret is None:
            data["client_id"] = self.client_id
        elif auth == "basic":
            raw = f"{self.client_id}:{self.secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(raw).decode("ascii")
        else:
            data.update(client_id=self.client_id, client_secret=self.secret)
        return client.post("/token", data=data, headers=headers)

    def exchange(self, client: FlaskClient, code: str, req: Request, **extra: str) -> TestResponse:
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri, "code_verifier": req.verifier, **extra}
        return self.token(client, data)

    def jwks(self, client: FlaskClient) -> KeySet:
        discovery = client.get("/.well-known/openid-configuration").get_json()
        path = urlsplit(discovery["jwks_uri"]).path
        return KeySet.import_key_set(client.get(path).get_json())

    def validate_id_token(self, client: FlaskClient, id_token: str, req: Request,
                          now: int) -> dict[str, Any]:
        """OIDC Core §3.1.3.7, as an RP library checks it."""
        header = jwt.decode(id_token, self.jwks(client), algorithms=["RS256", "ES256"])
        claims = dict(header.claims)
        assert header.header["kid"], "every ID token names its key (S36)"
        assert claims["iss"] == ISSUER
        assert claims["aud"] == self.client_id or self.client_id in claims["aud"]
        assert claims["iat"] <= now < claims["exp"]
        if req.nonce:
            assert claims["nonce"] == req.nonce
        else:
            assert "nonce" not in claims
        return claims
