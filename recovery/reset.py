"""Forgot password (J7): the rules of each step, with plain values (no request).

Steps, each ending in a token of its own purpose (``recovery.tokens``):

1. The username. Every username gets the same answer and work (S6): one look-up, one
   write of the newest flow and its code (``recovery.reset_codes``), one mail rendered
   by the view. Only an active account with a confirmed recovery email is mailed the
   code (S16).
2. Either the emailed code, then the recovery question (email route), or the three
   security questions (questions route; D1: a strict per-username limit).
3. The new password, under the policy of registration (S1, S2), not the current one.

A finished reset (S15, S18) signs nobody in and leaves the second factor alone; it ends
every session of the account, clears the password-step lock, and the view notifies the
recovery email. D9: it restores the password, not fresh guesses: the second-step count
(and its lock) and the limit on wrong answers survive it, so someone who knows the
answers cannot loop "five wrong codes, reset, five more".

Revoked credentials (S19, D7): nothing may tell someone who only typed a username that
it exists, so at step 1 a revoked credential is treated like an unknown one: no code, the
same pages. Its owner is told instead where only the owner can read it: the recovery
email gets a notice that the credential is revoked and cannot be recovered, and someone
who answers all three security questions correctly is shown the revoked page. Neither
ever leads to a new password.

For a username with no usable email route (unknown, revoked, or no confirmed email) the
code step plays out the same, on the same row: a code nobody receives, with the same
messages, tries, expiry and restarts as a mailed one, so the code page does not tell the
cases apart either.

The steps' ``verify_*`` return the next step's token or raise (STYLE verbs, as in
``idp.accounts``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from idp import audit
from idp.accounts import AccountService
from idp.email_codes import (
    CodeError,
    CodeExpired,
    NoLiveCode,
    ResendTooSoon,
    TooManyWrongCodes,
    WrongCode,
)
from idp.keys import KeyRing
from idp.models import Account
from idp.password_policy import PasswordPolicy, PasswordProblem
from idp.passwords import PasswordHasher
from idp.sessions import SessionStore
from idp.throttle import PASSWORD_STEP, RESET_CODE_STEP, Throttle, TooManyAttempts
from idp.usernames import normalise_username, username_key
from recovery.answers import Answers, Hints, check_all, check_answer, hints_of
from recovery.decoys import decoy_hints
from recovery.limits import AnswerLimits, Claimed, TooManyWrongAnswers
from recovery.models import RecoveryQuestions
from recovery.reset_codes import ResetCodes
from recovery.tokens import CODE_PASSED, STARTED, VERIFIED, FlowTokens, InvalidToken

CODE_PURPOSE = "password_reset"  # the audit's name for the code

__all__ = [
    "CodeError",
    "CodeExpired",
    "CredentialRevoked",
    "Flow",
    "InvalidToken",
    "NewPasswordRefused",
    "NoLiveCode",
    "ResendTooSoon",
    "ResetService",
    "TooManyWrongAnswers",
    "TooManyWrongCodes",
    "WrongAnswer",
    "WrongCode",
]


class CredentialRevoked(Exception):
    """All three answers were right but the credential is revoked (S19): say so."""


@dataclass(frozen=True)
class WrongAnswer(Exception):
    """An answer was wrong; ``left`` more tries before the questions are refused (D1)."""

    left: int


@dataclass(frozen=True)
class NewPasswordRefused(Exception):
    problems: tuple[PasswordProblem, ...] = ()
    same_as_current: bool = False


@dataclass(frozen=True)
class CodeMail:
    """A code for the view to send: to whom, in which language."""

    to: str
    code: str
    username: str
    locale: str


@dataclass(frozen=True)
class Started:
    token: str
    code_mail: CodeMail | None = None
    # S19: the owner's recovery email is told the credential is revoked.
    revoked_notice_to: Account | None = None


@dataclass(frozen=True)
class Flow:
    """What a live token names."""

    purpose: str
    username: str
    key: str
    nonce: str
    account: Account | None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def has_email_route(self) -> bool:
        return self.account is not None and _has_email_route(self.account)


@dataclass(frozen=True)
class ResetDone:
    account: Account
    sessions_ended: int


class ResetService:
    """Given the core services it uses, not the app's whole container (issue 10)."""

    def __init__(self, *, keys: KeyRing, accounts: AccountService, hasher: PasswordHasher,
                 policy: PasswordPolicy, sessions: SessionStore, throttle: Throttle,
                 tokens: FlowTokens, limits: AnswerLimits, codes: ResetCodes) -> None:
        self._keys = keys
        self.accounts = accounts
        self.hasher = hasher
        self.policy = policy
        self.sessions = sessions
        self.throttle = throttle
        self.tokens = tokens
        self.limits = limits
        self.codes = codes

    # --- step 1 -----------------------------------------------------------------------

    def start(self, db: Session, now: datetime, username: str, where: audit.Where) -> Started:
        """Begin a flow for whatever was typed (S6: the same answer, statements and
        writes either way; only a real account's code is handed back to be mailed)."""
        display, key = normalise_username(username), username_key(username)
        account = self.accounts.get_by_username(db, display)
        started = self.codes.start(db, key, now)
        code_mail: CodeMail | None = None
        if started.code is not None and account is not None and _has_email_route(account):
            code_mail = CodeMail(account.email or "", started.code, account.username, account.locale)
        self._purge(db, now)
        tag = audit.RECOVERY_RESET_REVOKED if account and account.is_revoked else audit.RECOVERY_RESET_STARTED
        audit.record(db, now, tag, actor=account.username if account else "unknown",
                     account_id=account.id if account else None, where=where,
                     code_sent=code_mail is not None)
        db.commit()
        token = self.tokens.make(STARTED, {"u": display, "n": started.nonce,
                                           "s": self.tokens.state_of(account)})
        # The owner of a revoked credential is told as often as a code would go out.
        revoked = (account if started.code is not None and account is not None
                   and account.is_revoked and account.has_confirmed_email else None)
        return Started(token, code_mail, revoked)

    def _purge(self, db: Session, now: datetime) -> None:
        """Every username typed leaves a row (S6 needs the same write for all), so the
        dead ones go as new flows start: one indexed delete per table."""
        self.codes.purge(db, now - self.tokens.lifetime)
        self.limits.purge(db, now)

    def flow(self, db: Session, purpose: str, token: str | None) -> Flow:
        """The flow a token of ``purpose`` names, still live: the account's state is
        unchanged and no newer flow has started. Raises :class:`InvalidToken`."""
        payload = self.tokens.read(purpose, token)
        display = str(payload.get("u", ""))
        key = username_key(display)
        account = self.accounts.get_by_username(db, display)
        state = str(payload.get("s", ""))
        if not secrets.compare_digest(state, self.tokens.state_of(account)):
            raise InvalidToken()
        newest = self.codes.nonce_of(db, key)
        if newest is None or not secrets.compare_digest(newest, str(payload.get("n"))):
            raise InvalidToken()
        return Flow(purpose, display, key, str(payload["n"]), account, payload)

    # --- step 2, email route -------------------------------------------------------------

    def verify_code(self, db: Session, now: datetime, flow: Flow, code: str,
                   where: audit.Where) -> tuple[str, str]:
        """The emailed code (S16). Returns the next step's purpose and token: the
        recovery question, or the new password when the account has no questions.
        Raises a :class:`CodeError`, or :class:`TooManyAttempts` while wrong codes of
        this username have locked the step (D4: counted across codes and flows before
        the code is checked, cleared by a code that passes), the same for every
        username (S6)."""
        account = flow.account
        actor = account.username if account else "unknown"
        account_id = account.id if account else None
        try:
            self.throttle.claim_with_check(db, flow.key, now, RESET_CODE_STEP)
        except TooManyAttempts:
            audit.record(db, now, audit.EMAIL_CODE_FAILED, actor=actor, account_id=account_id,
                         where=where, purpose=CODE_PURPOSE, locked="yes")
            db.commit()
            raise
        try:
            self.codes.verify(db, flow.key, flow.nonce, code, now,
                              deliverable=flow.has_email_route)
        except CodeError:
            audit.record(db, now, audit.EMAIL_CODE_FAILED, actor=actor, account_id=account_id,
                         where=where, purpose=CODE_PURPOSE)
            db.commit()
            raise
        self.throttle.clear(db, flow.key, (RESET_CODE_STEP,))
        db.commit()
        if account is None:  # only a mailed code passes: never reached
            raise NoLiveCode()
        purpose = CODE_PASSED if db.get(RecoveryQuestions, account.id) is not None else VERIFIED
        if purpose == VERIFIED:
            self._verified(db, now, account, where, "code")
        return purpose, self._next(flow, purpose)

    def resend(
        self, db: Session, now: datetime, flow: Flow, where: audit.Where
    ) -> tuple[str, CodeMail | None]:
        """A new code for the same flow; the old one stops working (S16). Raises
        :class:`ResendTooSoon` or :class:`NoLiveCode` (superseded meanwhile), for every
        username alike."""
        code = self.codes.resend(db, flow.key, flow.nonce, now)
        account = flow.account
        mail: CodeMail | None = None
        if flow.has_email_route and account is not None:
            mail = CodeMail(account.email or "", code, account.username, account.locale)
        audit.record(db, now, audit.EMAIL_CODE_SENT,
                     actor=account.username if account else "unknown",
                     account_id=account.id if account else None, where=where,
                     purpose=CODE_PURPOSE, mailed=mail is not None)
        db.commit()
        return self.tokens.make(STARTED, flow.payload), mail

    # --- step 2, the questions -------------------------------------------------------------

    def hints(self, db: Session, flow: Flow) -> Hints:
        """The question and hints to show: the account's own, or decoys (S6)."""
        row = self._questions(db, flow)
        return hints_of(row) if row is not None else decoy_hints(self._keys, flow.key)

    def _questions(self, db: Session, flow: Flow) -> RecoveryQuestions | None:
        return None if flow.account is None else db.get(RecoveryQuestions, flow.account.id)

    def verify_question(self, db: Session, now: datetime, flow: Flow, answer: str,
                       where: audit.Where) -> str:
        """The recovery question after the code (email route). Raises
        :class:`WrongAnswer` or :class:`TooManyWrongAnswers`."""
        claimed = self.limits.claim(db, flow.key, now)
        row = self._questions(db, flow)
        if row is None or flow.account is None or not check_answer(self.hasher, row, answer):
            raise self._wrong(db, now, flow, claimed, where)
        self._verified(db, now, flow.account, where, "code+question")
        return self._next(flow, VERIFIED)

    def verify_questions(self, db: Session, now: datetime, flow: Flow, answers: Answers,
                        where: audit.Where) -> str:
        """All three questions (questions route, D1). Three argon2 verifications for
        every username (S6). Raises :class:`WrongAnswer`, :class:`TooManyWrongAnswers`
        or, when all are right for a revoked credential, :class:`CredentialRevoked`."""
        claimed = self.limits.claim(db, flow.key, now)
        row = self._questions(db, flow)
        if not check_all(self.hasher, row, answers) or flow.account is None:
            raise self._wrong(db, now, flow, claimed, where)
        if flow.account.is_revoked:
            audit.record(db, now, audit.RECOVERY_RESET_REVOKED, actor=flow.account.username,
                         account_id=flow.account.id, where=where, step="questions")
            db.commit()
            raise CredentialRevoked()
        self._verified(db, now, flow.account, where, "questions")
        return self._next(flow, VERIFIED)

    def _verified(self, db: Session, now: datetime, account: Account, where: audit.Where,
                  route: str) -> None:
        """S28: the person proved who they are; only the new password is left."""
        audit.record(db, now, audit.RECOVERY_VERIFIED, actor=account.username,
                     account_id=account.id, where=where, route=route)
        db.commit()

    def _wrong(self, db: Session, now: datetime, flow: Flow, claimed: Claimed,
               where: audit.Where) -> Exception:
        account = flow.account
        audit.record(db, now, audit.RECOVERY_ANSWER_FAILED,
                     actor=account.username if account else "unknown",
                     account_id=account.id if account else None, where=where, left=claimed.left)
        db.commit()
        if claimed.left <= 0:
            return TooManyWrongAnswers(self.limits.block)
        return WrongAnswer(claimed.left)

    def _next(self, flow: Flow, purpose: str) -> str:
        return self.tokens.make(purpose, flow.payload)

    # --- step 3 -------------------------------------------------------------------------

    def set_password(self, db: Session, now: datetime, flow: Flow, password: str,
                     confirm: str, where: audit.Where,
                     notify: Callable[[Account], None] | None = None) -> ResetDone:
        """The new password (S1, S2, not the current one), then S15 and S18. Raises
        :class:`NewPasswordRefused` with every reason at once, or :class:`InvalidToken`
        when the flow is not proven or another request of it set a password first.
        ``notify`` stages the notification (S18) in the same transaction, so it is never
        lost."""
        account = flow.account
        if flow.purpose != VERIFIED or account is None or account.is_revoked:
            raise InvalidToken()
        problems = self.policy.problems(password, context_words=[account.username])
        if password != confirm:
            problems.append(PasswordProblem.MISMATCH)
        same = self.hasher.verify(account.password_hash, password).matches
        if problems or same:
            raise NewPasswordRefused(tuple(problems), same)
        new_hash = self.hasher.hash(password)
        # One flow sets one password: of concurrent tries with one token, the one whose
        # delete of the flow's row counts wins; the others find it gone.
        if not self.codes.finish(db, flow.key, flow.nonce):
            db.rollback()
            raise InvalidToken()
        account.password_hash = new_hash
        account.password_changed_at = now
        ended = self.end_everything(db, account)
        audit.record(db, now, audit.RECOVERY_PASSWORD_RESET, actor=account.username,
                     account_id=account.id, where=where, sessions_ended=ended)
        if notify is not None:
            notify(account)
        db.commit()
        return ResetDone(account, ended)

    def end_everything(self, db: Session, account: Account) -> int:
        """S18: what a finished reset ends and clears. The caller commits.

        Ending the account's sessions also tells the provider, which revokes every
        access and refresh token of the account and tells its portals (S40). Only the
        password step's count and lock are cleared (D4, D9); the second step's and the
        answer limit are left as they are."""
        key = username_key(account.username)
        ended = self.sessions.end_for_account(db, account.id)
        self.throttle.clear(db, key, (PASSWORD_STEP,))
        return ended


def _has_email_route(account: Account) -> bool:
    return not account.is_revoked and account.has_confirmed_email

