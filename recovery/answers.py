"""Security answers (J2, D1): how they are normalised, and hashed with argon2id through
the core's hasher (the only home of argon2).

D1: answers are normalised (Unicode NFKC, casefold, trimmed, inner white space
collapsed) so "  Marie  Curie" and "marie curie" are the same answer; the memorable date
is compared as a calendar date. Answers are hashed and never shown again.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from idp.passwords import PasswordHasher
from recovery.models import RecoveryQuestions

_SPACES = re.compile(r"\s+")


def normalise_answer(raw: str) -> str:
    """D1: NFKC, case-folded, trimmed, inner white space collapsed to one space."""
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", raw).casefold())
    return _SPACES.sub(" ", folded).strip()


def normalise_date(value: date | str) -> str:
    """A memorable date as ISO ``YYYY-MM-DD``; text that is not a date is normalised as
    an answer (so it can never match a real date's hash by accident)."""
    if isinstance(value, date):
        return value.isoformat()
    try:
        return datetime.strptime(value.strip(), "%Y-%m-%d").date().isoformat()  # noqa: DTZ007 - a calendar date, no time
    except ValueError:
        return normalise_answer(value)


@dataclass(frozen=True)
class Answers:
    """What the person typed for the three security questions (J2, J7)."""

    answer: str
    person: str
    memorable_date: str


@dataclass(frozen=True)
class Hints:
    """What is shown above each answer field: the person's own question and hints."""

    question: str
    person_hint: str
    date_hint: str


def hints_of(row: RecoveryQuestions) -> Hints:
    return Hints(row.question, row.person_hint, row.date_hint)


def hint_gives_away_answer(hint: str, answer: str) -> bool:
    """True when a hint contains its (normalised) answer: it would be shown to anyone
    who types the username (J7)."""
    secret = normalise_answer(answer)
    return len(secret) >= 2 and secret in normalise_answer(hint)


def save_questions(
    db: Session, hasher: PasswordHasher, account_id: int, hints: Hints, answers: Answers,
    now: datetime,
) -> RecoveryQuestions:
    """Set or replace an account's security questions; answers are normalised and hashed
    (D1). The caller checks who may do this (registration or a fresh sign-in, S14) and
    commits."""
    row = db.get(RecoveryQuestions, account_id)
    if row is None:
        row = RecoveryQuestions(account_id=account_id)
        db.add(row)
    row.question = hints.question.strip()
    row.person_hint = hints.person_hint.strip()
    row.date_hint = hints.date_hint.strip()
    row.answer_hash = hasher.hash(normalise_answer(answers.answer))
    row.person_hash = hasher.hash(normalise_answer(answers.person))
    row.date_hash = hasher.hash(normalise_date(answers.memorable_date))
    row.updated_at = now
    return row


def check_answer(hasher: PasswordHasher, row: RecoveryQuestions | None, answer: str) -> bool:
    """The recovery answer alone (the email route's step, J7). One argon2 verification,
    against the dummy hash when there is no row (S6)."""
    return hasher.verify(row.answer_hash if row else None, normalise_answer(answer)).matches


def check_all(hasher: PasswordHasher, row: RecoveryQuestions | None, answers: Answers) -> bool:
    """All three answers (the questions route, J7). Always three argon2 verifications,
    against the dummy hash when there is no row, so the work does not say whether the
    username has questions (S6)."""
    results = [
        hasher.verify(row.answer_hash if row else None, normalise_answer(answers.answer)).matches,
        hasher.verify(row.person_hash if row else None, normalise_answer(answers.person)).matches,
        hasher.verify(row.date_hash if row else None, normalise_date(answers.memorable_date)).matches,
    ]
    return all(results)
