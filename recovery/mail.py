"""The recovery slice's mails, each in ``templates/email/<message>/`` in both languages.

Links come from the configured base URL (S17). Where whether a mail leaves depends on
whether an account exists (forgot username, the forgot-password code, the revoked
notice), S6 asks for the same time either way: :func:`deliver_in_background` renders the
mail on every path and hands it to a background thread (:class:`MailQueue`), which sends
it once the response has been sent (the server closes the response), so neither an SMTP
conversation nor the thread's own work lengthens the answer. A server that never closes
the response (Werkzeug's development server skips ``close()`` when the browser drops the
connection after a redirect) only delays the mail by ``SEND_GRACE_SECONDS``. A mail that
cannot leave is logged by the mailer and never turns into a page that would differ
between the two cases."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import datetime
from threading import Event, Lock
from typing import Any

from flask import Response, after_this_request, current_app

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
MAIL_QUEUE_KEY = "clef.recovery.mail"
# How long the queue waits for the server to close a response before sending anyway.
SEND_GRACE_SECONDS = 1.0
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


class MailQueue:
    """One background thread per app that hands mail to the mailer in order."""

    def __init__(self, mailer: Mailer) -> None:
        self._mailer = mailer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clef-recovery-mail")
        self._pending: set[Future[None]] = set()
        self._lock = Lock()

    def put(self, mail: OutgoingMail, sent_at: datetime, response_sent: Event) -> None:
        """Send ``mail`` once ``response_sent`` is set (or after the grace period)."""
        future = self._executor.submit(_send_when_sent, self._mailer, mail, sent_at, response_sent)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait(self, timeout: float | None = None) -> None:
        """Until every mail queued so far has been handed over (tests, shutdown)."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout=timeout)


def deliver_in_background(message: str, locale: str, to: str | None, **context: Any) -> None:
    """Render the mail now, whether or not it has a recipient (the same template work on
    both paths, S6), and queue it for the background thread when ``to`` is given."""
    mail = render_mail(message, locale, to or "nobody@invalid", **links(), **context)
    if to is None:
        return
    response_sent = Event()

    @after_this_request
    def when_sent(response: Response) -> Response:
        response.call_on_close(response_sent.set)
        return response

    queue: MailQueue = current_app.extensions[MAIL_QUEUE_KEY]
    queue.put(mail, services().clock.now(), response_sent)


def _send_when_sent(mailer: Mailer, mail: OutgoingMail, sent_at: datetime,
                    response_sent: Event) -> None:
    """Runs on the queue's thread, once the response is out: a failure is logged by the
    mailer (recipient and subject only, S28) and goes no further."""
    response_sent.wait(timeout=SEND_GRACE_SECONDS)
    try:
        mailer.send(mail, sent_at)
    except MailNotSent:
        log.warning("recovery mail %r not sent", mail.subject)


def code_minutes() -> int:
    return services().settings.email_code.lifetime_minutes
