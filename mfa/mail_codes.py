"""Codes sent by email for the second factor (S12): to sign in, and to prove the
address when choosing email as the method. The code rules are the core's
(``idp.email_codes``, S16); this module says what a code is bound to and sends it."""

from __future__ import annotations

from idp.models import Account
from idp.views.common import send_code as mail_code
from mfa import events
from mfa.checkers import SIGN_IN

__all__ = ["SET_UP", "SIGN_IN", "send_code"]

SET_UP = "mfa_set_up"


def send_code(account: Account, purpose: str, binding: str) -> bool:
    """Issue a code bound to ``binding`` (the sign-in attempt's session id), replacing
    any earlier one, and email it to the confirmed address. False when the mail could
    not leave (the page offers a new code). Raises ``ResendTooSoon`` when asked again
    too soon."""
    if account.email is None or not account.has_confirmed_email:
        raise ValueError("email codes go to a confirmed address only")
    return mail_code(account, purpose, binding, account.email, message="second_factor_code",
                     tag=events.CODE_SENT, setting_up=purpose == SET_UP)
