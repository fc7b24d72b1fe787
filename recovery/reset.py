"""Forgot password (J7): the rules of each step, with plain values (no request).

Steps, each ending in a token of its own purpose (``recovery.tokens``):

1. The username. Every username gets the same answer and work (S6): one look-up, one
   write of the newest flow, one mail rendered by the view. An active account with a
   confirmed recovery email is sent a code (S16), bound to the flow's nonce.
2. Either the emailed code, then the recovery question (email route), or the three
   security questions (questions route; D1: a strict per-username limit).
3. The new password, under the policy of registration (S1, S2), not the current one.

A finished reset (S15, S18) signs nobody in and leaves the second factor alone; it ends
every session of the account, clears the sign-in lock and the answer limit, and the view
notifies the recovery email.

Revoked credentials (S19, D7): nothing may tell someone who only typed a username that
it exists, so at step 1 a revoked credential is treated like an unknown one: no code, the
same pages. Its owner is told instead where only the owner can read it: the recovery
email gets a notice that the credential is revoked and cannot be recovered, and someone
who answers all three security questions correctly is shown the revoked page. Neither
ever leads to a new password.

For a username with no usable email route (unknown, revoked, or no confirmed email) the
code step is played out from the token alone, with the same messages, tries and expiry
as a real code, so the code page does not tell the cases apart either.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from idp import audit
from idp.email_codes import (
    CodeError,
    CodeExpired,
    EmailCodes,
    NoLiveCode,
    ResendTooSoon,
    TooManyWrongCodes,
    WrongCode,
)
from idp.keys import KeyRing
from idp.models import Account
from idp.password_policy import PasswordProblem
from idp.runtime import Services
from idp.usernames import normalise_username, username_key
from recovery.answers import Answers, Hints, check_all, check_answer, hints_of
from recovery.decoys import decoy_hints
from recovery.limits import AnswerLimits, Claimed, TooManyWrongAnswers
from recovery.models import RecoveryQuestions, ResetFlow
from recovery.tokens import CODE_PASSED, STARTED, VERIFIED, FlowTokens, InvalidToken

CODE_PURPOSE = "password_reset"
FLOW_KEY_PURPOSE = "recovery.flow.username"

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
        a = self.account
        return a is not None and not a.is_revoked and a.has_confirmed_email


@dataclass(frozen=True)
class ResetDone:
    account: Account
    sessions_ended: int


class ResetService:
    def __init__(self, core: Services, tokens: FlowTokens, limits: AnswerLimits) -> None:
        self.core = core
        self.tokens = tokens
        self.limits = limits

    @property
    def _codes(self) -> EmailCodes:
        return self.core.email_codes

    @property
    def _keys(self) -> KeyRing:
        return self.core.keys

    # --- step 1 -----------------------------------------------------------------------

    def start(self, db: Session, now: datetime, username: str, where: audit.Where) -> Started:
        """Begin a flow for whatever was typed (S6: the same answer either way)."""
        display, key = normalise_username(username), username_key(username)
        account = self.core.accounts.get_by_username(db, display)
        nonce = secrets.token_urlsafe(24)
        code_mail: CodeMail | None = None
        if account is not None and not account.is_revoked and account.has_confirmed_email:
            try:
                code = self._codes.issue(db, account.id, CODE_PURPOSE, nonce, now)
            except ResendTooSoon:
                # A code left moments ago (a double submit): this flow takes it over.
                nonce = self._codes.pending_binding(db, account.id, CODE_PURPOSE) or nonce
            else:
                code_mail = CodeMail(account.email or "", code, account.username, account.locale)
        self._remember_flow(db, key, nonce, now)
        self._purge(db, now)
        tag = audit.RECOVERY_RESET_REVOKED if account and account.is_revoked else audit.RECOVERY_RESET_STARTED
        audit.record(db, now, tag, actor=account.username if account else "unknown",
                     account_id=account.id if account else None, where=where,
                     code_sent=code_mail is not None)
        db.commit()
        token = self.tokens.make(STARTED, {"u": display, "n": nonce,
                                           "s": self.tokens.state_of(account),
                                           "t": _stamp(now), "w": 0})
        revoked = account if account and account.is_revoked and account.has_confirmed_email else None
        return Started(token, code_mail, revoked)

    def _flow_key(self, key: str) -> str:
        return self._keys.keyed_hash(FLOW_KEY_PURPOSE, key)

    def _remember_flow(self, db: Session, key: str, nonce: str, now: datetime) -> None:
        dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(ResetFlow).values(key=self._flow_key(key), nonce=nonce,
                                                     started_at=now)
        db.execute(statement.on_conflict_do_update(
            index_elements=[ResetFlow.key], set_={"nonce": nonce, "started_at": now}))

    def _purge(self, db: Session, now: datetime) -> None:
        """Every username typed leaves a row (S6 needs the same write for all), so the
        dead ones go as new flows start: one indexed delete per table."""
        db.execute(delete(ResetFlow).where(ResetFlow.started_at < now - self.tokens.lifetime))
        self.limits.purge(db, now)

    def flow(self, db: Session, purpose: str, token: str | None) -> Flow:
        """The flow a token of ``purpose`` names, still live: the account's state is
        unchanged and no newer flow has started. Raises :class:`InvalidToken`."""
        payload = self.tokens.read(purpose, token)
        display = str(payload.get("u", ""))
        key = username_key(display)
        account = self.core.accounts.get_by_username(db, display)
        state = str(payload.get("s", ""))
        if not secrets.compare_digest(state, self.tokens.state_of(account)):
            raise InvalidToken()
        newest = db.get(ResetFlow, self._flow_key(key))
        if newest is None or not secrets.compare_digest(newest.nonce, str(payload.get("n"))):
            raise InvalidToken()
        return Flow(purpose, display, key, str(payload["n"]), account, payload)

    # --- step 2, email route -------------------------------------------------------------

    def check_code(self, db: Session, now: datetime, flow: Flow, code: str,
                   where: audit.Where) -> tuple[str, str]:
        """The emailed code (S16). Returns the next step's purpose and token: the
        recovery question, or the new password when the account has no questions. Raises a
        :class:`CodeError`; the caller then keeps :meth:`after_code_error`'s token."""
        if not flow.has_email_route or flow.account is None:
            raise self._decoy_code_error(flow, now)
        account = flow.account
        try:
            bound = self._codes.verify(db, account.id, CODE_PURPOSE, code, now)
        except CodeError:
            audit.record(db, now, audit.EMAIL_CODE_FAILED, actor=account.username,
                         account_id=account.id, where=where, purpose=CODE_PURPOSE)
            db.commit()
            raise
        if not secrets.compare_digest(bound, flow.nonce):
            db.commit()
            raise NoLiveCode()
        db.commit()
        purpose = CODE_PASSED if db.get(RecoveryQuestions, account.id) is not None else VERIFIED
        if purpose == VERIFIED:
            self._verified(db, now, account, where, "code")
        return purpose, self._next(flow, purpose)

    def _decoy_code_error(self, flow: Flow, now: datetime) -> CodeError:
        """What a real code check would say, from the token's own count and time."""
        sent = flow.payload.get("t")
        if sent is None:
            return NoLiveCode()
        lifetime = timedelta(minutes=self.core.settings.email_code.lifetime_minutes)
        if now >= _from_stamp(sent) + lifetime:
            return CodeExpired()
        tries = int(flow.payload.get("w", 0)) + 1
        left = self.core.settings.email_code.max_attempts - tries
        if left <= 0:
            return TooManyWrongCodes()
        return WrongCode(left)

    def after_code_error(self, flow: Flow, error: CodeError) -> str:
        """The token to keep after a refused code: the decoy's count and time move as a
        real code's would (a dead code stays dead)."""
        payload = dict(flow.payload)
        if isinstance(error, WrongCode):
            payload["w"] = int(payload.get("w", 0)) + 1
        elif isinstance(error, (CodeExpired, TooManyWrongCodes)):
            payload["t"], payload["w"] = None, 0
        return self.tokens.make(STARTED, payload)

    def resend(
        self, db: Session, now: datetime, flow: Flow, where: audit.Where
    ) -> tuple[str, CodeMail | None]:
        """A new code for the same flow; the old one stops working (S16). Raises
        :class:`ResendTooSoon`, for every username alike."""
        interval = timedelta(seconds=self.core.settings.email_code.resend_interval_seconds)
        sent = flow.payload.get("t")
        if sent is not None and now - _from_stamp(sent) < interval:
            raise ResendTooSoon(interval - (now - _from_stamp(sent)))
        mail: CodeMail | None = None
        account = flow.account
        if flow.has_email_route and account is not None:
            code = self._codes.issue(db, account.id, CODE_PURPOSE, flow.nonce, now)
            mail = CodeMail(account.email or "", code, account.username, account.locale)
            audit.record(db, now, audit.EMAIL_CODE_SENT, actor=account.username,
                         account_id=account.id, where=where, purpose=CODE_PURPOSE)
            db.commit()
        payload = {**flow.payload, "t": _stamp(now)}
        return self.tokens.make(STARTED, payload), mail

    # --- step 2, the questions -------------------------------------------------------------

    def hints(self, db: Session, flow: Flow) -> Hints:
        """The question and hints to show: the account's own, or decoys (S6)."""
        row = self._questions(db, flow)
        return hints_of(row) if row is not None else decoy_hints(self._keys, flow.key)

    def _questions(self, db: Session, flow: Flow) -> RecoveryQuestions | None:
        return None if flow.account is None else db.get(RecoveryQuestions, flow.account.id)

    def check_question(self, db: Session, now: datetime, flow: Flow, answer: str,
                       where: audit.Where) -> str:
        """The recovery question after the code (email route). Raises
        :class:`WrongAnswer` or :class:`TooManyWrongAnswers`."""
        claimed = self.limits.claim(db, flow.key, now)
        row = self._questions(db, flow)
        if row is None or flow.account is None or not check_answer(self.core.hasher, row, answer):
            raise self._wrong(db, now, flow, claimed, where)
        self._verified(db, now, flow.account, where, "code+question")
        return self._next(flow, VERIFIED)

    def check_questions(self, db: Session, now: datetime, flow: Flow, answers: Answers,
                        where: audit.Where) -> str:
        """All three questions (questions route, D1). Three argon2 verifications for
        every username (S6). Raises :class:`WrongAnswer`, :class:`TooManyWrongAnswers`
        or, when all are right for a revoked credential, :class:`CredentialRevoked`."""
        claimed = self.limits.claim(db, flow.key, now)
        row = self._questions(db, flow)
        if not check_all(self.core.hasher, row, answers) or flow.account is None:
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
        return self.tokens.make(purpose, {**flow.payload, "t": None, "w": 0})

    # --- step 3 -------------------------------------------------------------------------

    def set_password(self, db: Session, now: datetime, flow: Flow, password: str,
                     confirm: str, where: audit.Where,
                     notify: Callable[[Account], None] | None = None) -> ResetDone:
        """The new password (S1, S2, not the current one), then S15 and S18. Raises
        :class:`NewPasswordRefused` with every reason at once. ``notify`` stages the
        notification (S18) in the same transaction, so it is never lost."""
        account = flow.account
        if flow.purpose != VERIFIED or account is None or account.is_revoked:
            raise InvalidToken()
        problems = self.core.policy.problems(password, context_words=[account.username])
        if password != confirm:
            problems.append(PasswordProblem.MISMATCH)
        same = self.core.hasher.verify(account.password_hash, password).matches
        if problems or same:
            raise NewPasswordRefused(tuple(problems), same)
        account.password_hash = self.core.hasher.hash(password)
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
        access and refresh token of the account and tells its portals (S40)."""
        key = username_key(account.username)
        ended = self.core.sessions.end_for_account(db, account.id)
        self.core.throttle.clear(db, key)  # every sign-in step's count and lock (D4)
        self.limits.clear(db, key)
        self._codes.discard(db, account.id, CODE_PURPOSE)
        db.execute(delete(ResetFlow).where(ResetFlow.key == self._flow_key(key)))
        return ended


def _stamp(now: datetime) -> int:
    return int(now.timestamp())


def _from_stamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)

