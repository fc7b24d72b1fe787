"""J14: the partner's back-channel logout. A logout token the partner (a real Clef)
made for the broker ends the linked identity's sessions at Clef; a forged, replayed
into another partner, or malformed one changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from idp.clock import FrozenClock
from tests.oidc.portal_server import PortalServer
from tests.partners.conftest import (
    Partner,
    at_partner,
    path_of,
    register_partner,
    start_partner,
    start_trip,
)
from tests.support.accounts import create_account
from tests.support.app import run_cli
from tests.support.records import audit_events


@pytest.fixture
def mailbox() -> Iterator[PortalServer]:
    """Where the partner delivers its logout tokens; the test hands them to Clef."""
    server = PortalServer().start()
    yield server
    server.stop()


@pytest.fixture
def telling_bank(app: Flask, tmp_path: Path, sqlite_template: Path, clock: FrozenClock,
                 mailbox: PortalServer) -> Iterator[Partner]:
    partner = register_partner(app, start_partner(tmp_path, sqlite_template, clock, "bank"),
                               "Banque Exemple", "--backchannel-logout-uri", mailbox.uri)
    yield partner
    partner.stop()
    partner.app.extensions["clef"].engine.dispose()


def test_j14_partner_backchannel_logout_ends_the_clef_session(
        app: Flask, telling_bank: Partner, mailbox: PortalServer) -> None:
    create_account(telling_bank.app, "bob")
    browser = app.test_client()
    back = at_partner(telling_bank, start_trip(browser, telling_bank), "bob")
    assert browser.get(path_of(back)).status_code == 303
    assert browser.get("/account").status_code == 200
    # bob's sessions end at the partner (here an administrator revokes him there).
    assert run_cli(telling_bank.app, "users", "revoke", "bob", "--reason", "compromised").exit_code == 0
    assert "1 logout(s) delivered" in run_cli(telling_bank.app, "oidc", "deliver").output
    [token] = mailbox.received
    endpoint = f"/partners/{telling_bank.partner_id}/backchannel-logout"
    outsider = app.test_client()
    assert outsider.post(endpoint, data={"logout_token": token + "x"}).status_code == 400
    assert browser.get("/account").status_code == 200  # a bad token changed nothing
    assert outsider.post(endpoint, data={"logout_token": token}).status_code == 200
    assert browser.get("/account").status_code in (302, 303)
    [event] = audit_events(app, "partner:backchannel:logout")
    assert event.details["sessions"] == 1


def test_j14_logout_token_without_partner_or_token_is_refused(app: Flask) -> None:
    assert app.test_client().post("/partners/9/backchannel-logout",
                                  data={"logout_token": "x.y.z"}).status_code == 400
