"""Partners and links: what an administrator registers, and which account a partner
identity signs in to (a new one on a first visit, with no username, password,
questions or Clef second factor: the partner authenticates)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.models import Account
from idp.secret_box import SecretBox
from partners.logo import checked_logo_text
from partners.models import Partner, PartnerLink
from partners.upstream import PartnerConfig

# A partner identity's username: "~" cannot be typed at registration (usernames are
# letters, digits and a few marks), so it never collides with a chosen one, and the
# password hash "!" matches no password (argon2 refuses it as a hash).
USERNAME_PREFIX = "~partner-"
NO_PASSWORD = "!"  # noqa: S105 - not a password: a hash no password matches


def redirect_uri(base_url: str, partner_id: int) -> str:
    """Clef's callback for one partner, on the service's public address."""
    return f"{base_url.rstrip('/')}/partners/{partner_id}/callback"


class LinkRefused(Exception):
    """This partner identity already belongs to another account."""


def is_partner_identity(account: Account) -> bool:
    return account.username_key.startswith(USERNAME_PREFIX)


class Partners:
    def __init__(self, box: SecretBox) -> None:
        self.box = box

    def add(self, db: Session, now: datetime, *, name: str, issuer: str, client_id: str,
            client_secret: str, scope: str = "openid", acr: str | None = None,
            logo_text: str | None = None) -> Partner:
        """Raises partners.logo.LogoTextRefused, before anything is stored, when the
        logo text is not one the partner list may show."""
        logo = None if logo_text is None else checked_logo_text(logo_text)
        if "openid" not in scope.split():
            scope = f"openid {scope}".strip()
        partner = Partner(name=name, issuer=issuer.rstrip("/"), client_id=client_id,
                          client_secret_sealed=self.box.seal(client_secret), scope=scope,
                          acr=acr or None, enabled=True, created_at=now, logo_text=logo)
        db.add(partner)
        db.flush()
        return partner

    def set_logo_text(self, db: Session, partner: Partner, logo_text: str | None) -> None:
        """A new mark for the partner list, or none (None); checked as in ``add``."""
        partner.logo_text = None if logo_text is None else checked_logo_text(logo_text)
        db.flush()

    def all(self, db: Session) -> list[Partner]:
        return list(db.scalars(select(Partner).order_by(Partner.id)))

    def enabled(self, db: Session) -> list[Partner]:
        return [p for p in self.all(db) if p.enabled]

    def get(self, db: Session, partner_id: int) -> Partner | None:
        return db.get(Partner, partner_id)

    def config(self, partner: Partner) -> PartnerConfig:
        return PartnerConfig(partner.id, partner.issuer, partner.client_id,
                             self.box.open(partner.client_secret_sealed), partner.scope,
                             partner.acr)

    def reseal_all(self, db: Session, box: SecretBox) -> int:
        partners = self.all(db)
        for partner in partners:
            partner.client_secret_sealed = box.reseal(partner.client_secret_sealed)
        return len(partners)

    def link_of(self, db: Session, account_id: int) -> PartnerLink | None:
        return db.scalar(select(PartnerLink).where(PartnerLink.account_id == account_id))

    def account_for(self, db: Session, now: datetime, partner: Partner, subject: str,
                    locale: str) -> tuple[Account, bool]:
        """The account linked to this partner identity, made on a first visit.
        Returns (account, created)."""
        link = db.scalar(select(PartnerLink).where(PartnerLink.issuer == partner.issuer,
                                                   PartnerLink.subject == subject))
        if link is not None:
            return db.get_one(Account, link.account_id), False
        username = USERNAME_PREFIX + secrets.token_hex(8)
        account = Account(username=username, username_key=username, password_hash=NO_PASSWORD,
                          locale=locale, created_at=now, password_changed_at=now,
                          last_used_at=now)
        db.add(account)
        db.flush()
        db.add(PartnerLink(account_id=account.id, partner_id=partner.id, issuer=partner.issuer,
                           subject=subject, linked_at=now))
        db.flush()
        return account, True

    def change(self, db: Session, now: datetime, account_id: int, partner: Partner,
               subject: str) -> None:
        """J14 "change my sign-in partner": the new link replaces the old; the account,
        and so every portal's ``sub``, stays the same."""
        taken = db.scalar(select(PartnerLink).where(PartnerLink.issuer == partner.issuer,
                                                    PartnerLink.subject == subject))
        if taken is not None and taken.account_id != account_id:
            raise LinkRefused()
        link = self.link_of(db, account_id)
        if link is None:
            raise LinkRefused()
        link.partner_id, link.issuer, link.subject, link.linked_at = (
            partner.id, partner.issuer, subject, now)
        db.flush()

    def account_id_of(self, db: Session, issuer: str, subject: str) -> int | None:
        link = db.scalar(select(PartnerLink).where(PartnerLink.issuer == issuer,
                                                   PartnerLink.subject == subject))
        return None if link is None else link.account_id
