"""Codes sent by email (S16, S12; ASVS 6.6.2): random digits, short-lived, single use,
dead once a newer one is sent, a few wrong tries before the flow starts again.

One row per (account, purpose) holds the live code's keyed hash, what it is bound to
(the address being confirmed, a sign-in attempt), its expiry and its wrong tries. The
core uses it to confirm a recovery email; the second-factor and recovery slices use it
for their own purposes.

:meth:`EmailCodes.send` (issue, audit, stage the mail, commit, send) and
:meth:`EmailCodes.confirm_address` (the code proves an address, which becomes the
account's recovery email) are the whole flows, so that views only call and render: the
mail itself is the caller's (a function that stages it in the outbox and one that sends
what was staged, ``idp.mail_render``), since rendering needs the web layer.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from idp import audit
from idp.keys import KeyRing
from idp.models import Account, EmailCode
from idp.settings import EmailCodeSettings

CODE_HASH_PURPOSE = "email_code"


class CodeError(Exception):
    """Base of what a code check refuses."""


class NoLiveCode(CodeError):
    """No code was sent, it was used, or the flow was restarted."""


class CodeExpired(CodeError):
    """The code is older than its lifetime; it is deleted."""


@dataclass
class WrongCode(CodeError):
    """Not the code; ``attempts_left`` more tries before the code dies."""

    attempts_left: int


class TooManyWrongCodes(CodeError):
    """The last allowed try failed; the code is deleted and the flow restarts (S16)."""


@dataclass
class ResendTooSoon(CodeError):
    retry_after: timedelta


# Stage the mail holding ``code`` (valid ``minutes``) in the current transaction.
StageCodeMail = Callable[[str, int], object]
# Send what was staged once committed; False when a mail could not leave now.
SendStaged = Callable[[], bool]
# After a new address is confirmed, before the commit: (previous confirmed address, new).
AddressConfirmed = Callable[[str | None, str], None]


def _drop(db: Session, row: EmailCode) -> None:
    """Delete a used or dead code now (flushed), so a new one can be issued in the same
    transaction; the caller still commits."""
    db.delete(row)
    db.flush()


class EmailCodes:
    def __init__(self, settings: EmailCodeSettings, keys: KeyRing) -> None:
        self._settings = settings
        self._keys = keys

    def _hash(self, account_id: int, purpose: str, code: str) -> str:
        return self._keys.keyed_hash(CODE_HASH_PURPOSE, f"{account_id}:{purpose}:{code}")

    def issue(
        self, db: Session, account_id: int, purpose: str, binding: str, now: datetime
    ) -> str:
        """A fresh code for ``purpose``, replacing any earlier one (which stops working).

        Returns the code in clear, for the mail only. Raises :class:`ResendTooSoon` when
        the last code went out less than ``resend_interval_seconds`` ago; asking again
        does not reset the wrong-try count of a live code (S7)."""
        existing = db.get(EmailCode, (account_id, purpose))
        interval = timedelta(seconds=self._settings.resend_interval_seconds)
        if existing is not None and now - existing.created_at < interval:
            raise ResendTooSoon(interval - (now - existing.created_at))
        code = f"{secrets.randbelow(10**self._settings.digits):0{self._settings.digits}d}"
        lifetime = timedelta(minutes=self._settings.lifetime_minutes)
        if existing is None:
            existing = EmailCode(account_id=account_id, purpose=purpose, attempts=0)
            db.add(existing)
        elif existing.binding != binding:
            existing.attempts = 0
        existing.binding = binding
        existing.code_hash = self._hash(account_id, purpose, code)
        existing.created_at = now
        existing.expires_at = now + lifetime
        return code

    def verify(
        self, db: Session, account_id: int, purpose: str, code: str, now: datetime,
        binding: str | None = None,
    ) -> str:
        """Consume the live code when ``code`` matches; returns what it was bound to.

        With ``binding``, only a code sent for that (a sign-in attempt, S12) is live:
        another attempt's code is neither checked nor used up here.
        Raises :class:`NoLiveCode`, :class:`CodeExpired`, :class:`WrongCode` or
        :class:`TooManyWrongCodes`. The comparison is constant-time. Using the code and
        counting a wrong try are each one conditional statement, so concurrent tries
        cannot both use it or lose a count (D4). The caller commits.
        """
        row = db.get(EmailCode, (account_id, purpose), with_for_update=True)
        if row is None or (binding is not None and row.binding != binding):
            raise NoLiveCode()
        if now >= row.expires_at:
            _drop(db, row)
            raise CodeExpired()
        cleaned = "".join(ch for ch in code if ch in "0123456789")  # ASCII digits only
        this_code = (EmailCode.account_id == account_id, EmailCode.purpose == purpose,
                     EmailCode.code_hash == row.code_hash)
        if self._keys.matches(CODE_HASH_PURPOSE, f"{account_id}:{purpose}:{cleaned}", row.code_hash):
            # Used up by one conditional DELETE: of concurrent uses exactly one wins,
            # on SQLite too (where FOR UPDATE above is not a lock).
            binding = row.binding
            used = db.execute(delete(EmailCode).where(*this_code)).rowcount  # type: ignore[attr-defined]
            db.expunge(row)
            if not used:
                raise NoLiveCode()
            return binding
        attempts = db.scalar(update(EmailCode).where(*this_code)
                             .values(attempts=EmailCode.attempts + 1)
                             .returning(EmailCode.attempts)
                             .execution_options(synchronize_session=False))
        db.expire(row)
        if attempts is None:
            raise NoLiveCode()  # a concurrent try used or killed it
        left = self._settings.max_attempts - attempts
        if left <= 0:
            db.execute(delete(EmailCode).where(*this_code))
            db.expunge(row)
            raise TooManyWrongCodes()
        raise WrongCode(left)

    def discard(self, db: Session, account_id: int, purpose: str) -> None:
        db.execute(
            delete(EmailCode).where(EmailCode.account_id == account_id, EmailCode.purpose == purpose)
        )

    def pending_binding(self, db: Session, account_id: int, purpose: str) -> str | None:
        row = db.get(EmailCode, (account_id, purpose))
        return None if row is None else row.binding

    def send(self, db: Session, account: Account, purpose: str, binding: str, now: datetime,
             where: audit.Where, *, stage: StageCodeMail, send: SendStaged,
             tag: str = audit.EMAIL_CODE_SENT) -> bool:
        """Issue a fresh code for ``purpose`` bound to ``binding`` (an address being
        confirmed, a sign-in attempt) and mail it (S16).

        The code, the audit row and the staged mail are committed together before the
        mail leaves, so a mail that cannot leave now (False) loses nothing: the page
        offers a new code, and the worker still sends this one while the code lives.
        Raises :class:`ResendTooSoon` (nothing written) when asked again too soon."""
        code = self.issue(db, account.id, purpose, binding, now)
        audit.record(db, now, tag, actor=account.username, account_id=account.id,
                     where=where, purpose=purpose)
        stage(code, self._settings.lifetime_minutes)
        db.commit()
        return send()

    def confirm_address(self, db: Session, account: Account, purpose: str, typed: str,
                        now: datetime, where: audit.Where, *, tag: str,
                        expected: str | None = None,
                        confirmed: AddressConfirmed | None = None) -> str:
        """The code sent to an address proves it: that address becomes the account's
        confirmed recovery email, audited as ``tag``; ``confirmed`` (given the previous
        confirmed address and the new one) stages notifications before the commit.

        Returns the address. Raises :class:`CodeError` (audited, the wrong try counted),
        :class:`NoLiveCode` too when the code was for another address than
        ``expected``. Commits either way."""
        try:
            address = self.verify(db, account.id, purpose, typed, now)
            if expected is not None and address != expected:
                raise NoLiveCode()
        except CodeError:
            audit.record(db, now, audit.EMAIL_CODE_FAILED, actor=account.username,
                         account_id=account.id, where=where, purpose=purpose)
            db.commit()
            raise
        previous = account.email if account.has_confirmed_email else None
        account.email, account.email_confirmed_at = address, now
        audit.record(db, now, tag, actor=account.username, account_id=account.id, where=where)
        if confirmed is not None:
            confirmed(previous, address)
        db.commit()
        return address
