"""Outgoing mail: the outbox and SMTP backends, the person's language, and links built
from the configured base URL only (S17). No body or code ever reaches the log (S28)."""

from __future__ import annotations

import dataclasses
import logging
import smtplib
import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope
from flask import Flask

from idp.mail import Mailer, MailNotSent, OutgoingMail, SmtpBackend
from idp.mail_render import absolute_link, render_mail
from tests.helpers import (
    GOOD_PASSWORD,
    body_of,
    csrf_from,
    decoded_header,
    emailed_code,
    french,
    get_account,
    outbox,
    register,
)

SMTP_USER, SMTP_PASSWORD = "clef-mailer", "smtp-secret-do-not-log"
BASE_URL = "https://clef.example.gov"


class Inbox:
    """An aiosmtpd handler that keeps what it receives and who logged in."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.logins: list[tuple[str, bytes, bytes]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, server: object, session: object, envelope: object,
                     mechanism: str, auth_data: object) -> AuthResult:
        login, password = auth_data.login, auth_data.password  # type: ignore[attr-defined]
        self.logins.append((mechanism, login, password))
        ok = (login, password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
        return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535

    @property
    def messages(self) -> list[Message]:
        return [message_from_bytes(e.content) for e in self.envelopes]  # type: ignore[arg-type]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(inbox: Inbox, **smtp_options: object) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), **smtp_options)
    controller.start()
    return controller


@pytest.fixture
def plain_smtp() -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server on 127.0.0.1: no TLS, no AUTH."""
    inbox = Inbox()
    controller = start_server(inbox)
    yield controller.port, inbox
    controller.stop()


@pytest.fixture
def auth_smtp() -> Iterator[tuple[int, Inbox]]:
    """A real SMTP server that asks for credentials (AUTH allowed without TLS: a test
    server on loopback only)."""
    inbox = Inbox()
    controller = start_server(inbox, authenticator=inbox.authenticate, auth_require_tls=False)
    yield controller.port, inbox
    controller.stop()


def ours(caplog: pytest.LogCaptureFixture) -> str:
    """What the service logged, without the test SMTP server's own debug log ("mail.log",
    which echoes every line it receives)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")


def smtp_app(make_app, port: int, **mail: object) -> Flask:
    settings = {"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": port,
                "smtp_starttls": False, "smtp_timeout_seconds": 5.0, **mail}
    return make_app(mail=settings)


# --- outbox ------------------------------------------------------------------------------


def test_outbox_writes_eml_and_logs_recipient_and_subject_only_S28(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    register(client, "alice", email_address="alice@example.com")

    folder = Path(app.extensions["clef"].settings.instance_path) / "outbox"
    files = list(folder.glob("*.eml"))
    assert len(files) == 1
    (mail,) = outbox(app)
    assert mail["To"] == "alice@example.com"
    assert mail["From"] == "Clef <no-reply@clef.invalid>"
    assert mail["Subject"] == "Your Clef confirmation code"
    assert mail["Message-ID"].endswith("@clef.invalid>")
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Date"]
    code = emailed_code(mail)

    announced = [r.getMessage() for r in caplog.records if r.name == "clef.mail"]
    assert len(announced) == 1
    assert "to=alice@example.com" in announced[0]
    assert "Your Clef confirmation code" in announced[0]
    assert str(files[0]) in announced[0]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert code not in logged
    assert "Your confirmation code is" not in logged
    assert "Enter it on the page" not in logged


# --- SMTP --------------------------------------------------------------------------------


def test_smtp_delivers_to_a_real_server_without_starttls(make_app, plain_smtp, caplog):
    port, inbox = plain_smtp
    app = smtp_app(make_app, port)
    caplog.set_level(logging.DEBUG)

    response = register(app.test_client(), "alice", email_address="alice@example.com")

    assert response.status_code == 303
    (envelope,) = inbox.envelopes
    assert envelope.mail_from == "no-reply@clef.invalid"
    assert envelope.rcpt_tos == ["alice@example.com"]
    (mail,) = inbox.messages
    assert mail["Subject"] == "Your Clef confirmation code"
    code = emailed_code(mail)
    assert inbox.logins == []
    assert outbox(app) == []  # SMTP, not the outbox
    logged = ours(caplog)
    assert "mail to=alice@example.com subject='Your Clef confirmation code' sent by SMTP" in logged
    assert code not in logged


def test_smtp_logs_in_with_the_configured_credentials(make_app, auth_smtp, caplog):
    port, inbox = auth_smtp
    app = smtp_app(make_app, port, smtp_username=SMTP_USER, smtp_password=SMTP_PASSWORD)
    caplog.set_level(logging.DEBUG)

    response = register(app.test_client(), "alice", email_address="alice@example.com")

    assert response.status_code == 303

    assert [(user, password) for _, user, password in inbox.logins] == [
        (SMTP_USER.encode(), SMTP_PASSWORD.encode()),
    ]
    assert [m["To"] for m in inbox.messages] == ["alice@example.com"]
    assert SMTP_PASSWORD not in ours(caplog)


def test_smtp_wrong_credentials_deliver_nothing(app, auth_smtp):
    port, inbox = auth_smtp
    base = app.extensions["clef"].settings.mail
    settings = dataclasses.replace(base, backend="smtp", smtp_host="127.0.0.1", smtp_port=port,
                                   smtp_starttls=False, smtp_username=SMTP_USER,
                                   smtp_password="not-it")
    mailer = Mailer(base.sender, SmtpBackend(settings))

    with pytest.raises(MailNotSent) as failed:
        mailer.send(OutgoingMail("alice@example.com", "Hello", "Body"),
                    app.extensions["clef"].clock.now())

    assert isinstance(failed.value.__cause__, smtplib.SMTPAuthenticationError)
    assert inbox.envelopes == []


def test_smtp_starttls_is_never_skipped_silently(app, plain_smtp):
    """With STARTTLS configured, a server that does not offer it gets nothing: no quiet
    fall-back to plain text."""
    port, inbox = plain_smtp
    base = app.extensions["clef"].settings.mail
    settings = dataclasses.replace(base, backend="smtp", smtp_host="127.0.0.1", smtp_port=port,
                                   smtp_starttls=True)
    mailer = Mailer(base.sender, SmtpBackend(settings))

    with pytest.raises(MailNotSent) as failed:
        mailer.send(OutgoingMail("alice@example.com", "Hello", "Body"),
                    app.extensions["clef"].clock.now())

    assert isinstance(failed.value.__cause__, smtplib.SMTPNotSupportedError)
    assert inbox.envelopes == []


# --- language ----------------------------------------------------------------------------


def test_mail_in_english_for_an_english_speaker(app, client):
    register(client, "alice", email_address="alice@example.com",
             **{"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    (mail,) = outbox(app)
    assert mail["Subject"] == "Your Clef confirmation code"
    body = body_of(mail)
    assert body.startswith("Hello alice,")
    assert f"Your confirmation code is: {emailed_code(mail)}" in body


def test_mail_in_french_for_a_french_speaker(app, client):
    subject_fr = french("Your %(name)s confirmation code")
    code_line_fr = french("Your confirmation code is: %(code)s")
    if subject_fr is None or code_line_fr is None:
        pytest.skip("the French catalogue has no confirmation-mail wording yet")
    client.get("/language/fr")  # the toggle, then registration remembers the choice

    register(client, "amelie", email_address="amelie@example.com")

    (mail,) = outbox(app)
    assert decoded_header(mail, "Subject") == subject_fr % {"name": "Clef"}
    assert code_line_fr % {"code": emailed_code(mail)} in body_of(mail)


def test_render_mail_follows_the_locale_given_not_the_request(app):
    """The recipient's language, even when a French page sends an English person mail."""
    hello_fr = french("Hello %(username)s,")
    if hello_fr is None:
        pytest.skip("the French catalogue has no greeting yet")
    with app.test_request_context("/", headers={"Accept-Language": "fr"}):
        english = render_mail("confirm_email", "en", "a@example.com", code="123456",
                              username="ann", minutes=10)
        frenchmail = render_mail("confirm_email", "fr", "b@example.com", code="123456",
                                 username="bea", minutes=10)
    assert english.text.startswith("Hello ann,")
    assert frenchmail.text.startswith(hello_fr % {"username": "bea"})


# --- S17: links from the configured base URL ---------------------------------------------


def test_mail_links_use_the_configured_base_url_never_the_host_header_S17(make_app):
    app = make_app(service={"base_url": BASE_URL})
    client = app.test_client()
    evil = {"base_url": "https://evil.example",
            "headers": {"X-Forwarded-Host": "evil2.example", "Forwarded": "host=evil3.example",
                        "Referer": "https://evil.example/register"}}  # CSRF's https check
    page = client.get("/register", **evil)
    data = {"csrf_token": csrf_from(page), "username": "alice", "password": GOOD_PASSWORD,
            "confirm": GOOD_PASSWORD, "email": "alice@example.com"}

    response = client.post("/register", data=data, **evil)

    assert response.status_code == 303
    (mail,) = outbox(app)
    raw = mail.as_string()
    assert BASE_URL in body_of(mail)
    assert "evil" not in raw
    assert "127.0.0.1" not in raw
    with app.test_request_context("/", base_url="https://evil.example"):
        assert absolute_link("/signin") == f"{BASE_URL}/signin"
        assert absolute_link("register/email") == f"{BASE_URL}/register/email"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_registration_survives_a_mail_server_that_is_down(make_app):
    """J2, J5: with the SMTP server down the account is kept, the page says the code could
    not be sent and offers a new one; no error page, nothing lost."""
    app = make_app(mail={"backend": "smtp", "smtp_host": "127.0.0.1", "smtp_port": _closed_port(),
                         "smtp_starttls": False, "smtp_timeout_seconds": 2.0})
    client = app.test_client()

    response = register(client, "alice", email_address="alice@example.com")

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/register/email?failed=1")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "We could not send the code just now" in page
    assert get_account(app, "alice") is not None
