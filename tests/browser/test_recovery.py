"""Forgotten credentials through the real screens in Chromium, in English and in French:
forgot username (J6) and both routes of forgot password (J7), reading the emailed
username or code from the outbox. Every page visited is checked with axe."""

from __future__ import annotations

import re
from email.message import Message

import pytest
from playwright.sync_api import expect

from recovery.mail import MAIL_QUEUE_KEY
from tests.browser.journey import LiveServer, Visitor
from tests.browser.recovery_wording import RECOVERY_WORDING, fill_questions
from tests.helpers import GOOD_PASSWORD, body_of, create_account, emailed_code, outbox
from tests.recovery.flows import (
    ANSWER,
    DATE_HINT,
    MEMORABLE,
    NEW_PASSWORD,
    PERSON,
    PERSON_HINT,
    QUESTION,
    set_questions,
)

pytestmark = pytest.mark.browser

ADDRESS = "marguerite@example.org"


def marguerite(live_server: LiveServer, locale: str, email: bool = True) -> None:
    account = create_account(live_server.app, "marguerite", email_address=ADDRESS if email else None,
                             confirmed=email, locale=locale)
    set_questions(live_server.app, account.id)


def mails_sent(live_server: LiveServer) -> list[Message]:
    """The outbox once the background mail queue is idle: mail that depends on whether
    an account exists is sent off the request (S6), so it may land a moment after the
    next page."""
    live_server.app.extensions[MAIL_QUEUE_KEY].wait(timeout=10)
    return outbox(live_server.app)


def heading_and_step(v: Visitor, title: str, step: str) -> None:
    expect(v.page.get_by_role("heading", level=1)).to_contain_text(title)
    expect(v.page.get_by_role("main")).to_contain_text(step)


def test_forgot_username_sends_it_to_the_recovery_email_J6(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J6: from the sign-in page, "Forgot your username?"; Step 1 of 2 takes the recovery
    email; Step 2 of 2 says where it went and what to do if it does not arrive; the mail
    holds the username; Continue leads back to sign-in."""
    marguerite(live_server, locale)
    v: Visitor = open_browser(locale, "/signin")
    r, w, page = RECOVERY_WORDING[locale], v.words, v.page
    v.follow(r.forgot_username)
    heading_and_step(v, r.forgot_username, r.step_1_of_2)
    v.field(r.recovery_email).fill(ADDRESS.upper())
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/forgot-username/sent"))
    heading_and_step(v, r.forgot_username, r.step_2_of_2)
    expect(page.get_by_role("status")).to_contain_text(ADDRESS.upper())
    (mail,) = mails_sent(live_server)
    assert mail["To"] == ADDRESS
    assert re.search(r"^\s+- marguerite$", body_of(mail), re.MULTILINE)
    v.follow(w.continue_)
    expect(page).to_have_url(v.path_re("/signin"))


def _username_step(v: Visitor) -> None:
    r, w = RECOVERY_WORDING[v.locale], v.words
    v.follow(r.forgot_password)
    heading_and_step(v, r.forgot_password, r.step_1_of_4)
    v.field(w.username).fill("Marguerite")
    v.submit(w.continue_)
    expect(v.page).to_have_url(v.url("/forgot-password/code"))
    heading_and_step(v, r.forgot_password, r.step_2_of_4)


def _new_password_then_complete(v: Visitor) -> None:
    r, w, page = RECOVERY_WORDING[v.locale], v.words, v.page
    expect(page).to_have_url(v.url("/forgot-password/new"))
    heading_and_step(v, r.forgot_password, r.step_3_of_4)
    for label in (r.new_password, r.confirm_new_password):
        expect(v.field(label)).to_have_attribute("type", "password")  # S9
        expect(v.field(label)).to_have_attribute("autocomplete", "new-password")
    v.field(r.new_password).fill(NEW_PASSWORD)
    v.field(r.confirm_new_password).fill(NEW_PASSWORD)
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/forgot-password/complete"))
    expect(page.get_by_role("heading", level=1)).to_contain_text(r.completed)
    expect(page.get_by_role("status")).to_contain_text(r.password_changed)
    # S15: not signed in; the new password then leads to the second factor.
    v.follow(w.continue_)
    expect(page).to_have_url(v.path_re("/signin"))
    v.sign_in("marguerite", NEW_PASSWORD)
    expect(page).to_have_url(v.url("/2fa/challenge"))


def test_forgot_password_by_emailed_code_then_recovery_question_J7(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J7, email route: username (Step 1 of 4), the emailed code (Step 2 of 4), the
    recovery question with the person's own question above the field, the new password
    (Step 3 of 4), Completed."""
    marguerite(live_server, locale)
    v: Visitor = open_browser(locale, "/signin")
    r, w, page = RECOVERY_WORDING[locale], v.words, v.page
    _username_step(v)
    (mail,) = mails_sent(live_server)
    assert mail["To"] == ADDRESS
    v.field(w.confirmation_code).fill(emailed_code(mail))
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/forgot-password/question"))
    answer = v.field(r.recovery_answer)
    expect(answer).to_have_accessible_description(QUESTION)
    answer.fill(ANSWER.lower())
    v.submit(w.continue_)
    _new_password_then_complete(v)
    notice = outbox(live_server.app)[-1]
    assert notice["To"] == ADDRESS  # S18: the recovery email is told


def test_forgot_password_by_the_three_recovery_questions_J7_D1(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """J7, questions route: on Step 2 of 4 choose "Recovery questions and answers"; each
    question or hint is shown above its field (and describes it); right answers lead to
    the new password and Completed. A person without a recovery email gets no mail."""
    marguerite(live_server, locale, email=False)
    v: Visitor = open_browser(locale, "/signin")
    r, w, page = RECOVERY_WORDING[locale], v.words, v.page
    _username_step(v)
    assert outbox(live_server.app) == []
    v.follow(r.questions_route)
    expect(page).to_have_url(v.url("/forgot-password/questions"))
    heading_and_step(v, r.forgot_password, r.step_2_of_4)
    for label, hint, value in ((r.recovery_answer, QUESTION, ANSWER),
                               (r.memorable_person, PERSON_HINT, PERSON.upper()),
                               (r.memorable_date, DATE_HINT, MEMORABLE.isoformat())):
        field = v.field(label)
        expect(field).to_have_accessible_description(hint)
        box = page.locator(".field").filter(has=field)
        hint_box = box.locator(".hint")
        assert hint_box.bounding_box()["y"] < field.bounding_box()["y"]  # above the field
        field.fill(value)
    v.submit(w.continue_)
    _new_password_then_complete(v)
    assert GOOD_PASSWORD != NEW_PASSWORD


def _pass_second_factor(v: Visitor) -> None:
    """Stand-in for the second-factor step (not built yet): move the browser's pending
    session to the full level through the real SessionStore, as the mfa slice will."""
    from idp.models import WebSession
    from idp.sessions import session_id

    cookie = v.session_cookie()
    assert cookie is not None
    svc = v.server.app.extensions["clef"]
    with svc.session_factory() as db:
        record = db.get(WebSession, session_id(cookie["value"]))
        assert record is not None
        token, _ = svc.sessions.passed_second_factor(db, record, ["pwd", "otp"], svc.clock.now())
        db.commit()
    v.context.add_cookies([{"name": cookie["name"], "value": token, "url": v.server.url}])


def test_change_recovery_questions_and_email_after_a_fresh_sign_in_S14(
    open_browser, live_server: LiveServer, locale: str
) -> None:
    """S14: from the account page, "Recovery information"; new questions, then a new
    recovery email confirmed by the code sent to it; each change tells the recovery
    email."""
    marguerite(live_server, locale)
    v: Visitor = open_browser(locale, "/signin")
    r, w, page = RECOVERY_WORDING[locale], v.words, v.page
    v.sign_in("marguerite", GOOD_PASSWORD)
    _pass_second_factor(v)
    v.goto("/account")
    v.follow(r.recovery_information)
    expect(page.get_by_role("heading", level=1)).to_have_text(r.recovery_information)
    v.follow(r.change_questions)
    fill_questions(v)
    v.field(r.recovery_answer).fill("Une autre école")
    v.submit(w.continue_)
    expect(page.get_by_role("status")).to_contain_text(r.questions_changed)
    assert outbox(live_server.app)[-1]["To"] == ADDRESS

    v.follow(r.change_email)
    v.field(r.recovery_email).fill("nouvelle@example.org")
    v.submit(w.continue_)
    expect(page).to_have_url(v.url("/account/recovery/email/confirm"))
    code_mail = outbox(live_server.app)[-1]
    assert code_mail["To"] == "nouvelle@example.org"
    v.field(w.confirmation_code).fill(emailed_code(code_mail))
    v.submit(w.continue_)
    expect(page.get_by_role("status")).to_contain_text(r.email_changed)
    expect(page.get_by_role("main")).to_contain_text("nouvelle@example.org")
