"""Accounts: registration, the password step of sign-in, revocation, unlocking.

Owns the security decisions of the core (STYLE.md, after warehouse's services): the
password policy, equal work for known and unknown usernames (S6), the throttle (D4), the
revoked state (D7). Views call it with plain values and turn its exceptions into pages.

Verbs, the same in every slice: ``verify_*`` returns what passed or raises a typed
error; ``check_*`` answers a bool and never raises for a "no" (the convention of
Authlib's hooks, which Clef implements); ``get_*`` returns an object or None;
``find_*`` returns a list, possibly empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from idp import audit, claimed_account
from idp.claimed_account import PasswordAccount
from idp.models import ACTIVE, REVOKED, Account
from idp.password_policy import PasswordPolicy, PasswordProblem
from idp.password_step_writes import clear_password_count
from idp.passwords import PasswordHasher
from idp.settings import UsernameSettings
from idp.throttle import Throttle, TooManyAttempts
from idp.usernames import UsernameProblem, normalise_username, username_key, username_problem

REVOKE_REASONS = ("compromised", "inactive", "other")
# How stale the recorded last use may be before a sign-in writes it again (D7 counts
# days; an hour is far below what the sweep or ``clef users show`` can tell).
LAST_USE_PRECISION = timedelta(hours=1)
# The password step's look-up, built once (issue 11).
_BY_KEY = select(Account).where(Account.username_key == bindparam("key"))


class AccountError(Exception):
    """Base of what the account service refuses."""


class InvalidCredentials(AccountError):
    """Unknown username or wrong password: one error, so the two cannot be told apart."""


class RevokedCredential(AccountError):
    """The password was right but the credential is revoked (J12, D7). Raised only after
    a correct password, so it tells nothing to someone who does not hold it."""


@dataclass
class RegistrationRefused(AccountError):
    username: UsernameProblem | None = None
    username_taken: bool = False
    password: tuple[PasswordProblem, ...] = ()


__all__ = [
    "AccountError",
    "AccountService",
    "InvalidCredentials",
    "RegistrationRefused",
    "RevokedCredential",
    "TooManyAttempts",
]


class AccountService:
    def __init__(
        self,
        hasher: PasswordHasher,
        policy: PasswordPolicy,
        throttle: Throttle,
        usernames: UsernameSettings,
    ) -> None:
        self.hasher = hasher
        self.policy = policy
        self.throttle = throttle
        self.usernames = usernames

    def get_by_username(self, db: Session, raw_username: str) -> Account | None:
        """The account whose case-folded username matches, or None (one indexed query)."""
        return self._get_by_key(db, username_key(raw_username))

    def register(
        self,
        db: Session,
        now: datetime,
        *,
        username: str,
        password: str,
        confirm: str,
        email: str | None,
        locale: str,
        where: audit.Where,
    ) -> Account:
        """Create an active account, or raise :class:`RegistrationRefused` with every
        reason at once. The password is hashed whether or not the username is free, so the
        two outcomes take the same time (S6)."""
        display = normalise_username(username)
        refused = self.registration_problems(display, password, confirm)
        password_hash = self.hasher.hash(password)
        taken = refused.username is None and self.get_by_username(db, display) is not None
        if taken or refused.username or refused.password:
            raise RegistrationRefused(refused.username, taken, refused.password)
        account = Account(
            username=display,
            username_key=username_key(display),
            password_hash=password_hash,
            email=email or None,
            locale=locale,
            status=ACTIVE,
            created_at=now,
            password_changed_at=now,
            last_used_at=now,
        )
        db.add(account)
        try:
            db.flush()
        except IntegrityError:  # the same name registered a moment ago by someone else
            db.rollback()
            raise RegistrationRefused(username_taken=True) from None
        audit.record(db, now, audit.REGISTERED, actor=display, account_id=account.id, where=where)
        return account

    def registration_problems(self, username: str, password: str, confirm: str) -> RegistrationRefused:
        """What is wrong with a chosen username and password by the rules alone (S1, S2),
        without the database: a form missing a field still shows every other reason."""
        display = normalise_username(username)
        name_problem = username_problem(display, self.usernames.min_length, self.usernames.max_length)
        problems = self.policy.problems(password, context_words=[display]) if password else []
        if password and password != confirm:
            problems.append(PasswordProblem.MISMATCH)
        return RegistrationRefused(name_problem, False, tuple(problems))

    def verify_password(
        self, db: Session, now: datetime, *, username: str, password: str, where: audit.Where,
        passed: Callable[[PasswordAccount], None] | None = None,
    ) -> PasswordAccount:
        """The password step of sign-in (J1, J3). Returns the account when the password
        is right and the credential usable.

        On success the throttle reset (and any rehash) is left for the caller to commit.
        ``passed``: called with the account once the password is found right, before
        the step's writes are sent; what it queues (the session's renewal, S20) goes
        with them, and they are the step's last: one statement on PostgreSQL, sent alone
        in autocommit (idp.password_step_writes), so the caller's commit sends nothing
        (issue 11). Without it the caller renews after, in the same transaction.
        Raises :class:`TooManyAttempts` (locked; nothing checked), then
        :class:`InvalidCredentials` or :class:`RevokedCredential`. Known and unknown
        usernames do the same work: one claim that reads the account in the same
        statement (idp.claimed_account), one argon2 verification (S6).
        """
        key = username_key(username)
        try:
            row = self.throttle.claim(db, key, now, also=claimed_account.also_read(key))
        except TooManyAttempts:
            locked = self._get_by_key(db, key)
            audit.record(db, now, audit.LOGIN_LOCKED, actor=locked.username if locked else "unknown",
                         account_id=locked.id if locked else None, where=where)
            db.commit()
            raise
        found = claimed_account.from_claim(row)
        account, password_hash = found if found is not None else (None, None)
        check = self.hasher.verify(password_hash, password)
        if account is None or not check.matches:
            audit.record(
                db,
                now,
                audit.LOGIN_FAILURE,
                actor=account.username if account else "unknown",
                account_id=account.id if account else None,
                where=where,
            )
            db.commit()
            raise InvalidCredentials()
        # A correct password: the password count starts again; the second factor's does
        # not (D4, S7), so a known password buys no fresh guesses at the code. The clear
        # goes with the audit rows recorded before it (one statement on PostgreSQL).
        if account.status == REVOKED:
            audit.record(
                db, now, audit.LOGIN_REVOKED, actor=account.username, account_id=account.id, where=where
            )
            clear_password_count(db, self.throttle, key, last=True)
            db.commit()
            raise RevokedCredential()
        audit.record(db, now, audit.LOGIN_SUCCESS, actor=account.username,
                     account_id=account.id, where=where, step="password")
        if check.needs_rehash:
            claimed_account.set_password_hash(db, account, self.hasher.hash(password))
            audit.record(
                db, now, audit.PASSWORD_REHASHED, actor=account.username, account_id=account.id
            )
        if passed is not None:
            passed(account)
        clear_password_count(db, self.throttle, key, last=passed is not None)
        # Not committed here: the caller renews the session in the same transaction (in
        # ``passed``, or after), so a successful password step costs one commit after the
        # claim, or none when its writes were one statement.
        return account

    def remember_locale(self, db: Session, account: PasswordAccount, locale: str) -> None:
        """The language of this sign-in, for the account's mail; written only when it
        differs from the account's. The caller commits."""
        if account.locale != locale:
            claimed_account.set_locale(db, account, locale)

    def _get_by_key(self, db: Session, key: str) -> Account | None:
        return db.scalars(_BY_KEY, {"key": key}).first()

    def mark_used(self, account: Account, now: datetime) -> None:
        """A successful sign-in: the inactivity clock (D7) starts again.

        D7 counts unused time in whole days (730 by default), so a last use already
        within :data:`LAST_USE_PRECISION` is left as it is: signing in again soon after
        writes nothing to the account (issue 11). A reminder sent is always withdrawn."""
        if not self.marks_use(account, now):
            return
        account.last_used_at = now
        account.reminder_sent_days = None
        account.reminder_sent_at = None

    def marks_use(self, account: Account, now: datetime) -> bool:
        """Whether :meth:`mark_used` would change ``account`` (a row to write): rarely,
        once a day at most, or a reminder to withdraw."""
        return not (account.reminder_sent_days is None and account.reminder_sent_at is None
                    and timedelta(0) <= now - account.last_used_at < LAST_USE_PRECISION)

    def revoke(self, account: Account, reason: str, now: datetime) -> None:
        """Revoked is final (D7): no sign-in, no recovery. Sessions are ended by the
        caller, who owns the session store."""
        if reason not in REVOKE_REASONS:
            raise ValueError(f"reason must be one of {', '.join(REVOKE_REASONS)}")
        account.status = REVOKED
        account.revoked_at = now
        account.revoked_reason = reason
