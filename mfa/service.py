"""The second step of a sign-in (S10, S7, D4, J10): count the attempt, check the factor
or a recovery code, write the audit log, commit. Views look up, call, render.

Every attempt is counted before anything is checked, so a locked step checks nothing
and knowing the password buys no fresh guesses (S7). The kind of factor is the
checker's business (:mod:`mfa.checkers`); this module never branches on it.

Verbs: ``verify_*`` returns what passed (the ``amr``) or raises
:class:`SecondStepLocked` or :class:`WrongCode`; each commits, whatever the outcome, so
the count and the audit row are written before the page answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from idp import audit
from idp.accounts import AccountService
from idp.throttle import SECOND_FACTOR_STEP, Throttle, TooManyAttempts
from mfa import events, second_step_writes
from mfa.checkers import Attempt, Checker, ClonedKey, SecurityKeyChecker, WrongCode
from mfa.factors import AMR_PASSWORD, AMR_RECOVERY_CODE
from mfa.models import SecondFactor
from mfa.recovery_codes import RecoveryCodes
from mfa.security_keys import Pending

log = logging.getLogger("clef.mfa")

# The web layer's part of a pass, done in the same transaction: the session is signed
# in with these amr values (new token, S20).
SignIn = Callable[[list[str]], None]
# Undoes, in memory, a sign-in made ahead of the code's guard (PostgreSQL's one
# statement: the renewal rides in it) when the guard refuses or the statement fails: the
# session keeps its token, level and data, and its renewal no longer waits.
TakeBack = Callable[[], None]
RECOVERY_CODE_METHOD = "recovery_code"


@dataclass
class SecondStepLocked(Exception):
    """Too many attempts (D4): nothing was checked. ``retry_after`` None: locked until
    an administrator unlocks it (J3)."""

    retry_after: timedelta | None


class SecondStep:
    def __init__(self, throttle: Throttle, accounts: AccountService,
                 checkers: Mapping[str, Checker], recovery_codes: RecoveryCodes,
                 key_checker: SecurityKeyChecker) -> None:
        self._throttle = throttle
        self._accounts = accounts
        self._checkers = checkers
        self._recovery_codes = recovery_codes
        self._key_checker = key_checker

    def mails_code(self, factor: SecondFactor) -> bool:
        """Whether the challenge for ``factor`` is a code mailed for the attempt (S12)."""
        return self._checkers[factor.kind].mails_code

    def verify_factor(self, db: Session, attempt: Attempt, factor: SecondFactor, typed: str,
                      now: datetime, sign_in: SignIn, take_back: TakeBack | None = None) -> str:
        """Check ``typed`` against ``factor`` (one of the account's factors). Returns
        the factor's amr once the session is signed in; raises :class:`SecondStepLocked`
        or :class:`WrongCode`. Commits once: the attempt's count, the code's use (the
        TOTP step, the emailed code), the session's renewal and the audit row are one
        transaction, the count its first write (``Throttle.claim_with_check``, issue 11).
        On PostgreSQL a guarded check (an app's code) goes as :meth:`_verify_guarded`.
        ``take_back`` undoes ``sign_in`` in memory: there the sign-in may then run before
        the guard; anywhere, an error after it leaves the session as it was."""
        checker = self._checkers[factor.kind]
        if checker.guarded and second_step_writes.in_one_statement(db):
            return self._verify_guarded(db, checker, attempt, factor, typed, now, sign_in,
                                        take_back)
        self._claim(db, attempt, now, with_check=True)
        with self._counted_whatever_happens(db, attempt, now, take_back=take_back):
            try:
                checker.verify(db, factor, attempt, typed, now)
            except WrongCode:
                self._failed(db, attempt, now, events.FAILURE, method=factor.kind)
                raise
            self.passed(db, attempt, checker.amr, factor.kind, now, sign_in)
        return checker.amr

    def _verify_guarded(self, db: Session, checker: Checker, attempt: Attempt,
                        factor: SecondFactor, typed: str, now: datetime,
                        sign_in: SignIn, take_back: TakeBack | None) -> str:
        """:meth:`verify_factor` on PostgreSQL for a guarded check (issue 11): the
        attempt counted first, alone and committed (S7, as the password step's claim:
        one round trip); then the code's guard (its step claimed, S11), the counts'
        clear, the audit row and the session's renewal (S20) as ONE statement, the
        others written only when the guard wrote (``mfa.second_step_writes``), alone in
        autocommit: four round trips in all with the two reads before.

        The session is signed in before that statement, so that its renewal is queued
        and rides in it, conditional on the guard IN SQL; a guard that refuses (a
        replay, the same code twice at once) writes nothing, and ``take_back`` undoes
        the sign-in in memory before the failure is recorded: the session keeps its
        token and level. Without ``take_back``, or when signing in writes the account
        too (``AccountService.marks_use``, at most daily: not a single statement), the
        session is signed in after the guard and renewed at the commit, as before. An
        error rolls back all but the count, already committed: not counted twice."""
        self._claim(db, attempt, now)
        with self._counted_whatever_happens(db, attempt, now, counted=True):
            account = attempt.account
            guard = checker.guard(factor, typed, now)
            if guard is None:
                self._failed(db, attempt, now, events.FAILURE, method=factor.kind)
                raise WrongCode(blank=not typed.strip())
            success = audit.row(now, audit.LOGIN_SUCCESS, actor=account.username,
                                account_id=account.id, where=attempt.where,
                                step="second_factor", method=factor.kind)
            ahead = take_back is not None and not self._accounts.marks_use(account, now)
            keys = self._throttle.keys_for(account.username_key)
            if ahead and take_back is not None:
                wrote = self._written_ahead(db, guard, keys, success, attempt, checker.amr,
                                            now, sign_in, take_back)
            else:
                wrote = second_step_writes.write(db, guard, keys, success)
            if not wrote:
                self._failed(db, attempt, now, events.FAILURE, method=factor.kind)
                raise WrongCode(blank=not typed.strip())
            audit.announce(success)
            if ahead and take_back is not None:
                self._committed(db, take_back)
            else:
                self._signed_in_at_commit(db, attempt, checker.amr, now, sign_in, take_back)
        return checker.amr

    def _written_ahead(self, db: Session, guard: second_step_writes.Guard, keys: list[str],
                       success: dict[str, object], attempt: Attempt, amr: str,
                       now: datetime, sign_in: SignIn, take_back: TakeBack) -> bool:
        """The session signed in, then the one statement carrying its renewal; the
        sign-in taken back when the guard refused or anything failed on the way."""
        try:
            self._signed_in(attempt, amr, now, sign_in)
            wrote = second_step_writes.write(db, guard, keys, success, session=True)
        except BaseException:
            take_back()
            raise
        if not wrote:
            take_back()
        return wrote

    @staticmethod
    def _committed(db: Session, take_back: TakeBack) -> None:
        """The commit after the statement: nothing to send when it went alone; when it
        joined a transaction (something else of the request waited), a failure rolls
        the renewal back, so the sign-in is taken back too."""
        try:
            db.commit()
        except BaseException:
            take_back()
            raise

    def _signed_in_at_commit(self, db: Session, attempt: Attempt, amr: str, now: datetime,
                             sign_in: SignIn, take_back: TakeBack | None) -> None:
        """The session signed in, its renewal written by the commit; taken back when
        that fails (the renewal rolled back: the session keeps its token)."""
        try:
            self._signed_in(attempt, amr, now, sign_in)
            db.commit()
        except BaseException:
            if take_back is not None:
                take_back()
            raise

    @contextmanager
    def _counted_whatever_happens(self, db: Session, attempt: Attempt, now: datetime,
                                  counted: bool = False,
                                  take_back: TakeBack | None = None) -> Iterator[None]:
        """A claim made with its check is undone with it when the check ends in an
        error rather than an answer (a lost connection, a failed commit): the attempt
        is then counted again on its own, so that no attempt goes uncounted, whatever
        its outcome (S7). ``counted``: the claim was committed before the check, so the
        error only rolls the check back. ``take_back``: the session's sign-in, rolled
        back with the rest, is undone in memory too (the answer keeps the old token).
        A wrong code or a lock is an answer: it passes through."""
        try:
            yield
        except (WrongCode, SecondStepLocked):
            raise
        except Exception:
            if take_back is not None:
                take_back()
            db.rollback()
            if counted:
                raise
            try:
                self._throttle.claim(db, attempt.account.username_key, now, SECOND_FACTOR_STEP)
            except TooManyAttempts:
                pass  # locked meanwhile: nothing more to count
            except Exception:  # the database is gone: the first error is the one to show
                log.exception("the second step's attempt could not be counted after an error")
            raise

    def verify_security_key(self, db: Session, attempt: Attempt, answer: str,
                            pending: Pending | None, now: datetime, sign_in: SignIn) -> list[str]:
        """D3: the browser's answer to the pending challenge, from one of the account's
        keys. Counted like a code (D4, S7); a counter that went back is audited as a
        possible clone. Returns the amr values once the session is signed in; raises
        :class:`SecondStepLocked` or :class:`WrongCode`. Commits."""
        self._claim(db, attempt, now)
        checker = self._key_checker
        try:
            amr = checker.verify_answer(db, attempt, answer, pending, now)
        except ClonedKey as clone:
            self._failed(db, attempt, now, events.KEY_COUNTER_WENT_BACK, key=str(clone.key_id),
                         stored=str(clone.stored), got=str(clone.got))
            raise
        except WrongCode:
            self._failed(db, attempt, now, events.FAILURE, method=checker.kind)
            raise
        self.passed(db, attempt, amr, checker.kind, now, sign_in)
        return amr

    def verify_recovery_code(self, db: Session, attempt: Attempt, typed: str, now: datetime,
                             sign_in: SignIn, notify: Callable[[int], None]) -> int:
        """J10: one unused recovery code instead of the lost factor (amr ``kba``, D2).
        Returns how many codes remain, once ``notify`` (given that count, to stage the
        notification mail) has run and the session is signed in. Raises
        :class:`SecondStepLocked` or :class:`WrongCode`. Commits."""
        self._claim(db, attempt, now)
        account = attempt.account
        if not self._recovery_codes.burn(db, account.id, typed, now):
            self._failed(db, attempt, now, events.RECOVERY_CODE_FAILURE)
            raise WrongCode(blank=not typed.strip())
        remaining = self._recovery_codes.remaining(db, account.id)
        audit.record(db, now, events.RECOVERY_CODE_USED, actor=account.username,
                     account_id=account.id, where=attempt.where, remaining=remaining)
        notify(remaining)
        self.passed(db, attempt, AMR_RECOVERY_CODE, RECOVERY_CODE_METHOD, now, sign_in)
        return remaining

    def passed(self, db: Session, attempt: Attempt, amr: str | list[str], method: str,
               now: datetime, sign_in: SignIn) -> None:
        """Both factors passed (here or by proving a new factor, J8): the session is
        signed in, the attempt counts are cleared, the inactivity clock restarts (D7).
        Commits. ``amr``: one value, or several (a security key: ``hwk``, ``pop``)."""
        account = attempt.account
        self._signed_in(attempt, amr, now, sign_in)
        self._throttle.clear(db, account.username_key)
        audit.record(db, now, audit.LOGIN_SUCCESS, actor=account.username,
                     account_id=account.id, where=attempt.where, step="second_factor",
                     method=method)
        db.commit()

    def _signed_in(self, attempt: Attempt, amr: str | list[str], now: datetime,
                   sign_in: SignIn) -> None:
        """The session signed in with both factors (its renewal written at the commit)
        and the inactivity clock restarted (D7)."""
        sign_in([AMR_PASSWORD, *([amr] if isinstance(amr, str) else amr)])
        self._accounts.mark_used(attempt.account, now)

    def _claim(self, db: Session, attempt: Attempt, now: datetime,
               with_check: bool = False) -> None:
        """Count one attempt before checking it (S7, D4): committed by the throttle, or
        ``with_check``, by the caller's commit of the check that follows (a check that
        only reads and writes the database)."""
        account = attempt.account
        claim = self._throttle.claim_with_check if with_check else self._throttle.claim
        try:
            claim(db, account.username_key, now, SECOND_FACTOR_STEP)
        except TooManyAttempts as locked:
            audit.record(db, now, events.LOCKED, actor=account.username,
                         account_id=account.id, where=attempt.where)
            db.commit()
            raise SecondStepLocked(locked.retry_after) from locked

    def _failed(self, db: Session, attempt: Attempt, now: datetime, tag: str,
                **details: str) -> None:
        account = attempt.account
        audit.record(db, now, tag, actor=account.username, account_id=account.id,
                     where=attempt.where, **details)
        db.commit()
