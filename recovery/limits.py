"""The strict limit on wrong security answers (D1), per normalised username whether or
not it exists (S6), so "too many wrong answers" says nothing about an account.

An attempt first claims a slot in one atomic statement (an upsert that only counts while
the key is not blocked), as the core's throttle does (D4): concurrent guesses cannot all
slip past the check. A window that has run out starts again at one. Neither a right
answer nor a completed password reset clears the count (D9: a reset restores the
password, not fresh guesses); only the window running out does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, literal, or_
from sqlalchemy.orm import Session

from idp.keys import KeyRing
from idp.upsert import upsert
from recovery.models import AnswerLimit

LIMIT_KEY_PURPOSE = "recovery.answers.username"


@dataclass(frozen=True)
class TooManyWrongAnswers(Exception):
    """The questions of this username are refused for ``retry_after`` (D1)."""

    retry_after: timedelta


@dataclass(frozen=True)
class Claimed:
    """One attempt counted; ``left`` more wrong answers are allowed after this one."""

    left: int


class AnswerLimits:
    def __init__(self, keys: KeyRing, max_failures: int, block: timedelta) -> None:
        self._keys = keys
        self.max_failures = max_failures
        self.block = block

    def key_for(self, username_key: str) -> str:
        return self._keys.keyed_hash(LIMIT_KEY_PURPOSE, username_key)

    def claim(self, db: Session, username_key: str, now: datetime) -> Claimed:
        """Count one attempt before the answers are checked; commits, so every worker
        sees it. Raises :class:`TooManyWrongAnswers` (nothing counted) while blocked."""
        key = self.key_for(username_key)
        expired = or_(AnswerLimit.blocked_until.is_(None), AnswerLimit.blocked_until <= now)
        # A block that has run out starts a new window at one failure.
        restarted = case((AnswerLimit.blocked_until <= now, 1), else_=AnswerLimit.failures + 1)
        block_until = case(
            (restarted >= self.max_failures, literal(now + self.block)),
            else_=literal(None, type_=AnswerLimit.blocked_until.type),
        )
        first_block = now + self.block if self.max_failures <= 1 else None
        statement = upsert(
            db, AnswerLimit,
            {"key": key, "failures": 1, "blocked_until": first_block, "updated_at": now},
            key=AnswerLimit.key,
            update={"failures": restarted, "blocked_until": block_until, "updated_at": now},
            where=expired,
        ).returning(AnswerLimit.failures)
        failures = db.execute(statement).scalar_one_or_none()
        db.commit()
        if failures is None:
            row = db.get(AnswerLimit, key, populate_existing=True)
            until = row.blocked_until if row and row.blocked_until else now + self.block
            raise TooManyWrongAnswers(max(until - now, timedelta(0)))
        return Claimed(max(self.max_failures - failures, 0))

    def purge(self, db: Session, now: datetime) -> None:
        """Forget counts untouched for a whole block: every username (existing or not)
        leaves a row, so they must not pile up. The caller commits."""
        db.execute(delete(AnswerLimit).where(AnswerLimit.updated_at < now - self.block,
                                             or_(AnswerLimit.blocked_until.is_(None),
                                                 AnswerLimit.blocked_until <= now)))
