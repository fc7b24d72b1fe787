"""The recovery slice's mails, each in ``templates/email/<message>/`` in both languages.

Links come from the configured base URL (S17). Every mail is staged in the core's
outbox (idp.outbox) and committed before the answer goes out, so a process that dies
before it sends loses no mail: the worker sends it later. Where whether a mail leaves
depends on whether an account exists (forgot username, the forgot-password code, the
revoked notice), S6 asks for the same time either way: :func:`deliver_in_background`
renders and seals the mail on every path (a mail for nobody is written as discarded) and
hands its outbox row to a background thread (:class:`MailQueue`), which sends it once
the response has been sent (the server closes the response), so neither an SMTP
conversation nor the thread's own work lengthens the answer. A server that never closes
the response (Werkzeug's development server skips ``close()`` when the browser drops the
connection after a redirect) only delays the mail by ``SEND_GRACE_SECONDS``. A mail that
cannot leave is logged by the mailer, left to the worker, and never turns into a page
that would differ between the two cases."""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import timedelta
from threading import Event, Lock
from typing import Any

from flask import Response, after_this_request, current_app

from idp.mail_render import absolute_link, render_mail, send_staged, stage_mail, stage_notice
from idp.models import Account
from idp.outbox import Outbox
from idp.runtime import db, services

log = logging.getLogger("clef.recovery")

USERNAMES = "forgot_username"
RESET_CODE = "reset_code"
REVOKED_NOTICE = "recovery_revoked"
PASSWORD_RESET = "password_reset"  # noqa: S105 - a message name
QUESTIONS_CHANGED = "questions_changed"
EMAIL_CHANGED = "recovery_email_changed"
CONFIRM_ADDRESS = "confirm_email"  # the core's message: a code to confirm an address
# Mails holding an emailed code: given up rather than sent once the code has expired.
CODE_MESSAGES = frozenset({RESET_CODE})
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


def stage(message: str, locale: str, to: str, *, account_id: int | None = None,
          **context: Any) -> None:
    """Stage a notification in the current transaction (the caller commits); it leaves
    once the request is done, or later by the worker."""
    merged: dict[str, Any] = {**links(), **context}
    stage_mail(message, locale, to, account_id=account_id, **merged)


def notify(account: Account, message: str, **context: Any) -> None:
    """A notification to the account's confirmed recovery email, if any, with the
    recovery links, staged in the caller's transaction (:func:`idp.mail_render.stage_notice`)."""
    stage_notice(account, message, **links(), **context)


def deliver(message: str, locale: str, to: str, **context: Any) -> bool:
    """Stage, commit and send now; False when the mail could not leave now (already
    logged; the worker tries again)."""
    stage(message, locale, to, **context)
    db().commit()
    return send_staged()


class MailQueue:
    """One background thread per app that sends committed outbox rows in order."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clef-recovery-mail")
        self._pending: set[Future[None]] = set()
        self._lock = Lock()

    def put(self, mail_id: int, response_sent: Event) -> None:
        """Send outbox row ``mail_id`` once ``response_sent`` is set (or after the grace
        period)."""
        future = self._executor.submit(_send_when_sent, self._outbox, mail_id, response_sent)
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


def deliver_in_background(message: str, locale: str, to: str | None, *,
                          account_id: int | None = None, **context: Any) -> None:
    """Render and seal the mail now, whether or not it has a recipient (the same work on
    both paths, S6), commit it to the outbox, and queue it for the background thread
    when ``to`` is given."""
    svc = services()
    mail = render_mail(message, locale, to or "nobody@invalid", **links(), **context)
    if to is None:
        svc.outbox.discard(db(), mail, svc.clock.now(), message=message)
        db().commit()
        return
    now = svc.clock.now()
    expires = now + timedelta(minutes=code_minutes()) if message in CODE_MESSAGES else None
    row = svc.outbox.stage(db(), mail, now, message=message, account_id=account_id,
                           expires_at=expires)
    db().commit()
    response_sent = Event()

    @after_this_request
    def when_sent(response: Response) -> Response:
        response.call_on_close(response_sent.set)
        return response

    queue: MailQueue = current_app.extensions[MAIL_QUEUE_KEY]
    queue.put(row.id, response_sent)


def _send_when_sent(outbox: Outbox, mail_id: int, response_sent: Event) -> None:
    """Runs on the queue's thread, once the response is out: a failure is logged by the
    mailer (recipient and subject only, S28) and left to the worker."""
    response_sent.wait(timeout=SEND_GRACE_SECONDS)
    try:
        if not outbox.send(mail_id):
            log.warning("recovery mail (outbox row %s) not sent now; the worker will retry", mail_id)
    except Exception:  # a thread must not die silently (a database gone away): the worker retries
        log.exception("recovery mail (outbox row %s) not sent now", mail_id)


def code_minutes() -> int:
    return services().settings.email_code.lifetime_minutes
