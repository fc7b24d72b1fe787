"""Authlib's view of the provider's tables: its client, code and token mixins wrapped
around rows of ``idp.oidc.models``, which stay plain tables (issue 10).

``SignedIn`` is the ``grant_user`` the authorize view hands to Authlib. The wrappers
are made by the server's hooks (``idp.oidc.server``), which hand them
what a table cannot know: how a client secret is checked (a keyed hash, constant
time) and the app's clock. Each keeps its row as ``row`` for Clef's own code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oidc.core import AuthorizationCodeMixin

from idp.models import Account
from idp.oidc.models import AuthorizationCode, OAuthClient, OAuthToken
from idp.oidc.tokens import SignInFacts, TableRow

SecretCheck = Callable[[OAuthClient, str], bool]
Now = Callable[[], datetime]


@dataclass(frozen=True)
class SignedIn:
    """The person who grants an authorization, as Authlib's ``grant_user``: the account
    and how and when they signed in, which the code carries to every token (D2)."""

    account: Account
    facts: SignInFacts

    @property
    def id(self) -> int:
        return self.account.id


class Portal(ClientMixin):
    """A portal (``OAuthClient``) as Authlib's ``ClientMixin``."""

    def __init__(self, row: OAuthClient, secret_matches: SecretCheck) -> None:
        self.row = row
        self._secret_matches = secret_matches

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def client_metadata(self) -> dict[str, Any]:
        """What Authlib's RP-initiated logout endpoint reads."""
        return {"post_logout_redirect_uris": list(self.row.post_logout_redirect_uris)}

    @property
    def id_token_signed_response_alg(self) -> str:
        return self.row.id_token_alg

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str | None:
        # S31, S33: every authorization request names its redirect_uri, so the code
        # exchange always compares it (OIDC Core §3.1.2.1 makes it REQUIRED).
        return None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = {"openid"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """S31: exact string match against a registered value."""
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        """A keyed hash compared in constant time (``idp.oidc.clients``)."""
        return self._secret_matches(self.row, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.row.public:
            return method == "none" and endpoint == "token"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"  # S30

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class IssuedCode(AuthorizationCodeMixin):
    """An authorization code row as Authlib's (OpenID Connect) code mixin."""

    def __init__(self, row: AuthorizationCode | TableRow) -> None:
        self.row = row  # the claim's Core row (idp.oidc.tokens.CODE_COLUMNS)

    @property
    def code_challenge(self) -> str | None:
        return self.row.code_challenge

    @property
    def code_challenge_method(self) -> str | None:
        return self.row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return int(self.row.auth_time.timestamp())

    def get_acr(self) -> str:
        return self.row.acr

    def get_amr(self) -> list[str]:
        return self.row.amr.split()


class IssuedToken(TokenMixin):
    """A token row as Authlib's ``TokenMixin``; times from the app's clock."""

    def __init__(self, row: OAuthToken | TableRow, now: Now) -> None:
        self.row = row  # an ORM row, or a Core row of the hot paths (idp.oidc.tokens)
        self._now = now

    def check_client(self, client: ClientMixin) -> bool:
        return self.row.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((self.row.access_expires_at - self.row.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self._now() >= self.row.access_expires_at

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None

    def get_user(self) -> int:
        return self.row.account_id
