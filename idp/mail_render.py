"""Mail in the person's language from ``templates/email/<message>/`` (subject.txt and
body.txt), with links built from the configured base URL, never the Host header (S17).

A mail is staged in the outbox (:mod:`idp.outbox`) in the caller's transaction and sent
once that transaction has committed: by :func:`send_staged` where the page must know
whether a code left, else by the app's ``after_request`` hook. A mail that cannot leave
now is sent later by the worker."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

from flask import current_app, g
from flask_babel import force_locale
from sqlalchemy import inspect

from idp.mail import OutgoingMail
from idp.models import Account, OutboxMail
from idp.runtime import db, services

STAGED_KEY = "clef_staged_mail"


def absolute_link(path: str) -> str:
    """``path`` on the configured public URL (S17)."""
    return urljoin(services().settings.service.base_url.rstrip("/") + "/", path.lstrip("/"))


def render_mail(message: str, locale: str, to: str, **context: Any) -> OutgoingMail:
    settings = services().settings
    context.setdefault("service_name", settings.service.name)
    context.setdefault("base_url", settings.service.base_url)
    # The templates get only this context, not the page context processors: a mail is
    # the same whether a request (and whose Host header) or the CLI's sweep sends it (S17).
    env = current_app.jinja_env
    with force_locale(locale):
        subject = env.get_template(f"email/{message}/subject.txt").render(**context).strip()
        text = env.get_template(f"email/{message}/body.txt").render(**context)
    return OutgoingMail(to=to, subject=subject, text=text)


def stage_mail(message: str, locale: str, to: str, *, account_id: int | None = None,
               valid_minutes: int | None = None, **context: Any) -> OutboxMail:
    """Render the mail and add it to the current transaction's outbox; the caller
    commits. ``valid_minutes``: the mail holds a code of that lifetime, and is given up
    rather than sent once it has expired."""
    svc = services()
    now = svc.clock.now()
    expires = None if valid_minutes is None else now + timedelta(minutes=valid_minutes)
    row = svc.outbox.stage(db(), render_mail(message, locale, to, **context), now,
                           message=message, account_id=account_id, expires_at=expires)
    g.setdefault(STAGED_KEY, []).append(row)
    return row


def stage_notice(account: Account, message: str, **context: Any) -> bool:
    """A security notification (S14, S18) to the account's confirmed recovery email,
    staged in the transaction of the change it tells of: call before that commit. False
    when there is no confirmed address to tell. Like every mail it leaves through the
    outbox, the one place where a mail that cannot leave is logged and kept for later."""
    if not account.has_confirmed_email or account.email is None:
        return False
    stage_mail(message, account.locale, account.email, account_id=account.id,
               username=account.username, **context)
    return True


def send_staged() -> bool:
    """Send every mail staged in this request (or command) whose transaction has
    committed; True when all of them left. One that did not is logged by the mailer and
    left to the worker; one whose transaction rolled back is simply forgotten."""
    staged: list[OutboxMail] = g.pop(STAGED_KEY, [])
    outbox = services().outbox
    all_sent = True
    for row in staged:
        state = inspect(row)
        if not state.persistent or state.modified or row.id is None:
            continue  # rolled back, or not committed: the worker finds it if it ever commits
        all_sent = outbox.send(row.id) and all_sent
    return all_sent
