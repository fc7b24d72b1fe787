"""D10 (S18, S21, S40): nothing outlives the sign-in session it came from.

A code or token names its provider session id (``sid``), kept in the web session's data
under :data:`idp.oidc.backchannel.SID_KEY`. When the session store tells the provider
that sessions ended, their unexchanged codes die with their tokens
(``Backchannel.on_sessions_ended``); and since a session can also be past its idle or
absolute limit before anyone has purged it, the token endpoint asks here, at the
moment of use, whether the session is still live.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.models import WebSession
from idp.sessions import SessionStore

SID_KEY = "oidc.sid"  # where a web session keeps its provider session id


def has_live_session(db: Session, store: SessionStore, sid: str, account_id: int,
                     now: datetime) -> bool:
    """True when a session of ``account_id`` holding provider session ``sid`` is still
    there and within its idle and absolute limits (D5). Ended sessions have no row;
    expired ones may still have one, not yet purged, and count as dead."""
    if not sid:
        return False
    rows = db.scalars(select(WebSession).where(
        WebSession.account_id == account_id,
        WebSession.data[SID_KEY].as_string() == sid,
    ))
    return any(not store.is_expired(row, now) for row in rows)
