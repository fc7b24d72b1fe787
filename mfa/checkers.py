"""One checker per kind of second factor (S10-S12), all of the same shape: given the
factor, the attempt and what was typed, pass quietly or raise :class:`WrongCode`.

The second step (:mod:`mfa.service`) never branches on the kind: it looks the checker
up by ``factor.kind``. A new kind of factor (a security key) is one new checker here and
one entry in :func:`checkers_for`. Checkers decide only "is this the factor"; counting
attempts, the audit log and the commit are the second step's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from idp.audit import Where
from idp.email_codes import CodeError, EmailCodes
from idp.models import Account
from mfa.factors import AMR, SecondFactors
from mfa.models import EMAIL, SECURITY_KEY, TOTP, SecondFactor
from mfa.second_step_writes import Guard
from mfa.security_keys import AMR_HARDWARE_KEY, CounterWentBack, KeyRefused, Pending, SecurityKeys

SIGN_IN = "mfa_sign_in"  # the emailed code's purpose (idp.email_codes) when signing in


@dataclass(frozen=True)
class Attempt:
    """One sign-in attempt at its second step: whose, which session (emailed codes are
    bound to it, S12), and where from (audit)."""

    account: Account
    binding: str
    where: Where


@dataclass
class WrongCode(Exception):
    """The typed code does not pass. ``blank``: nothing was typed. ``cause``: the
    emailed code's own refusal (attempts left, expired...), for the wording (S16)."""

    blank: bool
    cause: CodeError | None = None


@dataclass
class ClonedKey(WrongCode):
    """A security key's signature holds but its sign counter went back (WebAuthn
    §6.1.1): a cloned authenticator. Refused like a wrong code, audited on its own."""

    key_id: int = 0
    stored: int = 0
    got: int = 0


class Checker(Protocol):
    """What every kind of factor answers to."""

    kind: str
    amr: str  # D2: what the ID token says was used
    mails_code: bool  # the challenge page sends a code bound to the attempt (S12)
    # The check is one conditional write (:meth:`guard`), which the success's writes
    # can join in one statement (PostgreSQL, mfa.second_step_writes; issue 11).
    guarded: bool

    def verify(self, db: Session, factor: SecondFactor, attempt: Attempt, typed: str,
               now: datetime) -> None:
        """Pass when ``typed`` proves ``factor``; raises :class:`WrongCode`. The caller
        commits (a wrong emailed code's count is written in the caller's transaction)."""

    def guard(self, factor: SecondFactor, typed: str, now: datetime) -> Guard | None:
        """A guarded checker's check, not yet written: the conditional write that passes
        ``typed`` once, or None when ``typed`` cannot prove ``factor``. Others: None."""


class TotpChecker:
    """An authenticator app: a code of a step later than every step accepted (S11)."""

    kind = TOTP
    amr = AMR[TOTP]
    mails_code = False
    guarded = True

    def __init__(self, factors: SecondFactors) -> None:
        self._factors = factors

    def verify(self, db: Session, factor: SecondFactor, attempt: Attempt, typed: str,
               now: datetime) -> None:
        if not self._factors.claim_totp_step(db, factor, typed, now):
            raise WrongCode(blank=not typed.strip())

    def guard(self, factor: SecondFactor, typed: str, now: datetime) -> Guard | None:
        step = self._factors.totp_step(factor, typed, now)
        return self._factors.step_guard(factor, step) if step is not None else None


class EmailCodeChecker:
    """An emailed code, live and sent for this very sign-in attempt (S12, S16)."""

    kind = EMAIL
    amr = AMR[EMAIL]
    mails_code = True
    guarded = False  # its check writes the code's use and its attempts (S12, S16)

    def __init__(self, codes: EmailCodes) -> None:
        self._codes = codes

    def guard(self, factor: SecondFactor, typed: str, now: datetime) -> Guard | None:
        return None

    def verify(self, db: Session, factor: SecondFactor, attempt: Attempt, typed: str,
               now: datetime) -> None:
        try:
            self._codes.verify(db, attempt.account.id, SIGN_IN, typed, now,
                               binding=attempt.binding)
        except CodeError as refused:
            raise WrongCode(blank=not typed.strip(), cause=refused) from refused


class SecurityKeyChecker:
    """A security key or passkey (D3): the browser's answer to this attempt's challenge,
    signed by one of the account's keys, for this origin, its counter moving on. The
    account's keys are rows of their own (several per account), so this checker is
    given the answer and the pending challenge rather than a :class:`SecondFactor`."""

    kind = SECURITY_KEY
    amr = AMR_HARDWARE_KEY
    mails_code = False

    def __init__(self, keys: SecurityKeys) -> None:
        self._keys = keys

    def verify_answer(self, db: Session, attempt: Attempt, answer: str,
                      pending: Pending | None, now: datetime) -> list[str]:
        """The amr values the key proves (``hwk`` or ``swk``, and ``pop``); raises
        :class:`WrongCode` (:class:`ClonedKey` for a counter that went back)."""
        try:
            key = self._keys.verify_assertion(db, attempt.account.id, pending, answer,
                                              attempt.binding, now)
        except CounterWentBack as clone:
            raise ClonedKey(blank=False, key_id=clone.key.id, stored=clone.key.sign_count,
                            got=clone.got) from clone
        except KeyRefused as refused:
            raise WrongCode(blank=not answer.strip()) from refused
        return self._keys.amr_of(key)


def checkers_for(factors: SecondFactors, codes: EmailCodes) -> Mapping[str, Checker]:
    """Every kind of factor Clef knows, by ``SecondFactor.kind``."""
    found: list[Checker] = [TotpChecker(factors), EmailCodeChecker(codes)]
    return {checker.kind: checker for checker in found}
