"""The recovery tests' apps answer through a test client that closes each response, as
a real server does once it has sent it: mails that S6 sends after the response
(``recovery.mail.deliver_after_response``) are then in the outbox, as in production."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient


class ClosingClient(FlaskClient):
    """Reads and closes every response before handing it back (``buffered=True``),
    unless a test asks for ``buffered=False`` to time the answer alone."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.fixture
def make_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    def build(**overrides: Any) -> Flask:
        app = make_app(**overrides)
        app.test_client_class = ClosingClient
        return app

    return build
