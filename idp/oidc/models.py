"""The provider's tables: portals (clients), authorization codes, tokens, signing keys,
which portals each sign-in session was used with, and queued back-channel logouts.

Codes and tokens are kept as SHA-256 hashes of random 256-bit values: a copy of the
database hands out nothing usable. These are plain tables: Authlib's mixins wrap them
in ``idp.oidc.authlib_models``, so the protocol code stays Authlib's (STYLE.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base

PAIRWISE = "pairwise"
PUBLIC = "public"


class OAuthClient(Base):
    """A portal registered with ``clef clients add``."""

    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Keyed hash of the secret (it is printed once, never stored); None for public clients.
    secret_hash: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(128))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(Text)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    # Trusted portals get no consent screen.
    trusted: Mapped[bool] = mapped_column(Boolean, default=False)
    # D8: S256 PKCE in every authorization request; False only for a legacy confidential
    # portal an administrator opted out (``--pkce optional``), shown by ``clients show``.
    pkce_required: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    subject_type: Mapped[str] = mapped_column(String(16), default=PAIRWISE)
    # Pairwise subjects are the same for every client of one sector (S45, J13).
    sector: Mapped[str] = mapped_column(String(255))
    id_token_alg: Mapped[str] = mapped_column(String(8), default="RS256")
    created_at: Mapped[datetime]
    # Bumped by the ORM on every change of the row (its version counter): the token
    # endpoint authenticates a client from a per-process copy, and each claim checks
    # in SQL that the row still has the copy's revision (issue 11, ``Clients.cached``).
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012 (SQLAlchemy reads it)


class AuthorizationCode(Base):
    """A code, kept after use so a second use is recognised (S32)."""

    __tablename__ = "oauth_codes"
    # The nonce replay check (server.ClefOpenIDCode.exists_nonce) runs on every
    # authorization request: an index look-up by the nonce's SHA-256, since the nonce
    # itself has no length limit a B-tree could hold (issue 11). Unique (S35): of two
    # answers to one request at the same instant, only one code is written.
    __table_args__ = (Index("ux_oauth_codes_client_nonce", "client_id", "nonce_hash",
                            unique=True),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    nonce: Mapped[str | None] = mapped_column(Text)
    nonce_hash: Mapped[str | None] = mapped_column(String(64))
    code_challenge: Mapped[str | None] = mapped_column(String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(String(8))
    # How and when the person signed in (D2): for auth_time, amr and acr.
    auth_time: Mapped[datetime]
    amr: Mapped[str] = mapped_column(String(64))
    acr: Mapped[str] = mapped_column(String(64))
    # D14: the sign-in partner's own acr, when the partner vouches for it (J14).
    partner_acr: Mapped[str | None] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    # S32: when a second use was seen. A first use still saving its tokens checks it
    # under the row's lock, so a reuse racing the exchange revokes what it issues too.
    reused_at: Mapped[datetime | None]


class OAuthToken(Base):
    """An access token and, with it, the refresh token that can replace it.

    Refresh tokens rotate (S40): using one marks it ``rotated_at`` and issues a new row
    in the same ``family``; presenting a rotated one again revokes the whole family.
    """

    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(Text)
    access_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(64), index=True)
    # The code it came from (S32: a reused code revokes what it issued).
    code_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The sign-in session it belongs to: ending that session revokes it.
    sid: Mapped[str] = mapped_column(String(64), index=True)
    auth_time: Mapped[datetime]
    amr: Mapped[str] = mapped_column(String(64))
    acr: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    access_expires_at: Mapped[datetime]
    refresh_expires_at: Mapped[datetime | None]  # idle limit of this refresh token
    family_expires_at: Mapped[datetime | None]  # absolute limit of the whole family
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class SigningKey(Base):
    """A key that signs ID tokens (and logout tokens). Published in the JWKS from
    ``created_at``, used from ``active_from``, dropped after ``remove_after`` (S42)."""

    __tablename__ = "oauth_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    alg: Mapped[str] = mapped_column(String(8))
    private_jwk: Mapped[str] = mapped_column(Text)  # sealed (idp.secret_box)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    active_from: Mapped[datetime]
    remove_after: Mapped[datetime | None]


class Consent(Base):
    """A person's "yes" to a portal that is not trusted, so it is asked once."""

    __tablename__ = "oauth_consents"

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"),
                                            primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    scope: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime]


class PortalSession(Base):
    """A portal a sign-in session was used with: who gets a back-channel logout when
    that session ends."""

    __tablename__ = "oauth_portal_sessions"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]


class LogoutDelivery(Base):
    """A back-channel logout waiting to reach a portal, retried with backoff. The
    logout token is signed at each attempt (fresh ``iat``/``exp``), from these claims."""

    __tablename__ = "oauth_logout_deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64))
    uri: Mapped[str] = mapped_column(Text)
    sub: Mapped[str] = mapped_column(String(64))
    sid: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    given_up_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_oauth_logout_deliveries_due", "delivered_at", "given_up_at",
                            "next_attempt_at"),)
