"""Small helpers the core's views share: where a request came from, the clock's now,
the post-sign-in destination, the web side of mailing a code. The words they share with
the other slices are in :mod:`idp.messages`."""

from __future__ import annotations

from datetime import datetime

from flask import request, session, url_for

from idp import audit
from idp.audit import Where
from idp.mail_render import send_staged, stage_mail
from idp.models import Account
from idp.redirects import safe_next
from idp.runtime import db, services
from idp.web_session import NEXT_KEY, current_session


def session_account() -> Account | None:
    """The account the current session belongs to (pending or signed in), or None."""
    account_id = current_session().account_id
    return None if account_id is None else services().sessions.account(db(), account_id)


def where() -> Where:
    current = request._get_current_object()  # type: ignore[attr-defined]  # one look-up
    return Where(ip=current.remote_addr, user_agent=current.headers.get("User-Agent"))


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


def send_code(account: Account, purpose: str, binding: str, to: str, *,
              message: str = "confirm_email", tag: str = audit.EMAIL_CODE_SENT,
              **context: object) -> bool:
    """Mail ``to`` a fresh code for ``purpose`` bound to ``binding``, in the person's
    language (S16): the web layer's mail functions handed to
    :meth:`idp.email_codes.EmailCodes.send`, which owns the flow. False when the mail
    could not leave now; raises ``ResendTooSoon`` when asked again too soon."""

    def stage(code: str, minutes: int) -> None:
        stage_mail(message, account.locale, to, account_id=account.id, valid_minutes=minutes,
                   code=code, username=account.username, minutes=minutes, **context)

    return services().email_codes.send(db(), account, purpose, binding, now(), where(),
                                       stage=stage, send=send_staged, tag=tag)
