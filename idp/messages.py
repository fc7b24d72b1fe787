"""The words several slices say (S16, J3, the password policy), in one place: the
core's views, the second-factor screens and the recovery screens import them from here,
never from each other's views. Each is translated when called (or lazily, for the
tables), in the request's language; wording that would tell whether an account exists
is generic (D4)."""

from __future__ import annotations

import math
from datetime import timedelta

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from idp.email_codes import CodeError, CodeExpired, ResendTooSoon, TooManyWrongCodes, WrongCode
from idp.password_policy import PasswordProblem

PASSWORD_MESSAGES = {
    PasswordProblem.TOO_SHORT: _l("Use at least %(min)d characters."),
    PasswordProblem.TOO_LONG: _l("Use at most %(max)d characters."),
    PasswordProblem.COMMON: _l(
        "This password is one of the most common passwords, which are tried first by attackers. "
        "Choose another."
    ),
    PasswordProblem.CONTAINS_USERNAME: _l("The password must not contain your username."),
    PasswordProblem.CONTAINS_SERVICE_NAME: _l("The password must not contain the name of this service."),
    PasswordProblem.BREACHED: _l(
        "This password has appeared in a data breach elsewhere, so attackers may know it. "
        "Choose another."
    ),
    PasswordProblem.MISMATCH: _l("The two passwords are not the same."),
}


def locked_message(retry_after: timedelta | None) -> str:
    """J3 wording, the same for every username, existing or not (D4)."""
    if retry_after is None:
        return str(_(
            "Too many attempts. Sign-in with this username is locked. Reset your password "
            "or contact the help desk to unlock it."
        ))
    minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
    return str(ngettext(
        "Too many attempts. Try again in %(num)d minute.",
        "Too many attempts. Try again in %(num)d minutes.",
        minutes,
    ))


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
