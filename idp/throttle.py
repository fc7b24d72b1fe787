"""Per-account throttling without a lockout weapon (D4, S7; NIST §3.2.2; ASVS 6.3.1).

Counters are keyed by a keyed hash of the normalised username, existing or not, so
"too many attempts" says nothing about whether an account exists.

An attempt first *claims* a slot in one atomic statement (an upsert whose update only
applies while the key is not locked). The claim counts the attempt as a failure in
advance and, when that count reaches the threshold, sets the lock in the same
statement. Concurrent attempts therefore cannot all slip past the check: once the
threshold is reached the next claim finds the lock and is refused without touching a
password. A correct password then clears the count; a wrong one leaves it.

Two steps of sign-in are counted apart: the password (``PASSWORD_STEP``) and the second
factor (``SECOND_FACTOR_STEP``). A correct password clears only the password count, so
knowing the password never buys fresh guesses at the second factor; passing the second
factor clears both. An admin unlock clears both too; a password reset clears only the
password step's (D9: a reset restores the password, not fresh guesses at the code).

A third count, ``RESET_CODE_STEP``, is the forgotten password's emailed codes (S16, D4):
a code dies after its own wrong tries, but a new flow mails a new one every
``resend_interval_seconds``, so without a count across codes the six digits could be
guessed ten times a minute for ever. A code that passes clears it.

Schedule: ``threshold`` consecutive failures lock for ``first_lock_minutes``; each
further failure doubles the lock up to ``max_lock_minutes``; ``permanent_after``
consecutive failures lock until ``clef users unlock`` (or, for the password step, a
password reset). The reset codes' count never locks for good: anyone may type codes for
any username, and a lock for good there would shut the owner out of recovery.

Rows are never deleted for a failure alone, so made-up usernames would pile up; the
worker (:meth:`Throttle.purge`) forgets a count left alone for ``forget_after_days``
unless it holds a lock still in force or the permanent lock, for every username alike
(S6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, bindparam, case, delete, literal, or_
from sqlalchemy.orm import Session

from idp import session_rows
from idp.keys import KeyRing
from idp.models import LoginThrottle
from idp.settings import LockoutSettings
from idp.upsert import upsert

THROTTLE_KEY_PURPOSE = "throttle.username"
PASSWORD_STEP = "password"  # noqa: S105 - a step name, not a secret
SECOND_FACTOR_STEP = "second_factor"
STEPS = (PASSWORD_STEP, SECOND_FACTOR_STEP)  # sign-in's: a full sign-in clears both
RESET_CODE_STEP = "reset_code"
ALL_STEPS = (*STEPS, RESET_CODE_STEP)  # every count of a username: an admin unlock's
# The counts that reach the lock for good (``permanent_after``).
PERMANENT_STEPS = frozenset(STEPS)
# Far enough to be "for good" yet a real datetime every database stores.
PERMANENT = timedelta(days=365 * 100)


@dataclass(frozen=True)
class TooManyAttempts(Exception):
    """The username is locked; ``retry_after`` is None for a permanent lock."""

    retry_after: timedelta | None


@dataclass(frozen=True)
class LockState:
    failures: int
    locked_until: datetime | None


@dataclass(frozen=True)
class AlsoRead:
    """What a caller reads in the claim's own statement, after the count: scalar
    subqueries (``columns``, built once by the caller: the claim's statement is kept
    per tuple) with their bound values (``params``, named apart from the claim's).
    The password step reads its account so (issue 11: one statement less than a
    look-up after the claim). Both databases evaluate a scalar subquery in
    ``RETURNING``; when the key is locked no row comes back, so nothing is read."""

    columns: tuple[ColumnElement[Any], ...]
    params: dict[str, Any]


# Built once; run on the session's connection, as a Core statement (issue 11).
_THROTTLES = cast(Table, LoginThrottle.__table__)
_CLEAR = delete(_THROTTLES).where(_THROTTLES.c.key.in_(bindparam("keys", expanding=True)))


class Throttle:
    def __init__(self, settings: LockoutSettings, keys: KeyRing) -> None:
        self._settings = settings
        self._keys = keys
        # The distinct temporary lock lengths, longest first, with the failure count
        # from which each applies: they depend on the settings only, so the claim's
        # SQL is built from them without walking every count per attempt (issue 11).
        self._lock_steps: list[tuple[int, timedelta]] = []
        for count in range(settings.permanent_after - 1, settings.threshold - 1, -1):
            length = self.lock_length(count)
            if length is None or length >= PERMANENT:
                continue
            if count > settings.threshold and length == self.lock_length(count - 1):
                continue  # lengths are capped: only the distinct steps need a branch
            self._lock_steps.append((count, length))
        self._first_lock = self.lock_length(1)
        # The claim's statement, built once per dialect and what it also reads.
        self._claims: dict[tuple[str, bool, tuple[ColumnElement[Any], ...]], Any] = {}

    def key_for(self, username_key: str, step: str = PASSWORD_STEP) -> str:
        if step not in ALL_STEPS:
            raise ValueError(f"unknown step {step!r}")
        scoped = username_key if step == PASSWORD_STEP else f"{step}:{username_key}"
        return self._keys.keyed_hash(THROTTLE_KEY_PURPOSE, scoped)

    def lock_length(self, failures: int) -> timedelta | None:
        """How long ``failures`` consecutive failures lock for; None: not locked."""
        s = self._settings
        if failures >= s.permanent_after:
            return PERMANENT
        if failures < s.threshold:
            return None
        minutes = s.first_lock_minutes * 2 ** min(failures - s.threshold, 20)
        return timedelta(minutes=min(minutes, s.max_lock_minutes))

    def claim(
        self, db: Session, username_key: str, now: datetime, step: str = PASSWORD_STEP,
        *, also: AlsoRead | None = None,
    ) -> Row[Any]:
        """Count one attempt at ``step`` for ``username_key`` before it is checked.

        Raises :class:`TooManyAttempts` when the key is locked; nothing is counted then.
        Commits, so the claim is visible to every other worker at once. Returns the
        claim's row: the count, then what ``also`` reads, in the same statement.
        """
        params = self._claim_params(username_key, now, step)
        if also is not None:
            params.update(also.params)
        # A transaction of its own when nothing else waits (issue 11: one round trip),
        # then sent on the connection, without the ORM's execution (~19 calls a claim;
        # session_rows.write_alone): the same statement and values, the same autocommit.
        claimed: Row[Any] | None = session_rows.write_alone(
            db, self._claim_statement(db, step, also), params).first()
        db.commit()
        if claimed is None:
            raise TooManyAttempts(self.retry_after(db, username_key, now, step))
        return claimed

    def claim_with_check(
        self, db: Session, username_key: str, now: datetime, step: str = PASSWORD_STEP
    ) -> None:
        """Count one attempt as :meth:`claim` does, as the first write of the caller's
        transaction, which the caller commits whatever the check's outcome, with the
        check's own writes and its audit row: one commit instead of two (issue 11).

        Nothing is lost to other workers: the claim's upsert keeps its row locked until
        that commit (PostgreSQL's row lock, SQLite's write lock), so a concurrent attempt
        on the same key waits, then counts on top of it and finds any lock it set. The
        check must only read and write the database (no mail, no call out) so the lock
        is held for a moment. Raises :class:`TooManyAttempts` when the key is locked;
        nothing is counted then, and the caller commits what it records of the refusal.
        """
        claimed = db.connection().execute(self._claim_statement(db, step), self._claim_params(
            username_key, now, step)).scalar_one_or_none()
        if claimed is None:
            raise TooManyAttempts(self.retry_after(db, username_key, now, step))

    def _claim_params(self, username_key: str, now: datetime, step: str) -> dict[str, Any]:
        first_lock = self._first_lock
        return {
            "key": self.key_for(username_key, step), "now": now,
            "first_lock": now + first_lock if first_lock else None,
            "lock_permanent": now + PERMANENT,
            **{f"lock_{count}": now + length for count, length in self._lock_steps}}

    def _claim_statement(self, db: Session, step: str, also: AlsoRead | None = None) -> Any:
        """The claim's upsert with the times as parameters: one statement object per
        dialect (and per kind of step: whether it locks for good), so SQLAlchemy neither
        rebuilds nor re-keys it per attempt (issue 11).
        Built on the table, not the ORM entity, whose INSERT would take the ORM's bulk
        path (about 450 Python calls of each claim). The lock a count implies is still
        chosen by the database in the same UPDATE."""
        dialect = db.get_bind().dialect.name
        reads = also.columns if also is not None else ()
        permanent = step in PERMANENT_STEPS
        statement = self._claims.get((dialect, permanent, reads))
        if statement is None:
            columns = _THROTTLES.c
            when = columns.updated_at.type
            now = bindparam("now", type_=when)
            new_failures = columns.failures + 1
            whens = [(new_failures >= self._settings.permanent_after,
                      bindparam("lock_permanent", type_=when))] if permanent else []
            whens += [(new_failures >= count, bindparam(f"lock_{count}", type_=when))
                      for count, _ in self._lock_steps]
            lock_until = case(*whens, else_=literal(None, type_=when))
            statement = upsert(
                db, _THROTTLES,
                {"key": bindparam("key"), "failures": 1,
                 "locked_until": bindparam("first_lock", type_=when), "updated_at": now},
                key=columns.key,
                update={"failures": new_failures, "locked_until": lock_until, "updated_at": now},
                where=or_(columns.locked_until.is_(None), columns.locked_until <= now),
            ).returning(columns.failures, *reads)
            self._claims[(dialect, permanent, reads)] = statement
        return statement

    def clear(self, db: Session, username_key: str, steps: tuple[str, ...] = STEPS) -> bool:
        """Forget the counts and locks of ``steps``: every step for a full sign-in or an
        admin unlock; the password step alone for a correct password or a password
        reset (D9). True when there was a count."""
        result = db.connection().execute(_CLEAR, {"keys": self.keys_for(username_key, steps)})
        return bool(result.rowcount)

    def keys_for(self, username_key: str, steps: tuple[str, ...] = STEPS) -> list[str]:
        """The rows' keys :meth:`clear` deletes (for a statement that clears them itself:
        ``mfa.second_step_writes``)."""
        return [self.key_for(username_key, step) for step in steps]

    def purge(self, db: Session, now: datetime) -> int:
        """Delete the rows that no longer hold anything worth keeping: no lock in force,
        short of the permanent lock, and no failure for ``forget_after_days``. What
        survives: permanent locks (until an unlock or a reset), locks in force, and
        counts inside the window. The rule looks only at the row, never at whether the
        username exists (S6). The caller commits; returns how many rows went."""
        s = self._settings
        result = db.execute(delete(LoginThrottle).where(
            or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
            LoginThrottle.failures < s.permanent_after,
            LoginThrottle.updated_at <= now - timedelta(days=s.forget_after_days),
        ))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def state(self, db: Session, username_key: str, step: str = PASSWORD_STEP) -> LockState:
        row = db.get(LoginThrottle, self.key_for(username_key, step))
        if row is None:
            return LockState(0, None)
        return LockState(row.failures, row.locked_until)

    def retry_after(
        self, db: Session, username_key: str, now: datetime, step: str = PASSWORD_STEP
    ) -> timedelta | None:
        state = self.state(db, username_key, step)
        if state.locked_until is None:
            return None
        if step in PERMANENT_STEPS and state.failures >= self._settings.permanent_after:
            return None
        return max(state.locked_until - now, timedelta(0))

