"""Small helpers the core's views share: where a request came from, the clock's now,
the post-sign-in destination."""

from __future__ import annotations

from datetime import datetime

from flask import request, session, url_for

from idp.audit import Where
from idp.models import Account
from idp.redirects import safe_next
from idp.runtime import db, services
from idp.web_session import current_session

NEXT_KEY = "next"


def session_account() -> Account | None:
    """The account the current session belongs to (pending or signed in), or None."""
    account_id = current_session().account_id
    return None if account_id is None else db().get(Account, account_id)


def where() -> Where:
    return Where(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


def now() -> datetime:
    return services().clock.now()


def remember_next(value: str | None) -> None:
    """Keep a safe ``next`` in the session across the sign-in steps (S26)."""
    target = safe_next(value)
    if target:
        session[NEXT_KEY] = target
    else:
        session.pop(NEXT_KEY, None)


def after_sign_in_target() -> str:
    """Where a person goes once signed in: the page that sent them to sign in, else the
    account page. Consumed once."""
    return safe_next(session.pop(NEXT_KEY, None)) or url_for("account.home")
