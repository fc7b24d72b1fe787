"""The second factors' tables: the factor an account signs in with, and its recovery
codes. They point at :class:`idp.models.Account`, never the other way round."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base

TOTP = "totp"
EMAIL = "email"


class SecondFactor(Base):
    """The second factor of one account (J8): an authenticator app or email codes.

    One per account: setting it up again replaces it in one write, so there is never a
    moment with two or none. ``kind`` leaves room for a third (D3: WebAuthn).
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
