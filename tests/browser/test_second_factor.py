"""Two-factor authentication through the real screens in Chromium, in English and in
French: setting it up (J8), signing in with it and changing it (J1, J9), recovering the
account with a recovery code (J10), and what to do without method or codes (J11).

Every page visited is checked with axe-core (WCAG 2.1 A/AA) by the ``open_browser``
fixture's visitor. TOTP codes are computed by the test from the secret the page shows,
with the independent RFC 6238 implementation (tests/totp_reference.py), at the live
server's frozen time; the clock moves 30 s instead of waiting for the app's next code.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import expect

from mfa.models import EMAIL, TOTP
from mfa.runtime import EXTENSION_KEY
from tests.browser.journey import LiveServer, Visitor
from tests.browser.recovery_wording import fill_questions
from tests.helpers import (
    GOOD_PASSWORD,
    TEST_TOTP_SECRET,
    body_of,
    create_account,
    emailed_code,
    fresh_totp,
    get_account,
    outbox,
)
from tests.mfa.flows import factor_of, remaining_codes
from tests.totp_reference import key_of, totp

pytestmark = pytest.mark.browser

RECOVERY_CODES = 10  # config/defaults.toml [mfa] recovery_code_count (S13)
GROUPED_SECRET_RE = re.compile(r"[A-Z2-7]{4}( [A-Z2-7]{4})+")
RECOVERY_CODE_RE = re.compile(r"[0-9A-Z]{4}(-[0-9A-Z]{4})+")
PERIOD = timedelta(seconds=30)  # [mfa] totp_period_seconds


# --- what the person's authenticator app does ------------------------------------------


def app_code(live_server: LiveServer, secret: str, shift: timedelta = timedelta()) -> str:
    """The code an app holding ``secret`` shows now (at the live server's frozen time),
    or ``shift`` later."""
    moment = live_server.clock.now() + shift
    return totp(key_of(secret), int(moment.timestamp()))


def not_a_current_code(live_server: LiveServer, secret: str) -> str:
    """Six digits that are none of the codes accepted now (one step of drift, S11)."""
    accepted = {app_code(live_server, secret, shift) for shift in (-PERIOD, timedelta(), PERIOD)}
    return next(c for c in (d * 6 for d in "0123456789") if c not in accepted)


# --- steps that several journeys share ----------------------------------------------------


def register_without_email(v: Visitor, username: str) -> None:
    """J2 with no recovery email: the security questions, then the second-factor set-up."""
    w = v.words
    v.field(w.username).fill(username)
    v.field(w.password).fill(GOOD_PASSWORD)
    v.field(w.confirm_password).fill(GOOD_PASSWORD)
    v.submit(w.continue_)
    expect(v.page).to_have_url(v.url("/register/questions"))
    fill_questions(v)
    v.submit(w.continue_)
    expect(v.page).to_have_url(v.url("/2fa/setup"))


def set_up_app(v: Visitor, wrong_code_first: bool = False) -> str:
    """J8 from the set-up page: choose the app, read the secret the page shows beside
    the QR code, type the code the app would show (after a wrong one, if asked: it is
    refused next to the field, and the page keeps the same secret). Returns the secret."""
    w, page = v.words, v.page
    v.field(w.method_app).check()
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/setup/app"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.app_setup_title)
    qr = page.get_by_role("img", name=w.qr_code, exact=True)
    expect(qr.locator("svg")).to_have_count(1)
    shown = page.locator("code#totp-secret").inner_text()
    assert GROUPED_SECRET_RE.fullmatch(shown), shown  # grouped by four for typing
    secret = shown.replace(" ", "")
    assert len(secret) * 5 >= 160  # S11: at least 160 bits

    code = v.field(w.code)
    expect(code).to_have_attribute("autocomplete", "one-time-code")
    if wrong_code_first:
        code.fill(not_a_current_code(v.server, secret))
        v.submit(w.confirm)
        expect(page).to_have_url(v.url("/2fa/setup/app"))
        expect(code).to_have_attribute("aria-invalid", "true")
        expect(code).to_have_accessible_description(re.compile(re.escape(w.wrong_code)))
        assert page.locator("code#totp-secret").inner_text() == shown, "same secret until confirmed"
    code.fill(app_code(v.server, secret))
    v.submit(w.confirm)
    expect(page).to_have_url(v.url("/2fa/recovery-codes"))
    return secret


def shown_recovery_codes(v: Visitor) -> list[str]:
    """The new set on the codes page (S13: shown once), as the person reads it."""
    expect(v.page.get_by_role("heading", level=1)).to_have_text(v.words.recovery_codes_title)
    codes = [c.strip() for c in v.page.locator("#recovery-codes li").all_inner_texts()]
    assert len(codes) == RECOVERY_CODES, codes
    assert len(set(codes)) == RECOVERY_CODES
    for code in codes:
        assert RECOVERY_CODE_RE.fullmatch(code), code
        assert len(code.replace("-", "")) * 5 >= 64  # S13: at least 64 bits each
    return codes


def keep_codes_by_script_or_without(v: Visitor, codes: list[str]) -> None:
    """The ways to keep the codes: without script only "Download" shows (Copy and Print
    need it and stay hidden); the file holds the codes shown; "Copy" puts them on the
    clipboard, one a line."""
    w, page = v.words, v.page
    copy = page.get_by_role("button", name=w.copy, exact=True)
    print_ = page.get_by_role("button", name=w.print_, exact=True)
    page.route("**/static/mfa.js", lambda route: route.abort())
    v.reload()
    expect(copy).to_be_hidden()
    expect(print_).to_be_hidden()
    page.unroute("**/static/mfa.js")
    v.reload()
    expect(print_).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name=w.download, exact=True).click()
    saved = Path(download.value.path()).read_text(encoding="utf-8").split()
    assert set(codes) <= set(saved)

    v.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=v.server.url)
    copy.click()
    expect(page.get_by_role("button", name=w.copied, exact=True)).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()").split("\n") == codes


def say_codes_are_saved(v: Visitor) -> None:
    v.field(v.words.saved_codes).check()
    v.submit(v.words.continue_)


def sign_in_again(v: Visitor, username: str) -> None:
    """Sign out (the header's button), then the password step again."""
    w = v.words
    v.submit(w.sign_out)
    v.follow(w.sign_in_again)
    v.sign_in(username, GOOD_PASSWORD)
    expect(v.page).to_have_url(v.url("/2fa/challenge"))


def issue_recovery_codes(app: Flask, username: str) -> list[str]:
    """A set of recovery codes made by the real service, as a past set-up left them."""
    svc = app.extensions["clef"]
    account = get_account(app, username)
    assert account is not None
    with app.app_context():
        db = svc.session_factory()
        try:
            codes: list[str] = app.extensions[EXTENSION_KEY].recovery_codes.replace(
                db, account.id, svc.clock.now())
            db.commit()
            return codes
        finally:
            db.close()


def recovery_codes_left(v: Visitor) -> str:
    """What the success page says under "Recovery codes left"."""
    term = v.page.locator("dl.facts dt", has_text=v.words.recovery_codes_left)
    return term.locator("xpath=following-sibling::dd[1]").inner_text().strip()


# --- J8 ------------------------------------------------------------------------------------


def test_set_up_authenticator_app_after_registering_J8_S11_S13(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J8 right after registering without an email: email codes cannot be chosen; the
    app page shows a QR code (an inline SVG, named as an image) and the secret in
    groups of four; a wrong code is refused next to the field; the code computed from
    the shown secret is accepted. Ten recovery codes follow (S13); Continue without
    saying they are saved is refused; once ticked, the person is signed in on the
    account page, and the codes are not shown again."""
    app = live_server.app
    v: Visitor = open_browser(locale, "/register")
    w, page = v.words, v.page
    register_without_email(v, "marguerite")
    expect(page.get_by_role("heading", level=1)).to_have_text(w.setup_title)
    expect(page.get_by_role("main")).to_contain_text(w.setup_handoff)
    expect(v.field(w.method_email)).to_be_disabled()

    secret = set_up_app(v, wrong_code_first=True)
    factor = factor_of(app, "marguerite")
    assert factor is not None and factor.kind == TOTP
    assert secret not in (factor.totp_secret or secret), "S11: stored encrypted"
    codes = shown_recovery_codes(v)
    keep_codes_by_script_or_without(v, codes)

    v.submit(w.continue_)  # not ticked
    expect(page).to_have_url(v.url("/2fa/recovery-codes"))
    saved = v.field(w.saved_codes)
    expect(saved).to_have_attribute("aria-invalid", "true")
    expect(saved).to_have_accessible_description(w.saved_codes_required)
    assert shown_recovery_codes(v) == codes, "the same set until the person saved it"

    say_codes_are_saved(v)
    expect(page).to_have_url(v.url("/account"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.account_title)
    assert remaining_codes(app, "marguerite") == RECOVERY_CODES

    v.goto("/2fa/recovery-codes")  # S13: shown once
    expect(page).to_have_url(v.url("/2fa/manage"))
    for code_text in codes:
        expect(page.get_by_role("main")).not_to_contain_text(code_text)



def test_the_next_person_on_a_shared_computer_gets_a_secret_of_their_own_J2_J8_S20(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """A shared computer: Mallory registers and reaches the app's set-up page (its secret
    on her screen), then walks away without confirming it. Victor registers in the same
    browser: his set-up page shows another secret. It showed Mallory's, and she could
    then have computed his codes (idp.web_session.passed_password)."""
    v: Visitor = open_browser(locale, "/register")
    w, page = v.words, v.page
    register_without_email(v, "mallory")
    v.field(w.method_app).check()
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/setup/app"))
    mallorys = page.locator("code#totp-secret").inner_text()
    v.goto("/register")
    register_without_email(v, "victor")
    v.field(w.method_app).check()
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/setup/app"))
    assert GROUPED_SECRET_RE.fullmatch(page.locator("code#totp-secret").inner_text())
    assert page.locator("code#totp-secret").inner_text() != mallorys

def test_set_up_email_codes_after_confirming_the_email_J8_D2(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J8 by email (D2, offered as the weaker choice): after the recovery email is
    confirmed, "Email" sends a set-up code to it, in the person's language; that code
    confirms the method, recovery codes follow, and the person is signed in."""
    app = live_server.app
    v: Visitor = open_browser(locale, "/register", via="accept-language")
    w, page = v.words, v.page
    v.field(w.username).fill("marguerite")
    v.field(w.password).fill(GOOD_PASSWORD)
    v.field(w.confirm_password).fill(GOOD_PASSWORD)
    v.field(w.recovery_email).fill("marguerite@example.org")
    v.submit(w.continue_)
    v.field(w.confirmation_code).fill(emailed_code(outbox(app)[-1]))
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/register/questions"))
    fill_questions(v)
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/setup"))

    v.field(w.method_email).check()
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/setup/email"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.email_setup_title)
    expect(page.get_by_role("main")).to_contain_text("marguerite@example.org")
    mails = outbox(app)
    assert len(mails) == 2, [m["Subject"] for m in mails]
    assert mails[-1]["To"] == "marguerite@example.org"
    assert w.setup_code_mail in body_of(mails[-1])

    v.field(w.code).fill(emailed_code(mails[-1]))
    v.submit(w.confirm)
    expect(page).to_have_url(v.url("/2fa/recovery-codes"))
    shown_recovery_codes(v)
    say_codes_are_saved(v)
    expect(page).to_have_url(v.url("/account"))
    factor = factor_of(app, "marguerite")
    assert factor is not None and factor.kind == EMAIL
    assert factor.totp_secret is None


# --- J1 + J9 ------------------------------------------------------------------------------


def test_sign_in_with_the_app_then_set_it_up_again_J1_J9_S10_S11_S13_S14(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J1: password, then the app's code, then *Confirmation d'authentification
    réussie*. J9: from there, *Modifier votre authentification à deux facteurs*, a new
    app; new recovery codes replace the old ones (S13) and the confirmed recovery email
    is told (S14). At the next sign-in the old app's code and an old recovery code are
    refused, the new app's code is accepted (S10, S11)."""
    app = live_server.app
    create_account(app, "alice", email_address="alice@example.org", confirmed=True,
                   locale=locale)
    old_codes = issue_recovery_codes(app, "alice")
    v: Visitor = open_browser(locale, "/signin")
    w, page = v.words, v.page
    v.sign_in("alice", GOOD_PASSWORD)
    expect(page).to_have_url(v.url("/2fa/challenge"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.two_factor_title)
    expect(page.get_by_role("main")).to_contain_text(w.challenge_handoff)

    v.field(w.code).fill(fresh_totp(app, "alice"))
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/done"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.authenticated_title)

    v.follow(w.change_title)
    expect(page).to_have_url(v.url("/2fa/setup"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.change_title)
    new_secret = set_up_app(v)
    assert new_secret != TEST_TOTP_SECRET
    new_codes = shown_recovery_codes(v)
    assert not set(new_codes) & set(old_codes)
    say_codes_are_saved(v)
    expect(page).to_have_url(v.url("/2fa/manage"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.two_factor_title)
    assert recovery_codes_left(v) == str(RECOVERY_CODES)

    mails = [m for m in outbox(app) if m["To"] == "alice@example.org"]
    assert len(mails) == 1, [m["Subject"] for m in mails]
    assert w.changed_mail in body_of(mails[0])

    live_server.clock.advance(seconds=30)  # the new app's code of this step was used
    sign_in_again(v, "alice")
    v.follow(w.recover_account)
    v.field(w.recovery_code).fill(old_codes[0])
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/recover"))
    expect(page.get_by_role("alert")).to_have_text(w.recovery_code_refused)

    v.follow(w.back_to_code)
    v.field(w.code).fill(app_code(live_server, TEST_TOTP_SECRET))
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/challenge"))
    expect(page.get_by_role("alert")).to_have_text(w.wrong_code)
    v.field(w.code).fill(app_code(live_server, new_secret))
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/done"))
    assert remaining_codes(app, "alice") == RECOVERY_CODES


# --- J10 ----------------------------------------------------------------------------------


def test_recover_the_account_with_one_recovery_code_J10_S13(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J10: password, then *Récupérer le compte* instead of the lost app, one recovery
    code; the success page says a recovery code was used, urges setting the method up
    again (which it leads to) and shows 9 codes left; a notification goes to the
    confirmed email (S13). The same code at the next sign-in is refused."""
    app = live_server.app
    create_account(app, "alice", email_address="alice@example.org", confirmed=True,
                   locale=locale)
    codes = issue_recovery_codes(app, "alice")
    v: Visitor = open_browser(locale, "/signin", via="accept-language")
    w, page = v.words, v.page
    v.sign_in("alice", GOOD_PASSWORD)
    v.follow(w.recover_account)
    expect(page).to_have_url(v.url("/2fa/recover"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.recover_account)

    v.field(w.recovery_code).fill(codes[3])
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/done"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.authenticated_title)
    expect(page.get_by_role("alert")).to_contain_text(w.recovered_notice)
    expect(page.get_by_role("alert")).to_contain_text(w.change_title)
    assert recovery_codes_left(v) == str(RECOVERY_CODES - 1)
    mails = outbox(app)
    assert len(mails) == 1
    assert mails[0]["To"] == "alice@example.org"
    assert w.recovery_code_used_mail in body_of(mails[0])

    v.follow(w.change_title)  # J9 from "set it up again": the sign-in is fresh (S14)
    expect(page).to_have_url(v.url("/2fa/setup"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.change_title)

    sign_in_again(v, "alice")
    v.follow(w.recover_account)
    v.field(w.recovery_code).fill(codes[3])
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/recover"))
    expect(page.get_by_role("alert")).to_have_text(w.recovery_code_refused)
    assert remaining_codes(app, "alice") == RECOVERY_CODES - 1


# --- J11 ----------------------------------------------------------------------------------


def test_lost_method_and_codes_leads_to_registering_again_J11(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J11: from *Récupérer le compte*, "I have lost my method and my recovery codes":
    the page says a new credential must be registered, and its link leads to
    registration."""
    create_account(live_server.app, "alice")
    v: Visitor = open_browser(locale, "/signin")
    w, page = v.words, v.page
    v.sign_in("alice", GOOD_PASSWORD)
    v.follow(w.recover_account)
    v.follow(w.lost_codes)
    expect(page).to_have_url(v.url("/2fa/lost"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.lost_title)
    expect(page.get_by_role("main")).to_contain_text(w.lost_explained)

    v.follow(w.register_new_credential)
    expect(page).to_have_url(v.url("/register"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.register)
