"""D10 (S18, S21, S40): nothing outlives the sign-in session it came from.

A code or token names its provider session id (``sid``), kept in the web session's data
under :data:`idp.oidc.backchannel.SID_KEY`. When the session store tells the provider
that sessions ended, their unexchanged codes die with their tokens
(``Backchannel.on_sessions_ended``); and since a session can also be past its idle or
absolute limit before anyone has purged it, the token and UserInfo endpoints ask here,
at the moment of use, whether the session is still live.

The question is a SQL predicate (:func:`live_session`), so the hot paths fold it into
the one statement that claims a code or a refresh token, or finds an access token
(issue 11), instead of loading the session rows and deciding in Python.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, literal, or_, select
from sqlalchemy.orm import Session

from idp.models import REVOKED, Account, WebSession
from idp.sessions import SessionStore

SID_KEY = "oidc.sid"  # where a web session keeps its provider session id


def live_session(idle: timedelta, account_id: Any, sid: Any, now: datetime) -> ColumnElement[bool]:
    """True (in SQL) when a session of ``account_id`` holding provider session ``sid``
    is still there and within its idle and absolute limits (D5): the negation of
    :meth:`idp.sessions.SessionStore.is_expired` (idle: ``now - last_seen_at >= idle``;
    absolute: ``now >= expires_at``). Ended sessions have no row; expired ones may
    still have one, not yet purged, and count as dead. ``account_id`` and ``sid`` are
    values or columns of the statement it is folded into (correlated). Found through
    the sessions' ``account_id`` index."""
    return and_(sid != literal(""), exists().where(
        WebSession.account_id == account_id,
        WebSession.data[SID_KEY].as_string() == sid,
        WebSession.last_seen_at > now - idle,
        or_(WebSession.expires_at.is_(None), WebSession.expires_at > now),
    ))


def account_usable(account_id: Any) -> ColumnElement[bool]:
    """True (in SQL) when the account exists and is not revoked (D7, S40)."""
    return exists().where(Account.id == account_id, Account.status != REVOKED)


def has_live_session(db: Session, store: SessionStore, sid: str, account_id: int,
                     now: datetime) -> bool:
    """:func:`live_session` asked on its own, for the rare paths (a failed claim,
    introspection)."""
    if not sid:
        return False
    return bool(db.scalar(select(live_session(store.idle, account_id, sid, now))))
