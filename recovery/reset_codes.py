"""The newest forgot-password flow of each username and its emailed code (S6, S16).

Every username typed at step 1, existing or not, gets the same row and the same code
life: a nonce naming the newest flow, and a code (its keyed hash, when it went out, the
wrong tries so far). Only whether the code is mailed differs, and nobody but the owner
of the recovery email can see that. So a restart, a resend, a wrong code, an expired or
dead code and a superseded flow play out the same for every username, by the same
statements: there is no path, page, count or row write that only a real account has.
(Before, a real account's code lived in the core's code table and a made-up name's in
the flow's token; the two parted ways on a restart within the resend interval.)

Rules (those of the core's emailed codes, S16): a code lives ``lifetime_minutes`` and
``max_attempts`` wrong tries; "send a new code" waits ``resend_interval_seconds`` and
keeps the count of a live code (S7); a start within that interval is a double submit and
takes the code over (count included) under a new nonce, so the older flow is dead; a
later start is a new flow with a new code. A code is used up, and a wrong try counted, by
one conditional UPDATE, so of concurrent tries exactly one can win and none is lost.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idp.clock import as_utc
from idp.email_codes import (
    CodeExpired,
    NoLiveCode,
    ResendTooSoon,
    TooManyWrongCodes,
    WrongCode,
)
from idp.keys import KeyRing
from idp.settings import EmailCodeSettings
from idp.upsert import upsert
from recovery.models import ResetFlow

FLOW_KEY_PURPOSE = "recovery.flow.username"
CODE_HASH_PURPOSE = "recovery.reset-code"


@dataclass(frozen=True)
class StartedFlow:
    """A new flow's nonce, and the code when a new one was made (None: taken over)."""

    nonce: str
    code: str | None


class ResetCodes:
    def __init__(self, keys: KeyRing, settings: EmailCodeSettings) -> None:
        self._keys = keys
        self._settings = settings

    @property
    def _interval(self) -> timedelta:
        return timedelta(seconds=self._settings.resend_interval_seconds)

    @property
    def _lifetime(self) -> timedelta:
        return timedelta(minutes=self._settings.lifetime_minutes)

    def flow_key(self, username_key: str) -> str:
        return self._keys.keyed_hash(FLOW_KEY_PURPOSE, username_key)

    def _new_code(self, flow_key: str) -> tuple[str, str]:
        code = f"{secrets.randbelow(10**self._settings.digits):0{self._settings.digits}d}"
        return code, self._keys.keyed_hash(CODE_HASH_PURPOSE, f"{flow_key}:{code}")

    def start(self, db: Session, username_key: str, now: datetime) -> StartedFlow:
        """A new flow for ``username_key``: one locking read, one upsert, for every
        username. The caller commits and mails the code when it has a recipient."""
        key = self.flow_key(username_key)
        sent = db.scalar(select(ResetFlow.code_sent_at).where(ResetFlow.key == key)
                         .with_for_update())
        nonce = secrets.token_urlsafe(24)
        values: dict[str, object] = {"nonce": nonce, "started_at": now}
        code: str | None = None
        if sent is None or now - as_utc(sent) >= self._interval:
            code, code_hash = self._new_code(key)
            values |= {"code_hash": code_hash, "code_sent_at": now, "code_tries": 0}
        fresh = {"key": key, "code_hash": None, "code_sent_at": None, "code_tries": 0, **values}
        db.execute(upsert(db, ResetFlow, fresh, key=ResetFlow.key, update=values))
        return StartedFlow(nonce, code)

    def nonce_of(self, db: Session, username_key: str) -> str | None:
        """The newest flow's nonce, or None when there is none."""
        return db.scalar(select(ResetFlow.nonce).where(ResetFlow.key == self.flow_key(username_key)))

    def resend(self, db: Session, username_key: str, nonce: str, now: datetime) -> str:
        """A new code for the flow ``nonce``; the old one stops working, a live code's
        wrong tries still count (S7). Raises :class:`ResendTooSoon` or, when the flow
        was superseded meanwhile, :class:`NoLiveCode`. The caller commits."""
        key = self.flow_key(username_key)
        row = db.execute(select(ResetFlow.code_sent_at, ResetFlow.code_hash)
                         .where(ResetFlow.key == key, ResetFlow.nonce == nonce)
                         .with_for_update()).first()
        if row is None:
            raise NoLiveCode()
        if row.code_sent_at is not None and now - as_utc(row.code_sent_at) < self._interval:
            raise ResendTooSoon(self._interval - (now - as_utc(row.code_sent_at)))
        code, code_hash = self._new_code(key)
        tries = ResetFlow.code_tries if row.code_hash is not None else 0
        db.execute(update(ResetFlow).where(ResetFlow.key == key, ResetFlow.nonce == nonce)
                   .values(code_hash=code_hash, code_sent_at=now, code_tries=tries))
        return code

    def verify(self, db: Session, username_key: str, nonce: str, typed: str, now: datetime,
               *, deliverable: bool) -> None:
        """Use up the flow's code when ``typed`` is it and it was mailed (``deliverable``:
        a code nobody received never passes). Raises :class:`NoLiveCode`,
        :class:`CodeExpired`, :class:`WrongCode` or :class:`TooManyWrongCodes`; the
        caller commits either way."""
        key = self.flow_key(username_key)
        row = db.execute(select(ResetFlow.code_hash, ResetFlow.code_sent_at)
                         .where(ResetFlow.key == key, ResetFlow.nonce == nonce)).first()
        if row is None or row.code_hash is None or row.code_sent_at is None:
            raise NoLiveCode()
        if now >= as_utc(row.code_sent_at) + self._lifetime:
            self._kill(db, key, row.code_hash)
            raise CodeExpired()
        cleaned = "".join(ch for ch in typed if "0" <= ch <= "9")
        right = self._keys.matches(CODE_HASH_PURPOSE, f"{key}:{cleaned}", row.code_hash)
        if right and deliverable:
            if not self._kill(db, key, row.code_hash):
                raise NoLiveCode()  # a concurrent try used it first
            return
        tries = db.scalar(update(ResetFlow)
                          .where(ResetFlow.key == key, ResetFlow.code_hash == row.code_hash)
                          .values(code_tries=ResetFlow.code_tries + 1)
                          .returning(ResetFlow.code_tries))
        if tries is None:
            raise NoLiveCode()
        left = self._settings.max_attempts - tries
        if left <= 0:
            self._kill(db, key, row.code_hash)
            raise TooManyWrongCodes()
        raise WrongCode(left)

    def _kill(self, db: Session, key: str, code_hash: str) -> bool:
        """The code is used, expired or out of tries; True when this call killed it."""
        result = db.execute(update(ResetFlow)
                            .where(ResetFlow.key == key, ResetFlow.code_hash == code_hash)
                            .values(code_hash=None, code_sent_at=None, code_tries=0))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def finish(self, db: Session, username_key: str, nonce: str) -> bool:
        """End the flow ``nonce`` (a reset is being completed): True for exactly one of
        concurrent callers. The caller commits."""
        result = db.execute(delete(ResetFlow).where(ResetFlow.key == self.flow_key(username_key),
                                                    ResetFlow.nonce == nonce))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def purge(self, db: Session, older_than: datetime) -> None:
        """Forget flows started before ``older_than`` (dead: their tokens have expired)."""
        db.execute(delete(ResetFlow).where(ResetFlow.started_at < older_than))
