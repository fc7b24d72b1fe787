"""The recovery slice's mails, each in ``templates/email/<message>/`` in both languages.

Links come from the configured base URL (S17). Where whether a mail leaves depends on
whether an account exists (forgot username, the forgot-password code, the revoked
notice), S6 asks for the same time either way: :func:`deliver_after_response` renders the
mail on every path and hands it to the mailer only once the response has been sent, so
an SMTP conversation never lengthens the answer. A mail that cannot leave is logged by
the mailer and never turns into a page that would differ between the two cases."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from flask import Response, after_this_request

from idp.mail import Mailer, MailNotSent, OutgoingMail
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


def deliver_after_response(message: str, locale: str, to: str | None, **context: Any) -> None:
    """Render the mail now, whether or not it has a recipient (the same template work on
    both paths, S6), and send it after the response has left when ``to`` is given."""
    mail = render_mail(message, locale, to or "nobody@invalid", **links(), **context)
    if to is None:
        return
    mailer, sent_at = services().mailer, services().clock.now()

    @after_this_request
    def send_later(response: Response) -> Response:
        response.call_on_close(lambda: _send_quietly(mailer, mail, sent_at))
        return response


def _send_quietly(mailer: Mailer, mail: OutgoingMail, sent_at: datetime) -> None:
    """Runs after the response, outside the request: a failure is logged by the mailer
    (recipient and subject only, S28) and goes no further."""
    try:
        mailer.send(mail, sent_at)
    except MailNotSent:
        log.warning("recovery mail %r not sent after the response", mail.subject)


def code_minutes() -> int:
    return services().settings.email_code.lifetime_minutes
