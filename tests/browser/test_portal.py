"""The sample employer portal (examples/employer_portal) signing a person in with Clef,
in Chromium, in English and in French: J1 from a portal, J2 and J8 on the way, then
RP-initiated and back-channel logout (S44).

The portal is a second live server (WSGI in a thread, like ``live_server``), a real
relying party: Authlib's Flask client, discovery, PKCE, state and nonce, ID token checks
against Clef's JWKS with the real time. Clef's frozen clock is set to the real time at
the start, so the ID tokens it signs pass those checks. Every page the tab loads,
the portal's and Clef's, is checked with axe by the visitor.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect

from idp import audit
from idp.oidc.runtime import EXTENSION_KEY as OIDC_KEY
from tests.browser.journey import LiveServer, Visitor
from tests.browser.recovery_wording import fill_questions
from tests.browser.sample_portal import serve_sample_portal
from tests.helpers import GOOD_PASSWORD, audit_tags, run_cli
from tests.totp_reference import key_of, totp

pytestmark = pytest.mark.browser

ACR_APP = "urn:clef:acr:authenticator-app"  # D2: an authenticator app was the factor


@dataclass(frozen=True)
class PortalWording:
    home_title: str
    sign_in: str
    account_title: str
    sign_out: str
    signed_out: str


PORTAL = {
    "en": PortalWording("Employer Portal: Sign in", "Sign in with Clef", "Your employer account",
                        "Sign out", "You are signed out of the Employer Portal."),
    "fr": PortalWording("Portail des employeurs\u00a0: Se connecter", "Se connecter avec Clef",
                        "Votre compte d'employeur", "Se déconnecter",
                        "Vous êtes déconnecté du Portail des employeurs."),
}


@dataclass
class Portal:
    server: LiveServer
    client_id: str


@pytest.fixture
def portal(live_server: LiveServer, tmp_path: Path) -> Iterator[Portal]:
    """The sample portal on its own port, registered with the live Clef through the
    CLI as ``register.py`` registers it (trusted: no consent screen)."""
    with serve_sample_portal(live_server, tmp_path) as (server, client_id):
        yield Portal(server, client_id)


def clef_url(live_server: LiveServer, path: str) -> re.Pattern[str]:
    return re.compile(re.escape(live_server.url + path) + r"(\?.*)?$")


def set_clock_to_real_time(live_server: LiveServer) -> None:
    """The portal checks exp and iat against the real time (with a small leeway)."""
    clock = live_server.clock
    clock.advance(seconds=time.time() - clock.now().timestamp())


def register_and_set_up_the_app(v: Visitor, live_server: LiveServer, username: str) -> None:
    """J2 without a recovery email, with its security questions, then J8 with an
    authenticator app whose code the test computes from the secret the page shows
    (RFC 6238, tests/totp_reference.py), then the recovery codes, saved."""
    w, page = v.words, v.page
    v.follow(w.register)
    expect(page).to_have_url(clef_url(live_server, "/register"))
    v.field(w.username).fill(username)
    v.field(w.password).fill(GOOD_PASSWORD)
    v.field(w.confirm_password).fill(GOOD_PASSWORD)
    v.submit(w.continue_)
    expect(page).to_have_url(clef_url(live_server, "/register/questions"))
    fill_questions(v)
    v.submit(w.continue_)
    expect(page).to_have_url(clef_url(live_server, "/2fa/setup"))
    v.field(w.method_app).check()
    v.submit(w.continue_)
    expect(page.get_by_role("heading", level=1)).to_have_text(w.app_setup_title)
    secret = page.locator("code#totp-secret").inner_text().replace(" ", "")
    moment = int(live_server.clock.now().timestamp())
    v.field(w.code).fill(totp(key_of(secret), moment))
    v.submit(w.confirm)
    expect(page).to_have_url(clef_url(live_server, "/2fa/recovery-codes"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.recovery_codes_title)
    v.field(w.saved_codes).check()
    v.submit(w.continue_)


def claim(v: Visitor, name: str) -> str:
    return str(v.page.locator(f'[data-claim="{name}"]').inner_text())


def sign_in_from_the_portal(v: Visitor, live_server: LiveServer, portal: Portal) -> None:
    """Portal home -> "Sign in with Clef" -> Clef's sign-in page, in the portal's
    language (ui_locales) -> Register -> 2FA -> back at the portal, signed in."""
    p, w, page = PORTAL[v.locale], v.words, v.page
    expect(page.get_by_role("heading", level=1)).to_have_text(p.home_title)
    v.follow(p.sign_in)
    expect(page).to_have_url(clef_url(live_server, "/signin"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.sign_in)
    register_and_set_up_the_app(v, live_server, "marguerite")
    expect(page).to_have_url(v.url("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text(p.account_title)


def test_sign_in_at_the_portal_by_registering_then_sign_out_J1_J2_J8_S36_S44_S45(
    open_browser, live_server: LiveServer, portal: Portal, locale: str
) -> None:
    """J1 from a portal: the person registers on the way (J2, J8) and lands back on the
    portal signed in. The portal validated the ID token (signature, iss, aud, exp, iat,
    nonce) and shows its claims: the issuer, its own client id as audience, acr of an
    authenticator app with amr pwd + otp (D2), auth_time of the sign-in (S36), a
    pairwise sub that is not the username and equals UserInfo's (S43, S45). "Sign
    out" ends the portal's session and, through RP-initiated logout with the ID token
    as hint, Clef's, straight back to the registered post-logout URI with the state
    the portal sent (S44). Clef then tells the portal by back-channel logout."""
    set_clock_to_real_time(live_server)
    v: Visitor = open_browser(locale, "/", server=portal.server)
    p, page = PORTAL[locale], v.page
    sign_in_from_the_portal(v, live_server, portal)

    assert claim(v, "iss") == live_server.url
    assert claim(v, "aud") == portal.client_id
    assert claim(v, "acr") == ACR_APP
    assert claim(v, "amr").split() == ["pwd", "otp"]
    assert abs(int(claim(v, "auth_time")) - live_server.clock.now().timestamp()) < 5
    sub = claim(v, "sub")
    assert sub and "marguerite" not in sub
    assert page.locator('[data-userinfo="sub"]').inner_text() == sub
    assert "marguerite" not in page.get_by_role("main").inner_text()  # J13

    v.submit(p.sign_out)
    expect(page).to_have_url(re.compile(re.escape(v.url("/")) + r"\?state=[\w-]+$"))
    expect(page.get_by_role("status")).to_have_text(p.signed_out)
    expect(page.get_by_role("link", name=p.sign_in, exact=True)).to_be_visible()
    assert audit_tags(live_server.app).count(audit.OIDC_LOGOUT) == 1

    v.goto("/account")  # the portal's session is gone: its pages lead to sign-in
    expect(page).to_have_url(v.url("/"))
    v.follow(p.sign_in)  # and so is Clef's: signing in again asks for the password
    expect(page).to_have_url(clef_url(live_server, "/signin"))
    expect(v.field(v.words.password)).to_be_visible()

    delivered = run_cli(live_server.app, "oidc", "deliver")
    assert delivered.exit_code == 0, delivered.output
    assert "1 logout(s) delivered" in delivered.output, delivered.output
    assert audit_tags(live_server.app).count(audit.BACKCHANNEL_DELIVERED) == 1


def test_signing_out_at_clef_ends_the_portal_session_by_back_channel_S21_S44(
    open_browser, live_server: LiveServer, portal: Portal, locale: str
) -> None:
    """Back-channel logout: signed in at the portal, the person signs out at Clef
    instead. The worker's pass (``clef oidc deliver``) posts a logout token to the
    portal, which validates it against Clef's keys and ends its own session for that
    sid: the portal's next page shows the person signed out. The same token posted
    again is refused (jti replay), and so is a token that is not Clef's."""
    set_clock_to_real_time(live_server)
    v: Visitor = open_browser(locale, "/", server=portal.server, via="accept-language")
    p, w, page = PORTAL[locale], v.words, v.page
    sign_in_from_the_portal(v, live_server, portal)

    page.goto(live_server.url + "/account")
    v.check_page()
    v.submit(w.sign_out)  # Clef's own header button
    v.goto("/account")
    expect(page).to_have_url(v.url("/account"))  # nothing told the portal yet

    posted: list[bytes] = []
    backchannel = live_server.app.extensions[OIDC_KEY].backchannel
    send = backchannel.post

    def keep_and_send(uri: str, body: bytes, timeout: float) -> None:
        posted.append(body)
        send(uri, body, timeout)

    backchannel.post = keep_and_send
    delivered = run_cli(live_server.app, "oidc", "deliver")
    assert "1 logout(s) delivered" in delivered.output, delivered.output
    v.reload()
    expect(page).to_have_url(v.url("/"))
    expect(page.get_by_role("link", name=p.sign_in, exact=True)).to_be_visible()

    client = portal.server.app.test_client()
    assert len(posted) == 1
    again = client.post("/backchannel-logout", data=posted[0],
                        content_type="application/x-www-form-urlencoded")
    assert again.status_code == 400  # the same jti twice
    forged = client.post("/backchannel-logout", data={"logout_token": "e30.e30.e30"})
    assert forged.status_code == 400


def test_signing_out_after_the_id_token_expired_still_returns_to_the_portal_S44(
    open_browser, live_server: LiveServer, portal: Portal, locale: str
) -> None:
    """A portal's session outlives its ID token (10 minutes): the expired ID token is
    still a valid id_token_hint (RP-Initiated Logout §2), so "Sign out" 11 minutes
    after signing in ends Clef's session and returns to the portal without asking."""
    set_clock_to_real_time(live_server)
    v: Visitor = open_browser(locale, "/", server=portal.server)
    p, page = PORTAL[locale], v.page
    sign_in_from_the_portal(v, live_server, portal)
    live_server.clock.advance(minutes=11)  # within Clef's idle timeout (D5: 20 minutes)

    v.submit(p.sign_out)
    expect(page).to_have_url(re.compile(re.escape(v.url("/")) + r"\?state=[\w-]+$"))
    expect(page.get_by_role("status")).to_have_text(p.signed_out)
    assert audit_tags(live_server.app).count(audit.OIDC_LOGOUT) == 1
