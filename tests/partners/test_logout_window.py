"""OIDC Back-Channel Logout 1.0 §2.6: a partner's logout token whose ``iat`` is further
from now than ``[partners] logout_iat_window_seconds`` is refused. Here the window is
set to 60 seconds (the default, 300, would accept both tokens below): the setting, not
a constant, decides."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from idp.clock import FrozenClock
from tests.oidc.portal_server import PortalServer
from tests.partners.conftest import Partner
from tests.partners.test_backchannel import _signed_in as signed_in_then_revoked
from tests.partners.test_backchannel import mailbox, telling_bank  # noqa: F401 - fixtures
from tests.support.records import audit_events

WINDOW = 60


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(partners={"logout_iat_window_seconds": WINDOW})


def test_a_logout_token_older_than_the_window_is_refused(
        app: Flask, telling_bank: Partner, mailbox: PortalServer,  # noqa: F811
        clock: FrozenClock) -> None:
    token, browser = signed_in_then_revoked(app, telling_bank, mailbox)
    clock.advance(seconds=WINDOW + 1)
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 400
    assert audit_events(app, "partner:login:failure")[-1].details["detail"] == \
        "logout token iat check failed"
    assert browser.get("/account").status_code == 200  # still signed in


def test_a_logout_token_within_the_window_is_accepted(
        app: Flask, telling_bank: Partner, mailbox: PortalServer,  # noqa: F811
        clock: FrozenClock) -> None:
    token, browser = signed_in_then_revoked(app, telling_bank, mailbox)
    clock.advance(seconds=WINDOW - 1)
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    assert app.test_client().post(endpoint, data={"logout_token": token}).status_code == 200
    assert browser.get("/account").status_code in (302, 303)
