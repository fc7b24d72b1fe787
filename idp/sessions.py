"""Server-side sessions (D5, D6; S20-S22): created, renewed, elevated, expired, ended.

The cookie carries a random 256-bit token; the row is keyed by its SHA-256. Every
privilege step (password passed, second factor passed) moves the row to a new token (one
UPDATE of its key, issue 11), so a cookie captured before the step is worthless (S20),
and a replayed cookie after logout finds nothing (S21). A session is read with its
account in one statement: every step after the password needs both.

This module takes plain values and a database session; the Flask adapter is
``idp.web_session``.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeGuard, cast

from sqlalchemy import ColumnElement, Table, delete, func, insert, select
from sqlalchemy.orm import Session

from idp import audit, session_rows
from idp.models import REVOKED, Account, ExpiredSession, WebSession
from idp.session_rows import SessionLike, SessionRow
from idp.settings import SessionSettings

ANONYMOUS = "anonymous"
PASSWORD = "password"  # noqa: S105 - a level name, not a secret
FULL = "full"
TOKEN_BYTES = 32


def session_id(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


# Which limit a timed-out session reached (D5), as the audit log and the notice say.
IDLE = "idle"
ABSOLUTE = "absolute"

# Why sessions ended, as listeners are told.
LOGOUT = "logout"
EXPIRED = "expired"
ACCOUNT = "account"  # every session of one account: revocation, admin, password reset
OTHERS = "others"  # "sign out my other sessions"
REPLACED = "replaced"  # another account signed in in this browser
ALL = "all"  # the admin ended every session


@dataclass(frozen=True)
class EndedSession:
    """What a listener learns of a session that ended: whose it was and what it held
    (the provider finds there which portals it was used with)."""

    account_id: int | None
    data: dict[str, Any] = field(default_factory=dict)


# Told of every ending, in the transaction that ends them (back-channel logout).
SessionsEnded = Callable[[Session, list[EndedSession], str], None]


@dataclass(frozen=True)
class Loaded:
    """What a cookie led to: a live row, or nothing (``expired`` says whether a signed-in
    session has just timed out, so the page can say so, J4)."""

    record: SessionRow | None
    expired: bool = False
    account_id: int | None = None


# The session row is read with its account, in one statement (idp.session_rows): the
# steps after the password (the second factor, the consent page and its answer, the
# account pages) all need the account (:meth:`SessionStore.account`, issue 11).
# A visitor's row (D15: once it holds more than its cookie may): built once, on the
# table (not the ORM entity, whose INSERT takes the ORM's bulk path), its values bound
# per request (issue 11).
_INSERT_ANONYMOUS = insert(cast(Table, WebSession.__table__))


def of_another_account(old: SessionRow | None, account_id: int) -> TypeGuard[SessionRow]:
    """Whether ``old`` is a session of an account other than ``account_id`` (signed in,
    or past its password): one browser shared by two people. The password step of the
    second replaces it (REPLACED), and keeps nothing the first person's held."""
    return old is not None and old.account_id not in (None, account_id)


class SessionStore:
    def __init__(self, settings: SessionSettings) -> None:
        self._listeners: list[SessionsEnded] = []
        self._riders: dict[str, session_rows.Rider] = {}
        self.idle = timedelta(minutes=settings.idle_minutes)
        self.absolute = timedelta(hours=settings.absolute_hours)
        self.touch_interval = timedelta(seconds=settings.touch_interval_seconds)
        self.notice = timedelta(hours=settings.expired_notice_hours)


    def add_listener(self, listener: SessionsEnded) -> None:
        """``listener`` is told of every sessions-ended event, in the transaction that
        ends them (the provider's back-channel logout)."""
        self._listeners.append(listener)

    def add_rider(self, path: str, rider: session_rows.Rider) -> None:
        """Requests for ``path`` read ``rider``'s columns with the session's row
        (``session_rows.Rider``: the second step's page, from the mfa slice; /authorize,
        from the provider)."""
        self._riders[path] = rider

    def load(
        self, db: Session, token: str, now: datetime, where: audit.Where | None = None,
        request: Any = None,
    ) -> Loaded:
        """The live session for ``token``. An expired one is ended here (S21, S22); a
        signed-in one that timed out, here or earlier by the worker's purge, comes back
        as ``expired`` once, so the page can say so (J4). The rider added for the
        ``request``'s path, if any, is read with it."""
        key = session_id(token)
        rider = self._riders.get(request.path) if request is not None else None
        record = session_rows.read(db, key, rider, request)
        if record is not None and session_rows.read_account_status(db) == REVOKED:
            # J12, S21: revoked while this session was being made (a sign-in in flight
            # when `clef users revoke` ended the account's others): ended now, unused.
            self._tell(db, [record], ACCOUNT)
            session_rows.delete_row(db, record)
            db.commit()
            return Loaded(None)
        if record is not None and not self.is_expired(record, now):
            return Loaded(record)
        if record is not None and self.expire(db, [record], now, where, notice=False):
            db.commit()
            if record.level != ANONYMOUS:
                return Loaded(None, expired=True, account_id=record.account_id)
            return Loaded(None)
        # Gone, or ended a moment ago by another request or the worker's purge, which
        # may have left the notice.
        return self._take_notice(db, key)

    def _take_notice(self, db: Session, key: str) -> Loaded:
        """The record left by a purge of this cookie's session: told once, then gone."""
        found = db.execute(delete(ExpiredSession).where(ExpiredSession.id == key)
                           .returning(ExpiredSession.account_id)).first()
        if found is None:
            return Loaded(None)
        db.commit()
        return Loaded(None, expired=True, account_id=found.account_id)

    def account(self, db: Session, account_id: int) -> Account | None:
        """The account ``account_id``, from the session's own read when it was that
        account's (no SELECT), else from the database."""
        return session_rows.account(db, account_id)

    def timeout_of(self, record: SessionLike, now: datetime) -> str:
        """Which limit an expired session reached: ``ABSOLUTE`` or ``IDLE``."""
        if record.expires_at is not None and now >= record.expires_at:
            return ABSOLUTE
        return IDLE

    def expire(
        self,
        db: Session,
        records: list[SessionRow],
        now: datetime,
        where: audit.Where | None = None,
        notice: bool = True,
    ) -> list[SessionRow]:
        """End sessions that timed out; returns those this call ended.

        Each row is deleted with ``RETURNING``, so when the person and the worker end the
        same session at once only one of them goes on: the expiry is audited exactly
        once (S28), and listeners (back-channel logout) told once. With ``notice``, a
        signed-in session leaves an :class:`ExpiredSession` so its cookie still gets
        "session expired" later (J4). The caller commits."""
        if not records:
            return []
        ids = [record.id for record in records]
        deleted = set(db.scalars(delete(WebSession).where(WebSession.id.in_(ids))
                                 .returning(WebSession.id)))
        ended = [record for record in records if record.id in deleted]
        self._tell(db, ended, EXPIRED)
        for record in ended:
            if record.level == ANONYMOUS or record.account_id is None:
                continue
            timeout = self.timeout_of(record, now)
            account = self.account(db, record.account_id)
            audit.record(db, now, audit.SESSION_EXPIRED,
                         actor=account.username if account else "unknown",
                         account_id=record.account_id, where=where, timeout=timeout)
            if notice:
                db.add(ExpiredSession(id=record.id, account_id=record.account_id,
                                    timeout=timeout, ended_at=now, keep_until=now + self.notice))
        return ended

    def is_expired(self, record: SessionLike, now: datetime) -> bool:
        if now - record.last_seen_at >= self.idle:
            return True
        return record.expires_at is not None and now >= record.expires_at

    def idle_deadline(self, record: SessionLike, now: datetime | None = None) -> datetime:
        """When the session ends if nothing more happens: idle or absolute, first.

        With ``now`` (the current request's time), counts this request's activity when
        :meth:`touch` will record it, so a page states the deadline it leaves behind (J4).
        """
        last_seen = record.last_seen_at
        if now is not None and now - last_seen >= self.touch_interval:
            last_seen = now
        deadline = last_seen + self.idle
        if record.expires_at is not None:
            deadline = min(deadline, record.expires_at)
        return deadline

    def seconds_left(self, record: SessionLike, now: datetime, this_request: bool) -> int:
        """Whole seconds until :meth:`idle_deadline`, rounded up, so a page's timer set
        from it never fires before the server agrees the session is over (J4).
        ``this_request``: whether the current request counts as activity."""
        deadline = self.idle_deadline(record, now if this_request else None)
        return max(0, math.ceil((deadline - now).total_seconds()))

    def create(self, db: Session, now: datetime, data: dict[str, Any]) -> tuple[str, SessionRow]:
        """A new anonymous session, inserted at the next write (idp.session_rows)."""
        token = new_token()
        record = SessionRow(session_id(token), None, ANONYMOUS, dict(data), now, now)
        session_rows.queue_renewal(db, record, None)
        return token, record

    def insert_anonymous(self, db: Session, now: datetime, data: dict[str, Any]) -> str:
        """A visitor's row, written as the response leaves, once its session holds more
        than its cookie may carry (D15: a recovery step's token, a passkey challenge, a
        ``next`` too long for a cookie): one Core INSERT, no ORM object, since nothing
        reads the row again in this request (issue 11). Returns the token for the
        cookie. The caller commits."""
        token = new_token()
        # The caller commits at once: a transaction of its own when nothing else waits.
        session_rows.write_alone(db, _INSERT_ANONYMOUS, {
            "id": session_id(token), "level": ANONYMOUS, "data": dict(data),
            "created_at": now, "last_seen_at": now})
        return token

    def touch(self, record: SessionRow, now: datetime, *, force: bool = False) -> bool:
        """Record activity, at most once per ``touch_interval`` (always with ``force``:
        "Stay signed in", J4); True when it wrote. The caller commits."""
        if not force and now - record.last_seen_at < self.touch_interval:
            return False
        record.last_seen_at = now
        return True

    def renew(self, db: Session, old: SessionRow | None, now: datetime,
              revive: bool = True) -> tuple[str, SessionRow]:
        """Move a session to a fresh token (S20): the old row is gone when this
        transaction commits, and its token finds nothing.

        The row is moved, not copied: before the transaction's next statement or its
        commit, one ``UPDATE`` gives it the new id and what the step changed, where an
        INSERT and a DELETE would be two statements (issue 11;
        :func:`idp.session_rows.write_pending`). When the old row is already gone (the
        same step raced in by a second request that renewed it first, a logout in
        another tab), the new row is inserted instead, as a copy would have been, unless
        ``revive`` is False: then the session stays ended."""
        if old is None:
            return self.create(db, now, {})
        token = new_token()
        record = SessionRow(session_id(token), old.account_id, old.level, dict(old.data),
                            old.created_at, now, old.expires_at, old.auth_time, old.amr)
        session_rows.queue_renewal(db, record, old, revive)
        return token, record

    def passed_password(
        self, db: Session, old: SessionRow | None, account_id: int, now: datetime
    ) -> tuple[str, SessionRow]:
        """The first factor passed: a new token, bound to the account, at the pending
        level that grants only the second-factor step (S20). The absolute limit starts."""
        if of_another_account(old, account_id):
            self._tell(db, [old], REPLACED)
            session_rows.delete_row(db, old)
            old = None
        token, record = self.renew(db, old, now)
        record.account_id = account_id
        record.level = PASSWORD
        record.expires_at = now + self.absolute
        record.auth_time = None
        record.amr = None
        return token, record

    def passed_second_factor(
        self, db: Session, old: SessionRow, methods: list[str], now: datetime
    ) -> tuple[str, SessionRow]:
        """Both factors passed: a new token, fully signed in. ``methods`` are amr values
        (``pwd`` and the factor's); they and the time feed the ID token's amr/auth_time."""
        if old.level not in (PASSWORD, FULL) or old.account_id is None:
            raise ValueError("the second factor needs a session that passed the password")
        # Ended while its second factor was checked (a logout in another tab, the
        # admin's revocation, a reset: S18, S21, S22): not brought back as signed in.
        token, record = self.renew(db, old, now, revive=False)
        record.level = FULL
        record.auth_time = now
        record.amr = " ".join(methods)
        return token, record

    def _tell(self, db: Session, rows: Sequence[SessionLike], reason: str) -> None:
        ended = [EndedSession(row.account_id, dict(row.data or {}))
                 for row in rows if row.account_id is not None]
        if ended:
            for listener in self._listeners:
                listener(db, ended, reason)

    def _end_where(self, db: Session, reason: str, *conditions: ColumnElement[bool]) -> int:
        """End the sessions matching ``conditions``: listeners first, then one DELETE."""
        if self._listeners:
            self._tell(db, session_rows.select_rows(db, *conditions), reason)
        result = db.execute(delete(WebSession).where(*conditions))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def end(self, db: Session, record: SessionLike) -> None:
        """Logout (S21): the row deleted at once, one DELETE."""
        self._tell(db, [record], LOGOUT)
        session_rows.delete_row(db, record)

    def end_for_account(self, db: Session, account_id: int) -> int:
        """End every session of one account (revocation, admin, password reset).
        Listeners are told even when none is live: what the account holds beyond its
        sessions (a portal's tokens, S18, S40) ends too."""
        rows = session_rows.select_rows(db, WebSession.account_id == account_id)
        ended = [EndedSession(row.account_id, dict(row.data or {})) for row in rows]
        for listener in self._listeners:
            listener(db, ended or [EndedSession(account_id)], ACCOUNT)
        result = db.execute(delete(WebSession).where(WebSession.account_id == account_id))
        return int(result.rowcount)  # type: ignore[attr-defined]

    def end_others(self, db: Session, account_id: int, keep: SessionLike) -> int:
        """End every session of the account but ``keep`` ("sign out my other sessions")."""
        return self._end_where(db, OTHERS, WebSession.account_id == account_id,
                               WebSession.id != keep.id)

    def end_all_signed_in(self, db: Session) -> int:
        return self._end_where(db, ALL, WebSession.account_id.is_not(None))

    def count_for_account(self, db: Session, account_id: int) -> int:
        query = select(func.count()).where(WebSession.account_id == account_id)
        return int(db.scalar(query) or 0)

    def purge_expired(self, db: Session, now: datetime) -> int:
        """End the sessions past their idle or absolute limit. ``load`` already refuses
        them; this tells the listeners (back-channel logout) of sessions nobody came
        back to and audits their expiry, so run it often (``clef oidc worker`` does).
        Their cookies keep the "session expired" notice (J4); notices older than
        ``expired_notice_hours`` go."""
        rows = session_rows.select_rows(db,
            (WebSession.last_seen_at <= now - self.idle)
            | (WebSession.expires_at.is_not(None) & (WebSession.expires_at <= now)),
        )
        ended = self.expire(db, rows, now)
        db.execute(delete(ExpiredSession).where(ExpiredSession.keep_until <= now))
        return len(ended)

