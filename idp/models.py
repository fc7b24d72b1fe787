"""The core's tables: accounts, server-side sessions, throttles, emailed codes, audit.

Second factors and recovery answers live in their own slices (``mfa``, ``recovery``);
they point at :class:`Account` and never the other way round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base
from idp.usernames import COLUMN_LENGTH

ACTIVE = "active"
REVOKED = "revoked"


class Account(Base):
    """One credential: a username, a password, an optional recovery email."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # As the person typed it (NFKC-normalised), for display.
    username: Mapped[str] = mapped_column(String(COLUMN_LENGTH))
    # Case-folded key: uniqueness and look-up are case-insensitive.
    username_key: Mapped[str] = mapped_column(String(COLUMN_LENGTH), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    email_confirmed_at: Mapped[datetime | None]
    locale: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(16), default=ACTIVE)
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime]
    # Last successful sign-in (registration counts as one), for the inactivity sweep (D7).
    last_used_at: Mapped[datetime] = mapped_column(index=True)
    # Days-before-revocation of the last inactivity reminder sent since last use, and
    # when it went: revocation waits for the final notice period after it (D7).
    reminder_sent_days: Mapped[int | None]
    reminder_sent_at: Mapped[datetime | None]

    @property
    def is_revoked(self) -> bool:
        return self.status == REVOKED

    @property
    def has_confirmed_email(self) -> bool:
        return self.email is not None and self.email_confirmed_at is not None


class WebSession(Base):
    """A server-side session (D6). The cookie holds a random token; this row is keyed by
    its SHA-256, so a leaked database does not hand out live cookies."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # "anonymous", "password" (first factor only: grants the next step, S20) or "full".
    level: Mapped[str] = mapped_column(String(16), default="anonymous")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    # Absolute expiry, set when the password step succeeds (D5).
    expires_at: Mapped[datetime | None]
    # When the second factor was passed and which methods were used (for amr/auth_time).
    auth_time: Mapped[datetime | None]
    amr: Mapped[str | None] = mapped_column(String(64))


class ExpiredSession(Base):
    """A signed-in session that timed out (J4): its cookie still gets the "session
    expired" page after the row is gone, whoever ended it first (the person coming back
    or the worker's purge). Keyed like the session (the SHA-256 of the cookie's token),
    so it hands out nothing; kept until ``keep_until``, then purged."""

    __tablename__ = "expired_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int | None] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    # "idle" or "absolute".
    timeout: Mapped[str] = mapped_column(String(16))
    ended_at: Mapped[datetime]
    keep_until: Mapped[datetime] = mapped_column(index=True)


class LoginThrottle(Base):
    """Consecutive failures for one normalised username, existing or not (D4).

    ``key`` is a keyed hash of the username, so a typo or a password typed in the
    username field is not kept in clear.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class EmailCode(Base):
    """The one live emailed code for an account and purpose (S16).

    One row per (account, purpose): sending a new code overwrites the old one, so an
    older code is dead by construction. Only a keyed hash of the code is kept.
    """

    __tablename__ = "email_codes"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    purpose: Mapped[str] = mapped_column(String(32), primary_key=True)
    # What the code is bound to: an address being confirmed, a sign-in attempt.
    binding: Mapped[str] = mapped_column(String(254))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class AuditEvent(Base):
    """Who did what, when, from where (S28). Never a password, code or token."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # source:subject:action, as warehouse's events/tags.py (account:login:failure).
    tag: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(Integer)
    # Who acted: a username, "admin:<os user>", or "unknown".
    actor: Mapped[str] = mapped_column(String(128))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_events_account_at", "account_id", "at"),)


class OutboxMail(Base):
    """One outgoing mail, written in the transaction of the change that causes it, so
    no mail is lost when the process dies before it leaves (issue 9, faults).

    The message (recipient, subject, body) may hold a code: it is sealed with the secret
    box and blanked once sent or given up. ``message`` (the template name) and
    ``account_id`` stay readable for the audit log. ``status``: pending, sent,
    given_up, or discarded (a mail rendered for nobody, S6)."""

    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message: Mapped[str] = mapped_column(String(64))
    account_id: Mapped[int | None] = mapped_column(Integer)
    sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    # Past this (an emailed code's lifetime), the mail is given up rather than sent.
    expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (Index("ix_mail_outbox_status_next", "status", "next_attempt_at"),)
