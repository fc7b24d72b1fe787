"""The recovery tests' apps answer through a test client that closes each response, as a
server does once it has sent it, then waits for the mail the request queued in the
background (``recovery.mail.MailQueue``: mail that depends on whether an account exists
leaves once the answer is out, S6). A test then reads the outbox as a person would find
their mailbox a moment later."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from recovery.mail import MAIL_QUEUE_KEY


def wait_for_mail(app: Flask) -> None:
    app.extensions[MAIL_QUEUE_KEY].wait(timeout=10)


class MailWaitingClient(FlaskClient):
    """A test client whose requests return once the response is closed and its
    background mail handed to the mailer. ``wait_for_mail=False`` returns the open
    response at once (to time the answer alone; close it, then :func:`wait_for_mail`)."""

    def open(self, *args: Any, wait_for_mail: bool = True, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", wait_for_mail)
        response = super().open(*args, **kwargs)
        if wait_for_mail:
            self.application.extensions[MAIL_QUEUE_KEY].wait(timeout=10)
        return response


@pytest.fixture
def make_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    def build(**overrides: Any) -> Flask:
        app = make_app(**overrides)
        app.test_client_class = MailWaitingClient
        return app

    return build
