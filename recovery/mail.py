"""The recovery slice's mails, each in ``templates/email/<message>/`` in both languages.

Sending goes through the core's ``send_mail`` (links from the configured base URL,
S17). A mail that cannot leave is logged by the mailer and never turns into an error
page that would differ between known and unknown accounts (S6)."""

from __future__ import annotations

import logging
from typing import Any

from idp.mail import MailNotSent
from idp.mail_render import absolute_link, render_mail, send_mail
from idp.runtime import services

log = logging.getLogger("clef.recovery")

USERNAMES = "forgot_username"
RESET_CODE = "reset_code"
REVOKED_NOTICE = "recovery_revoked"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a message name
QUESTIONS_CHANGED = "questions_changed"
EMAIL_CHANGED = "recovery_email_changed"
CONFIRM_ADDRESS = "confirm_email"  # the core's message: a code to confirm an address
MESSAGES = (USERNAMES, RESET_CODE, REVOKED_NOTICE, PASSWORD_RESET, QUESTIONS_CHANGED,
            EMAIL_CHANGED)


def links() -> dict[str, str]:
    """Absolute links every recovery mail may use (S17)."""
    return {
        "sign_in_link": absolute_link("/signin"),
        "register_link": absolute_link("/register"),
        "forgot_password_link": absolute_link("/forgot-password"),
    }


def deliver(message: str, locale: str, to: str, **context: Any) -> bool:
    """Render and send; False when the mail could not leave (already logged)."""
    try:
        send_mail(message, locale, to, **links(), **context)
    except MailNotSent:
        return False
    return True


def render_only(message: str, locale: str, **context: Any) -> None:
    """Render a mail that goes nowhere: the unknown-account path does the same template
    work as the known one (S6)."""
    render_mail(message, locale, "nobody@invalid", **links(), **context)


def code_minutes() -> int:
    return services().settings.email_code.lifetime_minutes
