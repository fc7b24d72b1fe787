"""Outgoing mail: one interface, two backends.

- ``outbox`` (embedded default): each message is written as an ``.eml`` file under
  ``<instance>/outbox/`` and announced in the log (recipient, subject, file; never the
  body, which may hold a code).
- ``smtp``: sent through the configured server, with STARTTLS and credentials.

Messages are rendered by the web layer (``idp.mail_render``) in the person's language;
this module only delivers them.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from idp.instance import write_private_file
from idp.settings import MailSettings

log = logging.getLogger("clef.mail")


@dataclass(frozen=True)
class OutgoingMail:
    to: str
    subject: str
    text: str


class MailBackend(Protocol):
    def deliver(self, message: EmailMessage) -> None: ...


class OutboxBackend:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def deliver(self, message: EmailMessage) -> None:
        path = self.folder / f"{datetime.now().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.eml"  # noqa: DTZ005 - a file name, local time is what an operator reads
        write_private_file(path, bytes(message))  # it may hold a code: 0600
        log.info("mail to=%s subject=%r written to %s", message["To"], message["Subject"], path)


class SmtpBackend:
    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    def deliver(self, message: EmailMessage) -> None:
        s = self.settings
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_seconds) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password)
            smtp.send_message(message)
        log.info("mail to=%s subject=%r sent by SMTP", message["To"], message["Subject"])


class MailNotSent(Exception):
    """The backend could not deliver (SMTP server down, disk full). The caller keeps
    what the person saved and offers to send again."""


class Mailer:
    def __init__(self, sender: str, backend: MailBackend) -> None:
        self.sender = sender
        self.backend = backend

    def send(self, mail: OutgoingMail, now: datetime) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(now)
        message["Message-ID"] = make_msgid(domain="clef.invalid")
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(mail.text)
        try:
            self.backend.deliver(message)
        except (OSError, smtplib.SMTPException) as error:
            log.warning("mail to=%s subject=%r not sent: %s", mail.to, mail.subject,
                        type(error).__name__)
            raise MailNotSent() from error


def make_mailer(settings: MailSettings, instance_path: Path) -> Mailer:
    if settings.backend == "smtp":
        return Mailer(settings.sender, SmtpBackend(settings))
    return Mailer(settings.sender, OutboxBackend(instance_path / "outbox"))
