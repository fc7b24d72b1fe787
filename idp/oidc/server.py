"""Authlib's authorization server, configured for Clef: the hooks, not the protocol.

- Authorization code grant only (S30), codes hashed, single use with reuse revoking
  what they issued (S32), PKCE with S256 only and required for public clients (S34).
- OpenID Connect ID tokens signed with the client's algorithm and the current ``kid``
  (S36), ``iat``/``exp`` from the app's clock, pairwise ``sub`` (S45), ``acr``/``amr``/
  ``auth_time`` from the sign-in (D2).
- Refresh tokens rotated with reuse detection (S40); RFC 7009 revocation and RFC 7662
  introspection for confidential clients; ``iss`` on every authorization response
  (RFC 9207, S38); RP-initiated logout (S44).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AccessDeniedError,
    InvalidClientError,
    InvalidRequestError,
    OAuth2Request,
)
from authlib.oauth2.rfc6749.authenticate_client import authenticate_client_secret_basic
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from flask import Flask, g, request
from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.oidc import authorize_writes, token_limit
from idp.oidc.acr import PARTNER_ACR
from idp.oidc.authlib_models import IssuedCode, IssuedToken, Portal, SignedIn
from idp.oidc.authorize_reads import AuthorizeRead
from idp.oidc.authorize_reads import read as read_for_authorize
from idp.oidc.keys import ActiveKey
from idp.oidc.liveness import has_live_session
from idp.oidc.models import AuthorizationCode, OAuthClient, OAuthToken
from idp.oidc.response_location import with_params
from idp.oidc.runtime import oidc
from idp.oidc.subjects import session_id_for, subject_for
from idp.oidc.tokens import token_hash
from idp.oidc.userinfo_endpoint import read_bearer
from idp.runtime import db, opened_db, services

SERVER_KEY = "clef.oidc.server"
PROTECTOR_KEY = "clef.oidc.protector"
CONFIDENTIAL = ("client_secret_basic", "client_secret_post")
LOGOUT_ENDER = "oidc_end_session"
# A refresh's successor, already stored with its claim (``RotatingRefreshGrant``).
STORED_TOKEN = "clef_stored_token"  # noqa: S105 - a key of ``g``, not a secret


AUTHORIZE_ENDPOINT = "oidc.authorize"
AUTHORIZE_READ = "clef_authorize_read"  # a key of ``g``: this request's AuthorizeRead
AUTHORIZING_ACCOUNT = "clef_authorizing_account"  # a key of ``g``: the signed-in account's id
# A key of ``g``: the rows the authorize view writes with the code (``WithCode``).
WRITES_WITH_CODE = "clef_writes_with_code"
# A key of ``g``: the Location a code was sent with, ``iss`` already in it (``Issuer``).
ISSUED_LOCATION = "clef_issued_location"


def authorize_read(client_id: str) -> AuthorizeRead:
    """The /authorize request's one reading of its portal, the nonce's use and the
    signed-in person's consent (``idp.oidc.authorize_reads``), made once per request.
    The nonce is read for a GET only (``ClefOpenIDCode.exists_nonce``); the account is
    the one the view put in ``g`` (:data:`AUTHORIZING_ACCOUNT`) before Authlib asked
    for the client. ``g`` and the request are each looked up once through their
    proxies (issue 11)."""
    store = g._get_current_object()
    found: AuthorizeRead | None = store.get(AUTHORIZE_READ)
    account_id = store.get(AUTHORIZING_ACCOUNT)
    if found is None or found.client_id != client_id or found.account_id != account_id:
        current = request._get_current_object()  # type: ignore[attr-defined]
        nonce = current.args.get("nonce") if current.method == "GET" else None
        found = read_for_authorize(db(), client_id, nonce, account_id)
        setattr(store, AUTHORIZE_READ, found)
    return found


def _now() -> datetime:
    return services().clock.now()


def _session_is_live(sid: str, account_id: int, now: datetime) -> bool:
    return has_live_session(db(), services().sessions, sid, account_id, now)


def _seen_after(now: datetime) -> datetime:
    """The last activity a sign-in session needs at ``now`` to be live (D5, D10)."""
    return now - services().sessions.idle


@dataclass(frozen=True)
class TokenHolder:
    """Who a token is issued to, as much as ``save_token`` and the ID token's ``sub``
    read: the claim already checked the account (no account row is loaded)."""

    id: int


class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = (*CONFIDENTIAL, "none")
    claimed = False

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)  # S32: 256 bits

    def save_authorization_code(self, code: str, request: Any) -> None:
        signed_in: SignedIn = request.user  # the authorize view's grant_user
        facts = signed_in.facts
        payload = request.payload
        now = _now()
        lifetime = services().settings.oidc.code_lifetime_seconds
        nonce = payload.data.get("nonce")
        code_row = {
            "code_hash": token_hash(code), "client_id": request.client.get_client_id(),
            "account_id": request.user.id, "redirect_uri": payload.redirect_uri or "",
            "scope": request.client.get_allowed_scope(payload.scope or ""),
            "nonce": nonce, "nonce_hash": token_hash(nonce) if nonce else None,
            "code_challenge": payload.data.get("code_challenge"),
            "code_challenge_method": payload.data.get("code_challenge_method"),
            "auth_time": facts.auth_time, "amr": facts.amr, "acr": facts.acr,
            "sid": facts.sid, "partner_acr": facts.partner_acr, "created_at": now,
            "expires_at": now + timedelta(seconds=lifetime), "used_at": None,
            "reused_at": None}
        try:
            # Core on the session's connection (nothing reads the row back in this
            # request), with the consent, portal session and audit rows the view
            # decided on: one statement on PostgreSQL (idp.oidc.authorize_writes).
            authorize_writes.write(db(), code_row, g.pop(WRITES_WITH_CODE, None))
            db().commit()
        except IntegrityError:
            # S35: another answer to this very request wrote its code first (the replay
            # check read before either was written; the unique index decides). Nothing
            # of this answer is kept: no code, no consent, no portal session, no audit row.
            db().rollback()
            if not nonce:
                raise
            raise InvalidRequestError("nonce already used",
                                      redirect_uri=payload.redirect_uri) from None

    def create_authorization_response(self, redirect_uri: str,
                                      grant_user: Any) -> tuple[int, str, list[tuple[str, str]]]:
        """RFC 6749 §4.1.2, as Authlib's own, with RFC 9207's ``iss`` (S38) put in the
        same pass (``idp.oidc.response_location``) instead of Authlib's extension parsing the
        Location again; the extension is told so (:data:`ISSUED_LOCATION`, ``Issuer``).
        Refused (``grant_user`` None): ``access_denied``, to which the extension still
        adds ``iss``."""
        if not grant_user:
            raise AccessDeniedError(redirect_uri=redirect_uri)
        self.request.user = grant_user
        code = self.generate_authorization_code()
        self.save_authorization_code(code, self.request)
        params = [("code", code)]
        state = self.request.payload.state
        if state:
            params.append(("state", state))
        params.append(("iss", oidc().issuer))
        location = with_params(redirect_uri, params)
        setattr(g, ISSUED_LOCATION, location)
        return 302, "", [("Location", location)]

    def validate_token_request(self) -> None:
        """Authlib's checks; a code claimed before a later one failed (redirect_uri,
        PKCE) stays used (S32: a code is presented once)."""
        try:
            super().validate_token_request()
        except OAuth2Error:
            if self.claimed:
                db().commit()
            raise

    def query_authorization_code(self, code: str, client: Portal) -> IssuedCode | None:
        """S32, D10: a code is used up by one conditional ``UPDATE ... RETURNING`` that
        also checks its client, expiry, account and session; the tokens are stored in
        the same transaction (``save_token``), so a second use, waiting on the claim,
        then finds them to take back. Only a failed claim looks again, to tell a reuse
        (audited, what the first use issued revoked) from a dead or unknown code."""
        now = _now()
        _signing_key(client, now)  # made (and committed) before the claim, if ever
        tokens = oidc().tokens
        row = tokens.claim_code(db(), code, client.row, now, _seen_after(now))
        if row is not None:
            self.claimed = True
            return IssuedCode(row)
        _refuse_stale_client(client)
        found = tokens.find_code(db(), code)
        if found is None or found.client_id != client.client_id or found.used_at is None:
            return None  # unknown, another client's, expired, or its session or account gone
        revoked = tokens.mark_code_reused(db(), found.code_hash, now)
        audit.record(db(), now, audit.OIDC_CODE_REUSED, actor=client.client_id,
                     account_id=found.account_id, revoked=revoked)
        db().commit()
        return None

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        """Kept (used) so that a second use is recognised; purged later."""

    def authenticate_user(self, authorization_code: IssuedCode) -> TokenHolder:
        """The account, for the ID token's ``sub``: its id only, since the claim already
        found it not revoked (issue 11: no account row, no password hash)."""
        return TokenHolder(authorization_code.row.account_id)


def _refuse_stale_client(client: Portal) -> None:
    """A failed claim may be the client copy's fault (``Clients.cached``): its secret
    rotated, or the client removed, since this process read it. Then the request is
    answered ``invalid_client`` (401), and nothing is taken for a reuse (no family
    revoked, nothing audited) on the word of a stale copy."""
    if not oidc().clients.is_current(db(), client.row):
        raise InvalidClientError(status_code=401,
                                 description="the client changed; authenticate again")


def _signing_key(client: Portal, now: datetime) -> ActiveKey:
    """The key that signs this request's ID token, looked up once (header and
    signature agree). ``g`` looked up once through its proxy (issue 11)."""
    store = g._get_current_object()
    key: ActiveKey | None = store.get("oidc_signing_key")
    if key is None:
        key = store.oidc_signing_key = oidc().signing_keys.current(
            db(), client.row.id_token_alg, now)
    return key


class S256CodeChallenge(CodeChallenge):
    """S34, D8 (RFC 9700 §2.1.1, OAuth 2.1): PKCE with S256 only, required of every
    client unless an administrator opted a legacy confidential portal out; refused at
    the authorization endpoint already, before any page, not only at the token
    endpoint."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge, method = data.get("code_challenge"), data.get("code_challenge_method")
        client: OAuthClient = grant.request.client.row
        if not challenge and (client.public or client.pkce_required):
            raise InvalidRequestError("PKCE is required (code_challenge, S256).",
                                      redirect_uri=redirect_uri)
        if challenge and method != "S256":
            raise InvalidRequestError("code_challenge_method must be S256.",
                                      redirect_uri=redirect_uri)
        super().validate_code_challenge(grant, redirect_uri)


_CODES = cast(Table, AuthorizationCode.__table__)
_NONCE_USED = select(_CODES.c.code_hash).where(  # built once (issue 11)
    _CODES.c.client_id == bindparam("client"),
    _CODES.c.nonce_hash == bindparam("nonce_hash")).limit(1)


class ClefOpenIDCode(OpenIDCode):
    def exists_nonce(self, nonce: str, request: Any) -> bool:
        """A nonce is never accepted twice from one client (replayed requests): looked
        up by its hash, which is indexed with the client (issue 11).

        Not looked up for a POST (the consent page's answer): that request writes its
        code, and the unique index on the client and the nonce's hash (S35, migration
        0015) refuses a nonce seen before when the code is committed, which
        :meth:`CodeGrant.save_authorization_code` turns into ``invalid_request`` with
        nothing kept. The read would only say it earlier (issue 11). A GET still
        looks, so a replayed request never gets as far as a consent page."""
        if request.method == "POST":
            return False
        client_id = request.payload.client_id
        known: AuthorizeRead | None = g.get(AUTHORIZE_READ)
        if known is not None and known.answers_nonce(client_id, nonce):
            return known.nonce_used  # read with the client (``authorize_read``)
        found = db().connection().execute(_NONCE_USED, {
            "client": client_id, "nonce_hash": token_hash(nonce)}).first()
        return found is not None

    def resolve_client_private_key(self, client: Portal) -> Any:
        return _signing_key(client, _now()).key

    def get_encode_header(self, client: Portal) -> dict[str, str]:
        key = _signing_key(client, _now())
        return {"alg": key.alg, "kid": key.kid, "typ": "JWT"}

    def get_client_claims(self, client: Portal) -> dict[str, Any]:
        """iss, aud, iat and exp from the app's clock (not time.time()), S36, S42."""
        now = int(_now().timestamp())
        lifetime = services().settings.oidc.id_token_lifetime_seconds
        return {"iss": oidc().issuer, "aud": [client.client_id], "iat": now,
                "exp": now + lifetime}

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        g.oidc_client = request.client.row  # generate_user_info is told only the user
        encoded: str = super().encode_id_token(token, request)
        return encoded

    def get_authorization_code_claims(self, authorization_code: IssuedCode) -> dict[str, Any]:
        """nonce, auth_time, acr, amr (Authlib), the portal's own ``sid``, and the sign-in
        partner's own acr in its own claim (D14)."""
        claims: dict[str, Any] = super().get_authorization_code_claims(authorization_code)
        claims["sid"] = session_id_for(services().keys, g.oidc_client, authorization_code.row.sid)
        if authorization_code.row.partner_acr:
            claims[PARTNER_ACR] = authorization_code.row.partner_acr
        return claims

    def generate_user_info(self, user: TokenHolder, scope: str) -> dict[str, Any]:
        return {"sub": subject_for(services().keys, g.oidc_client, user.id)}


class RotatingRefreshGrant(RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = (*CONFIDENTIAL, "none")
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> IssuedToken | None:
        """S40, D10: used up by one conditional ``UPDATE ... RETURNING`` that also
        checks its client, limits, account and session (issue 11). Only a failed claim
        looks again: a used one presented again revokes its family (audited), one whose
        session is gone is revoked with its family; anything else changes nothing."""
        now = _now()
        tokens = oidc().tokens
        client: Portal = self.request.client
        client_id = client.client_id
        if self._rotates_in_one_statement():
            successor = tokens.generate(include_refresh_token=True)
            row = tokens.rotate_refresh(db(), refresh_token, client.row, now,
                                        _seen_after(now), successor)
            if row is not None:
                g.setdefault(STORED_TOKEN, successor)
                return IssuedToken(row, _now)
            db().rollback()  # out of autocommit: the failure path is one transaction
        else:
            row = tokens.claim_refresh(db(), refresh_token, client.row, now, _seen_after(now))
            if row is not None:
                return IssuedToken(row, _now)
        _refuse_stale_client(client)
        found = tokens.find_refresh(db(), refresh_token)
        if found is None or found.revoked_at is not None:
            return None
        if found.rotated_at is not None:
            revoked = tokens.revoke_family(db(), found.family, now)
            audit.record(db(), now, audit.OIDC_REFRESH_REUSED, actor=found.client_id,
                         account_id=found.account_id, revoked=revoked)
            db().commit()
        elif found.client_id == client_id and found.refresh_expires_at is not None \
                and now < found.refresh_expires_at \
                and not _session_is_live(found.sid, found.account_id, now):
            tokens.revoke_family(db(), found.family, now)  # D10: its session is gone
            db().commit()
        return None  # another client's, expired, or its account revoked: nothing changes

    def _rotates_in_one_statement(self) -> bool:
        """PostgreSQL, no ``scope`` parameter (so nothing Authlib checks after the claim
        can refuse the request) and no transaction open yet: claim and successor in one
        statement (``Tokens.rotate_refresh``), stored before Authlib asks for a token;
        ``generate`` then hands out that very token and ``save_token`` stores nothing."""
        session = db()
        bind = session.bind  # the app's engine (idp.db.make_session_factory)
        return bool(bind is not None and bind.dialect.name == "postgresql"
                    and not self.request.payload.scope and not session.in_transaction())

    def authenticate_user(self, refresh_token: IssuedToken) -> TokenHolder:
        """The account behind the token: the claim already found it not revoked; a
        refresh needs nothing else of it (no ID token, the claims come from userinfo)."""
        return TokenHolder(refresh_token.row.account_id)

    def revoke_old_credential(self, refresh_token: IssuedToken) -> None:
        """Already used up by authenticate_refresh_token, committed with its successor
        by ``save_token``."""


def _find_token(token_string: str, hint: str | None) -> OAuthToken | None:
    tokens = oidc().tokens
    order = [tokens.get_by_refresh, tokens.get_by_access] if hint == "refresh_token" \
        else [tokens.get_by_access, tokens.get_by_refresh]
    for find in order:
        row = find(db(), token_string)
        if row is not None:
            return row
    return None


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL

    def query_token(self, token_string: str, token_type_hint: str | None) -> IssuedToken | None:
        row = _find_token(token_string, token_type_hint)
        return IssuedToken(row, _now) if row is not None else None

    def revoke_token(self, token: IssuedToken, request: Any) -> None:
        """RFC 7009 §2.1: the whole grant goes, access and refresh tokens alike."""
        oidc().tokens.revoke_family(db(), token.row.family, _now())
        db().commit()


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = CONFIDENTIAL

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        row = _find_token(token_string, token_type_hint)
        if row is None:
            return None
        is_refresh = row.refresh_token_hash == token_hash(token_string)
        return IntrospectedToken(row, is_refresh)

    def check_permission(self, token: Any, client: Portal, request: Any) -> bool:
        return bool(token.row.client_id == client.get_client_id())

    def introspect_token(self, token: Any) -> dict[str, Any]:
        row: OAuthToken = token.row
        client = oidc().clients.get(db(), row.client_id)
        expires = row.refresh_expires_at if token.is_refresh else row.access_expires_at
        payload: dict[str, Any] = {
            "active": True, "client_id": row.client_id, "scope": row.scope,
            "token_type": "refresh_token" if token.is_refresh else "Bearer",
            "iat": int(row.issued_at.timestamp()), "iss": oidc().issuer,
            "exp": int(expires.timestamp()) if expires else None,
            "auth_time": int(row.auth_time.timestamp()), "acr": row.acr,
        }
        if client is not None:
            payload["sub"] = subject_for(services().keys, client, row.account_id)
        return payload


class IntrospectedToken:
    """A token row seen as what was presented: its access or its refresh half."""

    def __init__(self, row: OAuthToken, is_refresh: bool) -> None:
        self.row, self.is_refresh = row, is_refresh

    def check_client(self, client: Portal) -> bool:
        return bool(self.row.client_id == client.get_client_id())

    def is_expired(self) -> bool:
        tokens = oidc().tokens
        live = tokens.refresh_is_live if self.is_refresh else tokens.access_is_live
        now = _now()
        return not (live(self.row, now) and _session_is_live(self.row.sid, self.row.account_id, now))

    def is_revoked(self) -> bool:
        return self.row.revoked_at is not None


class BearerValidator(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> IssuedToken | None:
        """S43, D10: one SELECT finds a live token of a usable account and session,
        with its client's subject type and sector for ``sub`` (issue 11): on a pooled
        connection of its own (idp.oidc.userinfo_endpoint.read_bearer), unless the
        request already opened its database session."""
        now = _now()
        seen_after = _seen_after(now)
        tokens = oidc().tokens
        request_db = opened_db()
        if request_db is not None:
            row = tokens.find_bearer(request_db, token_string, now, seen_after)
        else:
            row = read_bearer(services().engine, tokens, token_string, now, seen_after)
        return IssuedToken(row, _now) if row is not None else None

    def validate_token(self, token: IssuedToken | None, scopes: Any, request: Any) -> None:
        """Everything was checked by the look-up: a token it did not find is invalid."""
        if token is None:
            raise InvalidTokenError(realm=self.realm, extra_attributes=self.extra_attributes)


class EndSession(EndSessionEndpoint):
    """S44: redirect only to a registered post-logout URI with a valid id_token_hint."""

    def get_server_jwks(self) -> dict[str, Any]:
        """The published keys. With none published yet no ID token of ours exists, so
        any hint is invalid: an OAuth error (the person is asked), never a 500 from
        importing an empty key set."""
        jwks: dict[str, Any] = oidc().signing_keys.jwks(db(), _now())
        if not jwks["keys"]:
            raise InvalidRequestError("no ID token has been issued yet")
        return jwks

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Any:
        """Our ID tokens name their one audience in a list (``aud: [client_id]``)."""
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return self.server.query_client(aud) if isinstance(aud, str) else None

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        ender = g.get(LOGOUT_ENDER)
        if ender is not None:
            ender()


class Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return oidc().issuer

    def add_issuer_parameter(self, authorization_server: Any, response: Any) -> None:
        """RFC 9207 §2 on every authorization response (S38), but for the one whose
        Location the code grant made with ``iss`` in it already
        (``CodeGrant.create_authorization_response``): that very string, nothing else."""
        location = response.location
        if location is not None and location == g.get(ISSUED_LOCATION):
            return
        super().add_issuer_parameter(authorization_server, response)


class ClefAuthorizationServer(AuthorizationServer):
    """Authlib's Flask server, which also takes an ``OAuth2Request`` made beforehand:
    the authorize view builds its request once from plain values
    (``idp.oidc.authorize_request``), for every other endpoint Authlib reads Flask's."""

    def create_oauth2_request(self, request: Any) -> Any:
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)


def _client_secret_basic(query_client: Any, request: Any) -> OAuthClient | None:
    """Authlib's ``client_secret_basic`` (S41), with a malformed Authorization header
    (no credentials after the scheme, or not UTF-8 once decoded) taken as no client
    authentication at all, so it ends in 401 invalid_client rather than a ValueError."""
    try:
        client: OAuthClient | None = authenticate_client_secret_basic(query_client, request)
    except ValueError:
        return None
    return client


def build_server(app: Flask) -> AuthorizationServer:
    def query_client(client_id: str) -> Portal | None:
        row = authorize_read(client_id).client if request.endpoint == AUTHORIZE_ENDPOINT \
            else token_limit.client_row(client_id)
        return Portal(row, oidc().clients.secret_matches) if row is not None else None

    def save_token(token: dict[str, Any], request: Any) -> None:
        """One INSERT, committed with the claim of the code or refresh token it came
        from: the request's only commit (issue 11). Nothing for a refresh whose
        successor was stored with its claim (PostgreSQL, ``Tokens.rotate_refresh``)."""
        if g.get(STORED_TOKEN) is token:
            return  # stored and committed with its claim (``Tokens.rotate_refresh``)
        issued = getattr(request, "authorization_code", None)
        refreshed = getattr(request, "refresh_token", None)
        code = issued.row if issued is not None else None
        parent = refreshed.row if refreshed is not None else None
        oidc().tokens.save(
            db(), _now(), token, client_id=request.client.get_client_id(), account_id=request.user.id,
            scope=token.get("scope") or (code.scope if code else parent.scope if parent else ""),
            code=code, parent=parent,
        )
        db().commit()

    server = ClefAuthorizationServer(app, query_client=query_client, save_token=save_token)

    def generate(grant_type: str, client: Portal, user: Any = None, scope: Any = None,
                 expires_in: Any = None, include_refresh_token: bool = True) -> dict[str, Any]:
        stored: dict[str, Any] | None = g.get(STORED_TOKEN)
        token = stored if stored is not None and grant_type == "refresh_token" \
            else oidc().tokens.generate(include_refresh_token)
        if scope:
            token["scope"] = scope
        return token

    server.register_token_generator("default", generate)
    server.register_client_auth_method("client_secret_basic", _client_secret_basic)
    server.register_grant(CodeGrant, [S256CodeChallenge(required=True), ClefOpenIDCode()])
    server.register_grant(RotatingRefreshGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_endpoint(EndSession)
    server.register_extension(Issuer())
    app.extensions[SERVER_KEY] = server
    protector = ResourceProtector()
    protector.register_token_validator(BearerValidator())
    app.extensions[PROTECTOR_KEY] = protector
    return server
