"""S37: ``prompt=login``, ``max_age`` and ``acr_values`` step-up send the person round
the sign-in screens; the request that sent them must then pass *once*, and no other.

The marker kept in the session names the authorization request that asked (a hash of
its URL, which carries the portal's ``state`` and ``nonce``) and when it asked. It is
satisfied only by that request coming back after a sign-in completed since then; it is
cleared at every password step made for anything else (an abandoned ``prompt=login``
leaves nothing that a later request could use) and when the request succeeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any

LOGIN_ASKED_KEY = "oidc.login_asked"


def _request_key(target: str) -> str:
    return hashlib.sha256(target.encode("utf-8", "replace")).hexdigest()


def ask(session: MutableMapping[str, Any], target: str, now: datetime) -> None:
    """The request ``target`` (an /authorize path) sends the person to sign in now."""
    session[LOGIN_ASKED_KEY] = {"request": _request_key(target), "at": now.isoformat()}


def signed_in_for(session: MutableMapping[str, Any], target: str,
                  auth_time: datetime | None) -> bool:
    """True when the sign-in that ``target`` asked for has happened (S37)."""
    marker = session.get(LOGIN_ASKED_KEY)
    if not isinstance(marker, dict) or auth_time is None:
        return False
    if marker.get("request") != _request_key(target):
        return False
    try:
        asked = datetime.fromisoformat(str(marker.get("at")))
    except ValueError:
        return False
    return auth_time >= asked


def on_password_step(session: MutableMapping[str, Any], next_target: str | None) -> None:
    """A password step: it answers the marker only when it is heading back to the
    request that asked; otherwise the marker goes."""
    marker = session.get(LOGIN_ASKED_KEY)
    if isinstance(marker, dict) and (
            not next_target or marker.get("request") != _request_key(next_target)):
        session.pop(LOGIN_ASKED_KEY, None)


def forget(session: MutableMapping[str, Any]) -> None:
    session.pop(LOGIN_ASKED_KEY, None)
