"""Codes sent by email for the second factor (S12): to sign in, and to prove the
address when choosing email as the method. The code rules are the core's
(``idp.email_codes``, S16); this module says what a code is bound to and sends it."""

from __future__ import annotations

from idp import audit
from idp.mail import MailNotSent
from idp.mail_render import send_mail
from idp.models import Account
from idp.runtime import db, services
from idp.views.common import now, where
from mfa import events

SIGN_IN = "mfa_sign_in"
SET_UP = "mfa_set_up"


def send_code(account: Account, purpose: str, binding: str) -> bool:
    """Issue a code bound to ``binding`` (the sign-in attempt's session id), replacing
    any earlier one, and email it. False when the mail could not leave (the page offers
    a new code). Raises ``ResendTooSoon`` when asked again too soon."""
    svc = services()
    if account.email is None or not account.has_confirmed_email:
        raise ValueError("email codes go to a confirmed address only")
    code = svc.email_codes.issue(db(), account.id, purpose, binding, now())
    audit.record(db(), now(), events.CODE_SENT, actor=account.username,
                 account_id=account.id, where=where(), purpose=purpose)
    db().commit()
    try:
        send_mail("second_factor_code", account.locale, account.email, code=code,
                  username=account.username, setting_up=purpose == SET_UP,
                  minutes=svc.settings.email_code.lifetime_minutes)
    except MailNotSent:
        return False
    return True
