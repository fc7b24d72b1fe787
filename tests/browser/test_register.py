"""Registration through the real screens in Chromium, in English and in French (J2: the
username, password, recovery email and security questions, up to the hand-off to
second-factor set-up, J8). Every page visited is checked with axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.journey import LiveServer, Visitor
from tests.browser.recovery_wording import RECOVERY_WORDING, fill_questions
from tests.helpers import GOOD_PASSWORD, body_of, get_account, outbox

pytestmark = pytest.mark.browser

CODE_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")


def test_register_confirm_email_then_second_factor_setup_J2_S9(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J2: from the home page, Register; username, password, confirmation and recovery
    email found by their labels; the emailed code confirms the address; the person
    writes the security questions, then lands on the second-factor set-up (J8 goes on in
    test_second_factor.py).
    S9: both password fields are type=password with autocomplete=new-password."""
    app = live_server.app
    v: Visitor = open_browser(locale, "/")
    w, page = v.words, v.page
    v.follow(w.register)
    expect(page).to_have_url(v.url("/register"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.register)

    for label in (w.password, w.confirm_password):
        expect(v.field(label)).to_have_attribute("type", "password")
        expect(v.field(label)).to_have_attribute("autocomplete", "new-password")
    v.field(w.username).fill("marguerite")
    v.field(w.password).fill(GOOD_PASSWORD)
    v.field(w.confirm_password).fill(GOOD_PASSWORD)
    v.field(w.recovery_email).fill("marguerite@example.org")
    v.submit(w.continue_)

    expect(page).to_have_url(v.url("/register/email"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.confirm_email_title)
    expect(page.get_by_role("main")).to_contain_text("marguerite@example.org")
    messages = outbox(app)
    assert len(messages) == 1
    assert messages[0]["To"] == "marguerite@example.org"
    codes = CODE_RE.findall(body_of(messages[0]))
    assert len(codes) == 1, codes

    v.field(w.confirmation_code).fill(codes[0])
    v.submit(w.continue_)
    # J2: the security questions come before the second factor.
    expect(page).to_have_url(v.url("/register/questions"))
    questions_title = RECOVERY_WORDING[locale].questions_title
    expect(page.get_by_role("heading", level=1)).to_have_text(questions_title)
    fill_questions(v)
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/2fa/setup"))
    expect(page.get_by_role("heading", level=1)).to_have_text(w.setup_title)
    expect(page.get_by_role("main")).to_contain_text(w.setup_handoff)

    account = get_account(app, "marguerite")
    assert account is not None
    assert account.has_confirmed_email
    assert account.locale == locale  # later mail reaches the person in this language


def test_refused_password_says_why_next_to_the_field_J2_S2(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J2 / S2: a common password, then one containing the username, are refused; the
    reason is shown under the password field and is that field's accessible
    description, and no account is made."""
    v: Visitor = open_browser(locale, "/register", via="accept-language")
    w, page = v.words, v.page
    password = v.field(w.password)
    v.field(w.username).fill("marguerite")

    for attempt, reason in (("password123", w.common_password),
                            ("marguerite in the spring garden", w.contains_username)):
        password.fill(attempt)
        v.field(w.confirm_password).fill(attempt)
        v.submit(w.continue_)
        expect(page).to_have_url(v.url("/register"))
        expect(password).to_have_attribute("aria-invalid", "true")
        expect(password).to_have_accessible_description(re.compile(re.escape(reason)))
        field_box = page.locator(".field").filter(has=password)
        expect(field_box.get_by_role("listitem")).to_contain_text(reason)
        expect(v.field(w.username)).to_have_value("marguerite")

    assert get_account(live_server.app, "marguerite") is None
