"""The partners' tables: the upstream providers an administrator registered, and the
links between a partner's identity (issuer, sub) and a Clef account."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base
from partners.logo import MAX_LENGTH as LOGO_TEXT_LENGTH


class Partner(Base):
    """An upstream OpenID Connect provider. The client secret is sealed with the secret
    box (S11: every secret the service must read back is encrypted at rest)."""

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    issuer: Mapped[str] = mapped_column(String(500))
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_sealed: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(String(255), default="openid")
    # The partner's acr values it is trusted to vouch for (space-separated): asked of it
    # as acr_values, and the only ones passed on to portals as ``partner_acr`` (D14).
    acr: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    # The partner's mark shown beside its name on the partner list (a brand, not
    # translated; plain text, checked by partners.logo). None: the name alone.
    logo_text: Mapped[str | None] = mapped_column(String(LOGO_TEXT_LENGTH), default=None)


class PartnerLink(Base):
    """One partner identity linked to one account. Keyed by the partner's issuer and its
    ``sub``; that ``sub`` never leaves Clef (portals get Clef's pairwise ``sub``)."""

    __tablename__ = "partner_links"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_partner_links_issuer_subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), unique=True, index=True)
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="SET NULL"))
    issuer: Mapped[str] = mapped_column(String(500))
    subject: Mapped[str] = mapped_column(String(255))
    linked_at: Mapped[datetime]


class UsedLogoutToken(Base):
    """A partner's back-channel logout token already accepted (OIDC Back-Channel
    Logout 1.0 §2.6: a ``jti`` seen before is a replay). Keyed by a hash of the issuer
    and the ``jti``, so one partner's ``jti`` cannot block another's; kept in the
    database, not in memory, so every instance refuses a replay; dropped by the worker
    once ``keep_until`` passed (the token's own checks refuse it by then)."""

    __tablename__ = "partner_used_logout_tokens"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    keep_until: Mapped[datetime] = mapped_column(index=True)
