"""The common code exchange answered in front of Flask (issue 11).

The last request of every sign-in: a portal's server exchanges its code for tokens.
Through Flask it paid for the request context, the app's hooks, Authlib's request
wrapper and its AuthorizationCodeGrant, CodeChallenge and OpenIDCode machinery (about
three quarters of its function calls). The token layer (idp.oidc.token_endpoint)
answers the exact common case with this answerer, which takes the token view's decisions
with its services (idp.oidc.server: ``CodeGrant``, ``S256CodeChallenge``,
``ClefOpenIDCode``):

- ``grant_type=authorization_code`` with ``code``, ``redirect_uri`` and ``code_verifier``,
  each once, and the client's credentials (idp.oidc.token_request: the same shape rules,
  client copy and limit count as the refresh; the ``redirect_uri`` may be
  percent-encoded, as every client sends it, and must decode to printable ASCII);
- the signing key this worker already has open for the client's algorithm
  (``SigningKeys.held``, looked up before the claim as ``_signing_key`` is);
- the claim of idp.oidc.tokens (S32, D10: single use, this client and its copy's
  revision, not expired, a live account and sign-in session: ``Tokens.claim_code_on``),
  then, in the claim's transaction, Authlib's checks: the ``redirect_uri`` equal to the
  code's (RFC 6749 §4.1.3), PKCE with S256 (RFC 7636 §4.6, S34: ``code_verifier`` of
  43-128 unreserved characters whose S256 is the code's challenge), the ``openid``
  scope; then the tokens (``Tokens.generate``, ``Tokens.save_on``: a new family) and
  the ID token (S36: the client's algorithm, the current ``kid``; ``iss``, ``aud``,
  ``iat``/``exp`` from the app's clock, ``auth_time``, ``nonce``, ``acr``, ``amr``, the
  portal's ``sid``, the partner's acr (D14), ``at_hash``, the pairwise ``sub`` (S45)),
  in Authlib's order, signed by joserfc as Authlib signs it; one commit (SQLite);
- on PostgreSQL the claim, those checks (in its SQL) and the tokens' INSERT as one
  statement in autocommit (``Tokens.exchange_code_on``: one round trip instead of
  four), then the ID token: see :meth:`Exchanger._in_one_statement` for why signing
  after the code is used is safe.

Anything else goes to Flask unchanged, with nothing written (on PostgreSQL a failed
check fails the one statement; on SQLite whatever fails after the claim rolls it back),
so the view claims again and answers as before: a code without a challenge (a legacy
portal opted out of PKCE), a plain challenge, a wrong or missing verifier, a wrong
redirect URI (the view then keeps the code used, S32), a failed claim
(a reuse revokes what the first use issued, audited; a stale client copy is a 401), a
key not open yet or none yet (the view makes and opens it), a public client, a client
without a copy here, a secret mismatch, any other or repeated parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt

from idp.keys import KeyRing
from idp.oidc.acr import PARTNER_ACR
from idp.oidc.keys import ActiveKey
from idp.oidc.models import OAuthClient
from idp.oidc.runtime import OidcServices
from idp.oidc.subjects import session_id_for, subject_for
from idp.oidc.token_request import Ask, TokenAnswerer, parse
from idp.oidc.tokens import TableRow
from idp.runtime import Services

GRANT = "authorization_code"
MARKER = b"grant_type=authorization_code"
OPENID = "openid"
_FIELDS = frozenset({"grant_type", "code", "redirect_uri", "code_verifier"})
_ESCAPED = frozenset({"redirect_uri"})


def verifier_matches(row: TableRow, verifier: str) -> bool:
    """S34, RFC 7636 §4.6 as ``S256CodeChallenge`` checks it: the code had an S256
    challenge and the verifier is one Authlib accepts whose S256 is that challenge. A
    code without a challenge, or with a plain one, is the view's."""
    challenge = row.code_challenge
    return bool(challenge and row.code_challenge_method == "S256"
                and CODE_VERIFIER_PATTERN.match(verifier)
                and create_s256_code_challenge(verifier) == challenge)


def id_token_claims(issuer: str, keys: KeyRing, client: OAuthClient, row: TableRow, now: int,
                    lifetime: int, at_hash: str | None) -> dict[str, Any]:
    """The ID token's claims in the order Authlib's ``OpenIDCode.encode_id_token`` makes
    them from ``ClefOpenIDCode``'s hooks: ``get_client_claims`` (iss, aud, iat, exp), its
    default ``auth_time``, ``get_authorization_code_claims`` (nonce, auth_time, acr, amr,
    sid, partner acr), ``at_hash``, ``generate_user_info`` (sub)."""
    claims: dict[str, Any] = {"iss": issuer, "aud": [client.client_id], "iat": now,
                              "exp": now + lifetime, "auth_time": now}
    if row.nonce:
        claims["nonce"] = row.nonce
    auth_time = int(row.auth_time.timestamp())
    if auth_time:
        claims["auth_time"] = auth_time
    if row.acr:
        claims["acr"] = row.acr
    amr = row.amr.split()
    if amr:
        claims["amr"] = amr
    claims["sid"] = session_id_for(keys, client, row.sid)
    if row.partner_acr:
        claims[PARTNER_ACR] = row.partner_acr
    if at_hash is not None:
        claims["at_hash"] = at_hash
    claims["sub"] = subject_for(keys, client, row.account_id)
    return claims


class Exchanger(TokenAnswerer):
    """The decisions and the writes of a code exchange, with the token view's services."""

    grant = GRANT
    marker = MARKER

    def __init__(self, core: Services, provider: OidcServices, config: dict[str, Any]) -> None:
        super().__init__(core, provider, config)
        self.issuer = provider.issuer
        self.signing_keys = provider.signing_keys
        self.lifetime = core.settings.oidc.id_token_lifetime_seconds
        self.one_statement = core.engine.dialect.name == "postgresql"

    def parse(self, environ: dict[str, Any], body: bytes) -> Ask | None:
        return parse(environ, body, GRANT, _FIELDS, _ESCAPED)

    def answer(self, client: OAuthClient, ask: Ask) -> dict[str, Any] | None:
        fields = ask.fields
        return self.exchange(client, fields["code"], fields["redirect_uri"],
                             fields["code_verifier"])

    def exchange(self, client: OAuthClient, code: str, redirect_uri: str,
                 verifier: str) -> dict[str, Any] | None:
        """The tokens for ``code``, stored and committed, as the token view issues them;
        None with nothing written for anything else. SQLite: the claim, the checks, the
        INSERT and the ID token in one transaction, committed last."""
        now: datetime = self.core.clock.now()
        if self.one_statement:
            return self._in_one_statement(client, code, redirect_uri, verifier, now)
        with self.core.engine.connect() as conn:
            key = self.signing_keys.held(conn, client.id_token_alg, now)
            if key is None:
                conn.rollback()
                return None
            row = self.tokens.claim_code_on(conn, code, client, now, now - self.core.sessions.idle)
            if row is None or row.redirect_uri != redirect_uri or row.scope != OPENID \
                    or not verifier_matches(row, verifier):
                conn.rollback()  # the view claims again, and keeps or looks why
                return None
            token = self.tokens.generate(include_refresh_token=True)
            token["scope"] = row.scope
            self.tokens.save_on(conn, now, token, client_id=client.client_id,
                                account_id=row.account_id, scope=row.scope, code=row)
            token["id_token"] = self._id_token(key, client, row, now, token["access_token"])
            conn.commit()
        return token

    def _in_one_statement(self, client: OAuthClient, code: str, redirect_uri: str,
                          verifier: str, now: datetime) -> dict[str, Any] | None:
        """PostgreSQL: the claim, the request's checks and the tokens' INSERT as one
        statement in autocommit (``Tokens.exchange_code_on``), then the ID token.

        The ID token's claims come from the code's row, which only the statement reads
        (a read before it would be another round trip), so the code is used and the
        tokens committed before the ID token is signed. What the signature needs is
        therefore made sure of first: the key open in this worker for the client's
        algorithm (as on SQLite), the verifier's shape (its S256 is what the statement
        compares). A signature that still fails after the statement (a bug: nothing in
        it depends on the request's input) must leave nothing usable: the tokens stored
        are revoked at once, on the same connection, and the error goes to the token
        layer, which logs it and hands the request to the view. The view finds the code
        used and answers as for any used code, ``invalid_grant`` in JSON, never a 500;
        its S32 path revokes what the code issued again (so the tokens die even when the
        revocation here failed) and audits the code as reused, which it is to the
        database: used, then presented again. The tokens' values were never sent
        anywhere (only their hashes are stored), and the person signs in again, as after
        any lost code. The same holds when the connection fails after the statement
        committed: the view's S32 path takes the tokens back."""
        if not CODE_VERIFIER_PATTERN.match(verifier):
            return None  # the view refuses it (and uses the code up, S32)
        with self.core.engine.connect() as conn:  # its statements run alone (autocommit)
            key = self.signing_keys.held(conn, client.id_token_alg, now)
            if key is None:
                return None
            token = self.tokens.generate(include_refresh_token=True)
            token["scope"] = OPENID
            row = self.tokens.exchange_code_on(
                conn, code, client, now, now - self.core.sessions.idle, redirect_uri,
                create_s256_code_challenge(verifier), token)
            if row is None:
                return None  # nothing written: the view claims again, and looks why
            try:
                token["id_token"] = self._id_token(key, client, row, now, token["access_token"])
            except Exception:
                self.tokens.revoke_from_code_on(conn, row.code_hash, now)
                raise
        return token

    def _id_token(self, key: ActiveKey, client: OAuthClient, row: TableRow, now: datetime,
                  access_token: str) -> str:
        """S36: signed with the client's algorithm and the current ``kid``, as Authlib
        encodes it (``OpenIDToken.encode_id_token``, ``ClefOpenIDCode``'s header)."""
        alg = client.id_token_alg
        half = create_half_hash(access_token, alg)
        claims = id_token_claims(self.issuer, self.core.keys, client, row,
                                 int(now.timestamp()), self.lifetime,
                                 half.decode("utf-8") if half is not None else None)
        header = {"alg": key.alg, "kid": key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key.key, [alg])
