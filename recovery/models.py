"""The recovery slice's tables: each account's security questions (J2, D1), the strict
per-username limit on wrong answers (D1), and the newest forgot-password flow of each
username (so a superseded flow cannot be replayed). They point at
:class:`idp.models.Account`, never the other way round."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from idp.db import Base

HINT_MAX_LENGTH = 200


class RecoveryQuestions(Base):
    """The security questions of one account (J2, D1).

    The person writes the recovery question and a hint for the memorable person and the
    memorable date; those three are shown back above the answer fields (J7), so they are
    kept in clear. The answers are normalised and hashed with argon2id and never shown.
    """

    __tablename__ = "recovery_questions"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    question: Mapped[str] = mapped_column(String(HINT_MAX_LENGTH))
    answer_hash: Mapped[str] = mapped_column(String(255))
    person_hint: Mapped[str] = mapped_column(String(HINT_MAX_LENGTH))
    person_hash: Mapped[str] = mapped_column(String(255))
    date_hint: Mapped[str] = mapped_column(String(HINT_MAX_LENGTH))
    date_hash: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime]


class AnswerLimit(Base):
    """Wrong answers to the security questions for one normalised username, existing or
    not (D1: a strict per-account limit; S6: the limit looks the same for a username
    that does not exist). ``key`` is a keyed hash of the username key."""

    __tablename__ = "recovery_answer_limits"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None]
    # Rows untouched for a whole block are forgotten (``AnswerLimits.purge``).
    updated_at: Mapped[datetime] = mapped_column(index=True)


class ResetFlow(Base):
    """The newest forgot-password flow started for one normalised username (existing or
    not, so starting a flow does the same write either way, S6). A token of an older
    flow names another nonce and is refused: a superseded flow cannot be replayed.

    The flow's emailed code lives here for every username alike (``recovery.reset_codes``):
    its keyed hash, when it went out and its wrong tries; only a real account's is
    mailed. ``code_hash`` is None once the code is used, expired or out of tries."""

    __tablename__ = "recovery_reset_flows"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(64))
    # Rows older than a token's lifetime are dead and deleted as new flows start.
    started_at: Mapped[datetime] = mapped_column(index=True)
    code_hash: Mapped[str | None] = mapped_column(String(64))
    code_sent_at: Mapped[datetime | None]
    code_tries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
