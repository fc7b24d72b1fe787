"""The second factors' tables: the factor an account signs in with, and its recovery
codes. They point at :class:`idp.models.Account`, never the other way round."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base

TOTP = "totp"
EMAIL = "email"
SECURITY_KEY = "webauthn"


class SecondFactor(Base):
    """The second factor of one account (J8): an authenticator app or email codes.

    One per account: setting it up again replaces it in one write, so there is never a
    moment with two or none. Security keys (D3) are rows of their own
    (:class:`SecurityKey`), several per account, beside this one or instead of it.
    """

    __tablename__ = "second_factors"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16))
    # TOTP only: the secret, encrypted (S11); never stored or logged in clear.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    # TOTP only: the last time step accepted; that step and earlier ones are refused (S11).
    last_totp_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class RecoveryCode(Base):
    """One single-use recovery code (S13), kept as a keyed hash only.

    ``used_at`` is set by one conditional UPDATE, so of two concurrent redemptions of
    the same code exactly one changes the row and wins.
    """

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SecurityKey(Base):
    """One WebAuthn credential (D3): a security key or a passkey. An account may hold
    several, beside its app or email factor, so one can stand in for another.

    Only public material is kept: the credential id (unique across all accounts, so a
    credential registered twice is refused) and its COSE public key. ``sign_count`` is
    the authenticator's counter at the last sign-in; one that goes back is refused.
    """

    __tablename__ = "security_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # base64url of the raw id (at most 1,023 bytes in WebAuthn L2, so 1,364 characters).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str] = mapped_column(String(64))
    # A passkey that may be synced to other devices (backup eligible): amr "swk", not "hwk".
    synced: Mapped[bool] = mapped_column(Boolean)
    transports: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
