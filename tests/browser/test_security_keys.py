"""Security keys and passkeys (D3) in Chromium, in English and in French, with
Chromium's virtual authenticator (DevTools WebAuthn domain, through Playwright's CDP
session): set-up (J8), signing in, a second key, removal (S14) with the last factor
kept, and a cloned credential (its counter going back) refused.

Every page visited is checked with axe-core by the ``open_browser`` fixture's visitor.
The live server runs on ``localhost``: Chromium refuses an IP address as a relying
party id, so a site on http://127.0.0.1 cannot register a key at all.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import select
from werkzeug.serving import BaseWSGIServer, make_server

from idp.clock import FrozenClock
from idp.oidc.acr import ACR_PHISHING_RESISTANT
from mfa import events
from mfa.models import SecurityKey
from tests.browser.journey import LiveServer, Visitor
from tests.browser.sample_portal import serve_sample_portal
from tests.helpers import (
    GOOD_PASSWORD,
    audit_events,
    create_account,
    french,
    fresh_totp,
    get_account,
)
from tests.support.soft_key import SoftKey, b64

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(make_app: Callable[..., Flask], clock: FrozenClock) -> Iterator[LiveServer]:
    """As the shared live server, but named ``localhost`` (a valid WebAuthn rp id)."""
    holder: dict[str, Flask] = {}

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi, threaded=True)
    url = f"http://localhost:{server.server_port}"
    holder["app"] = make_app(service={"base_url": url})
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                              name="clef-live-server", daemon=True)
    thread.start()
    yield LiveServer(holder["app"], url, clock)
    server.shutdown()
    thread.join(timeout=10)


def say(v: Visitor, english: str) -> str:
    """The page's wording of ``english`` in the visitor's language."""
    if v.locale == "en":
        return english
    text = french(english)
    assert text, f"no French for {english!r}"
    return text


class Authenticator:
    """A virtual USB security key (CTAP2, user verification) plugged into the tab."""

    def __init__(self, v: Visitor) -> None:
        self.cdp = v.context.new_cdp_session(v.page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.id = self.plug()

    def plug(self) -> str:
        found = self.cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
            "protocol": "ctap2", "transport": "usb", "hasResidentKey": False,
            "hasUserVerification": True, "isUserVerified": True,
            "automaticPresenceSimulation": True}})
        return str(found["authenticatorId"])

    def unplug(self) -> None:
        self.cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": self.id})

    def credentials(self) -> list[dict[str, Any]]:
        found = self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})
        return list(found["credentials"])

    def add(self, credential: dict[str, Any]) -> None:
        self.cdp.send("WebAuthn.addCredential", {"authenticatorId": self.id,
                                                 "credential": credential})


def register_key(v: Visitor, name: str) -> None:
    expect(v.page.get_by_role("heading", level=1)).to_have_text(say(v, "Security key or passkey"))
    v.field(say(v, "Name of the key")).fill(name)
    v.submit(say(v, "Register the key"))


def sign_in_with_key(v: Visitor) -> None:
    v.goto("/signin")
    v.sign_in("alice", GOOD_PASSWORD)
    expect(v.page).to_have_url(v.path_re("/2fa/challenge/key"))
    v.submit(say(v, "Use my security key"))


def enrol_with_key(v: Visitor) -> None:
    """J8 with a key: the third method (shown because the browser has WebAuthn), a name,
    the browser's ceremony, then the recovery codes as for the other methods."""
    w = v.words
    v.sign_in("alice", GOOD_PASSWORD)
    expect(v.page).to_have_url(v.path_re("/2fa/setup"))
    v.field(say(v, "Security key or passkey (strongest)")).check()
    v.submit(w.continue_)
    register_key(v, "YubiKey bleue")
    expect(v.page).to_have_url(v.path_re("/2fa/recovery-codes"))
    v.field(w.saved_codes).check()
    v.submit(w.continue_)


def keys_of(server: LiveServer) -> list[SecurityKey]:
    db = server.app.extensions["clef"].session_factory()
    try:
        return list(db.scalars(select(SecurityKey).order_by(SecurityKey.id)))
    finally:
        db.close()


def test_d3_set_up_sign_in_second_key_and_removal(open_browser, live_server, locale):
    create_account(live_server.app, "alice", second_factor=None)
    v: Visitor = open_browser(locale, "/signin")
    key = Authenticator(v)
    enrol_with_key(v)
    [stored] = keys_of(live_server)
    assert stored.name == "YubiKey bleue" and stored.sign_count == 1
    v.submit(v.words.sign_out)
    sign_in_with_key(v)
    expect(v.page.get_by_role("heading", level=1)).to_have_text(v.words.authenticated_title)
    assert keys_of(live_server)[0].sign_count == 2
    # A second key, from the account page (a fresh sign-in, S14): a new authenticator.
    key.unplug()
    key.id = key.plug()
    v.goto("/2fa/manage")
    v.follow(say(v, "Add a security key or passkey"))
    register_key(v, "Clé de secours")
    expect(v.page.get_by_role("status")).to_have_text(say(v, "Your security key was added."))
    expect(v.page.get_by_role("cell", name="Clé de secours", exact=True)).to_be_visible()
    # Remove the first; the second, now the only factor, cannot be removed.
    v.submit(say(v, "Remove %(name)s").replace("%(name)s", "YubiKey bleue"))
    expect(v.page.get_by_role("status")).to_have_text(say(v, "The security key was removed."))
    v.submit(say(v, "Remove %(name)s").replace("%(name)s", "Clé de secours"))
    expect(v.page.get_by_role("status")).to_contain_text(
        say(v, "This is your only way to sign in after your password, so it cannot be removed. "
               "Add another key or an app first."))
    assert [k.name for k in keys_of(live_server)] == ["Clé de secours"]


def test_d3_a_cloned_key_whose_counter_goes_back_is_refused(open_browser, live_server, locale):
    create_account(live_server.app, "alice", second_factor=None)
    v: Visitor = open_browser(locale, "/signin")
    key = Authenticator(v)
    enrol_with_key(v)
    [exported] = key.credentials()
    v.submit(v.words.sign_out)
    sign_in_with_key(v)  # the counter moves on, past the copy's
    key.unplug()
    key.id = key.plug()
    key.add({**exported, "signCount": 0})
    v.submit(v.words.sign_out)
    sign_in_with_key(v)
    expect(v.page).to_have_url(v.path_re("/2fa/challenge/key"))
    expect(v.page.get_by_role("alert")).to_have_text(
        say(v, "Your security key was not accepted. Try again, or use another method."))
    assert re.fullmatch(r"\d+", audit_events(live_server.app, events.KEY_COUNTER_WENT_BACK)[0]
                        .details["stored"])


# --- a portal demanding the phishing-resistant level ---------------------------------


@pytest.fixture
def strict_portal(live_server: LiveServer, tmp_path: Path) -> Iterator[LiveServer]:
    """The sample portal, registered with the live Clef, asking every sign-in for
    ``acr_values=urn:clef:acr:phishing-resistant``."""
    with serve_sample_portal(live_server, tmp_path, ACR_VALUES=ACR_PHISHING_RESISTANT) as (server, _):
        yield server


def give_key(server: LiveServer, key: Authenticator, username: str) -> None:
    """A key already registered: the credential in the virtual authenticator, its public
    half in Clef's table (as a registration would leave them)."""
    soft = SoftKey(server.url)
    der = soft.private.private_bytes(serialization.Encoding.DER,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    key.add({"credentialId": base64.b64encode(soft.credential_id).decode(),
             "isResidentCredential": False, "rpId": "localhost",
             "privateKey": base64.b64encode(der).decode(), "signCount": 0})
    account = get_account(server.app, username)
    assert account is not None
    svc = server.app.extensions["clef"]
    db = svc.session_factory()
    try:
        db.add(SecurityKey(account_id=account.id, credential_id=b64(soft.credential_id),
                           public_key=soft.cose(), sign_count=0, name="YubiKey bleue",
                           synced=False, transports="usb", created_at=svc.clock.now(),
                           last_used_at=None))
        db.commit()
    finally:
        db.close()


def test_d3_portal_asking_for_phishing_resistant_gets_it_with_a_key(
        open_browser, live_server, strict_portal, locale):
    """The OIDC round trip: the portal sends acr_values=urn:clef:acr:phishing-resistant;
    the person with an app and a key signs in with the key and the portal's validated
    ID token says acr phishing-resistant, amr pwd hwk pop."""
    clock = live_server.clock
    clock.advance(seconds=time.time() - clock.now().timestamp())  # the portal checks iat
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/", server=strict_portal)
    give_key(live_server, Authenticator(v), "alice")
    v.follow("Sign in with Clef" if locale == "en" else "Se connecter avec Clef")
    expect(v.page).to_have_url(re.compile(re.escape(live_server.url + "/signin") + r"(\?.*)?$"))
    v.field(v.words.username).fill("alice")
    v.field(v.words.password).fill(GOOD_PASSWORD)
    v.submit(v.words.continue_)
    expect(v.page).to_have_url(re.compile(re.escape(live_server.url + "/2fa/challenge/key")))
    v.submit(say(v, "Use my security key"))
    expect(v.page).to_have_url(v.url("/account"))
    assert v.page.locator('[data-claim="acr"]').inner_text() == ACR_PHISHING_RESISTANT
    assert v.page.locator('[data-claim="amr"]').inner_text().split() == ["pwd", "hwk", "pop"]


def test_d3_the_app_stays_a_backup_through_use_another_method(open_browser, live_server, locale):
    """An account with the app and a key: the challenge asks for the key first, and
    "Use another method" leads to the app's code, which still signs in."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/signin")
    give_key(live_server, Authenticator(v), "alice")
    v.sign_in("alice", GOOD_PASSWORD)
    expect(v.page).to_have_url(v.path_re("/2fa/challenge/key"))
    expect(v.page.get_by_role("heading", level=2)).to_have_text(say(v, "Use another method"))
    v.follow(say(v, "A code from your authenticator app"))
    v.field(v.words.code).fill(fresh_totp(live_server.app, "alice"))
    v.submit(v.words.continue_)
    expect(v.page.get_by_role("heading", level=1)).to_have_text(v.words.authenticated_title)
