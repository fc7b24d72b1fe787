"""D10 (S18, S21, S40): nothing outlives the sign-in session it came from.

A code or token names its provider session id (``sid``), kept in the web session's data
under :data:`idp.oidc.backchannel.SID_KEY`. When the session store tells the provider
that sessions ended, their unexchanged codes die with their tokens
(``Backchannel.on_sessions_ended``); and since a session can also be past its idle or
absolute limit before anyone has purged it, the token and UserInfo endpoints ask here,
at the moment of use, whether the session is still live.

The question is a SQL predicate (:func:`live_session`), so the hot paths fold it into
the one statement that claims a code or a refresh token, or finds an access token
(issue 11), instead of loading the session rows and deciding in Python. Its times are
bound parameters, so those statements are built once, not on every request.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, literal, or_, select
from sqlalchemy.orm import Session

from idp.models import REVOKED, Account, WebSession
from idp.sessions import SessionStore

SID_KEY = "oidc.sid"  # where a web session keeps its provider session id


NOW = "now"  # the bound parameters of the predicates below: the request's time,
SEEN_AFTER = "seen_after"  # and the last activity a session needs to be live (D5)


def liveness_params(idle: timedelta, now: datetime) -> dict[str, datetime]:
    """The values of :data:`NOW` and :data:`SEEN_AFTER` for a statement that holds
    :func:`live_session`."""
    return {NOW: now, SEEN_AFTER: now - idle}


def live_session(account_id: Any, sid: Any) -> ColumnElement[bool]:
    """True (in SQL) when a session of ``account_id`` holding provider session ``sid``
    is still there and within its idle and absolute limits (D5): the negation of
    :meth:`idp.sessions.SessionStore.is_expired` (idle: ``now - last_seen_at >= idle``,
    so live while ``last_seen_at > now - idle``; absolute: ``now >= expires_at``).
    Ended sessions have no row; expired ones may still have one, not yet purged, and
    count as dead. ``account_id`` and ``sid`` are columns of the statement it is folded
    into (correlated) or values; the times are the bound parameters :data:`NOW` and
    :data:`SEEN_AFTER` (:func:`liveness_params`), so the statement is built once.
    Found through the sessions' ``account_id`` index."""
    return and_(sid != literal(""), exists().where(
        WebSession.account_id == account_id,
        WebSession.data[SID_KEY].as_string() == sid,
        WebSession.last_seen_at > bindparam(SEEN_AFTER),
        or_(WebSession.expires_at.is_(None), WebSession.expires_at > bindparam(NOW)),
    ))


def account_usable(account_id: Any) -> ColumnElement[bool]:
    """True (in SQL) when the account exists and is not revoked (D7, S40)."""
    return exists().where(Account.id == account_id, Account.status != REVOKED)


def usable(account_id: Any, sid: Any) -> ColumnElement[bool]:
    """What a code or token needs beyond itself (issue 11, D10): an account that is not
    revoked and a live sign-in session. Bound parameters as :func:`live_session`."""
    return and_(account_usable(account_id), live_session(account_id, sid))


_LIVE = select(live_session(bindparam("account_id"), bindparam("sid")))


def has_live_session(db: Session, store: SessionStore, sid: str, account_id: int,
                     now: datetime) -> bool:
    """:func:`live_session` asked on its own, for the rare paths (a failed claim,
    introspection)."""
    if not sid:
        return False
    return bool(db.scalar(_LIVE, {"account_id": account_id, "sid": sid,
                                  **liveness_params(store.idle, now)}))
