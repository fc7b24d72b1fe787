"""Small helpers the core's views share: where a request came from, the clock's now,
the post-sign-in destination."""

from __future__ import annotations

from datetime import datetime

from flask import request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from idp import audit
from idp.audit import Where
from idp.email_codes import CodeError, CodeExpired, ResendTooSoon, TooManyWrongCodes, WrongCode
from idp.mail_render import send_staged, stage_mail
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


def email_code_error(refused: CodeError) -> str:
    """What a person is told when an emailed code is refused (S16), whatever the code
    was for."""
    if isinstance(refused, WrongCode):
        return str(ngettext("That code is not correct. %(num)d try left.",
                            "That code is not correct. %(num)d tries left.", refused.attempts_left))
    if isinstance(refused, TooManyWrongCodes):
        return str(_("Too many wrong codes. Ask for a new code."))
    if isinstance(refused, CodeExpired):
        return str(_("That code has expired. Ask for a new code."))
    if isinstance(refused, ResendTooSoon):
        return resend_wait_message(refused)
    return str(_("There is no code waiting. Ask for a new code."))


def resend_wait_message(wait: ResendTooSoon) -> str:
    seconds = max(1, int(wait.retry_after.total_seconds()))
    return str(ngettext(
        "A code was sent a moment ago. Wait %(num)d second before asking again.",
        "A code was sent a moment ago. Wait %(num)d seconds before asking again.",
        seconds,
    ))


def mail_not_sent_message() -> str:
    return str(_("We could not send the code just now. Wait a minute, then choose “Send a new code”."))


def send_code(account: Account, purpose: str, binding: str, to: str, *,
              message: str = "confirm_email", tag: str = audit.EMAIL_CODE_SENT,
              **context: object) -> bool:
    """Issue a fresh emailed code for ``purpose``, bound to ``binding`` (an address being
    confirmed, a sign-in attempt), and mail it to ``to`` in the person's language (S16).

    The code, the audit row and the mail (in the outbox, idp.outbox) are committed
    together before the mail leaves, so a mail that cannot leave now (False) loses
    nothing: the page offers a new code, and the worker still sends this one while the
    code lives. Raises ``ResendTooSoon`` when asked again too soon."""
    svc = services()
    minutes = svc.settings.email_code.lifetime_minutes
    code = svc.email_codes.issue(db(), account.id, purpose, binding, now())
    audit.record(db(), now(), tag, actor=account.username, account_id=account.id,
                 where=where(), purpose=purpose)
    stage_mail(message, account.locale, to, account_id=account.id, valid_minutes=minutes,
               code=code, username=account.username, minutes=minutes, **context)
    db().commit()
    return send_staged()
