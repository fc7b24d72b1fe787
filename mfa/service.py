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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from idp import audit
from idp.accounts import AccountService
from idp.throttle import SECOND_FACTOR_STEP, Throttle, TooManyAttempts
from mfa import events
from mfa.checkers import Attempt, Checker, WrongCode
from mfa.factors import AMR_PASSWORD, AMR_RECOVERY_CODE
from mfa.models import SecondFactor
from mfa.recovery_codes import RecoveryCodes

# The web layer's part of a pass, done in the same transaction: the session is signed
# in with these amr values (new token, S20).
SignIn = Callable[[list[str]], None]
RECOVERY_CODE_METHOD = "recovery_code"


@dataclass
class SecondStepLocked(Exception):
    """Too many attempts (D4): nothing was checked. ``retry_after`` None: locked until
    an administrator unlocks it (J3)."""

    retry_after: timedelta | None


class SecondStep:
    def __init__(self, throttle: Throttle, accounts: AccountService,
                 checkers: Mapping[str, Checker], recovery_codes: RecoveryCodes) -> None:
        self._throttle = throttle
        self._accounts = accounts
        self._checkers = checkers
        self._recovery_codes = recovery_codes

    def mails_code(self, factor: SecondFactor) -> bool:
        """Whether the challenge for ``factor`` is a code mailed for the attempt (S12)."""
        return self._checkers[factor.kind].mails_code

    def verify_factor(self, db: Session, attempt: Attempt, factor: SecondFactor, typed: str,
                      now: datetime, sign_in: SignIn) -> str:
        """Check ``typed`` against ``factor`` (one of the account's factors). Returns
        the factor's amr once the session is signed in; raises :class:`SecondStepLocked`
        or :class:`WrongCode`. Commits."""
        self._claim(db, attempt, now)
        checker = self._checkers[factor.kind]
        try:
            checker.verify(db, factor, attempt, typed, now)
        except WrongCode:
            self._failed(db, attempt, now, events.FAILURE, method=factor.kind)
            raise
        self.passed(db, attempt, checker.amr, factor.kind, now, sign_in)
        return checker.amr

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

    def passed(self, db: Session, attempt: Attempt, amr: str, method: str, now: datetime,
               sign_in: SignIn) -> None:
        """Both factors passed (here or by proving a new factor, J8): the session is
        signed in, the attempt counts are cleared, the inactivity clock restarts (D7).
        Commits."""
        account = attempt.account
        sign_in([AMR_PASSWORD, amr])
        self._throttle.clear(db, account.username_key)
        self._accounts.mark_used(account, now)
        audit.record(db, now, audit.LOGIN_SUCCESS, actor=account.username,
                     account_id=account.id, where=attempt.where, step="second_factor",
                     method=method)
        db.commit()

    def _claim(self, db: Session, attempt: Attempt, now: datetime) -> None:
        """Count one attempt before checking it (S7, D4); the throttle commits it."""
        account = attempt.account
        try:
            self._throttle.claim(db, account.username_key, now, SECOND_FACTOR_STEP)
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
