"""One browser, two people (S20, S13, S37): the password step of a second account
replaces the first one's session, and the new session starts from nothing of it but
where the sign-in is heading. Each of the first three tests failed before
``idp.web_session.passed_password`` dropped the rest (it carried the whole session over)."""

from __future__ import annotations

from flask import Flask

from tests.helpers import create_account, pass_second_factor, sign_in
from tests.oidc.conftest import full_flow, portal  # noqa: F401 - the fixture
from tests.support.records import session_row, session_token
from tests.support.screens import csrf, register, shown_recovery_codes, shown_secret


def test_the_next_person_is_not_offered_the_app_secret_another_is_setting_up_J8(
        app: Flask) -> None:
    """Mallory, whose account has no second step yet (J8), opens the app set-up page (the
    secret is on her screen) and walks away. Victor registers in the same browser: his
    own set-up page must not offer the secret Mallory holds, or his codes are hers."""
    create_account(app, "mallory", second_factor=None)
    browser = app.test_client()
    assert sign_in(browser, "mallory").status_code == 303
    trap = browser.get("/2fa/setup/app")
    assert trap.status_code == 200
    mallorys_secret = shown_secret(trap)

    assert register(browser, "victor").status_code == 303
    row = session_row(app, session_token(app, browser) or "")
    assert row is not None and row.level == "password"
    own = browser.get("/2fa/setup/app")
    assert own.status_code == 200
    assert shown_secret(own) != mallorys_secret


def test_the_next_person_gets_a_session_id_of_their_own_at_the_portal(
        app: Flask, portal) -> None:  # noqa: F811
    """Alice signs in to a portal; Bob then signs in in the same browser. His ID token
    must not carry her ended session's ``sid``: a late back-channel logout of hers would
    end his at the portal, and the portal could link the two people."""
    create_account(app, "alice")
    create_account(app, "bob")
    alices = full_flow(portal, username="alice")
    browser = alices.browser
    assert sign_in(browser, "bob").status_code == 303
    pass_second_factor(app, browser, "bob")
    bobs = full_flow(portal, browser, username="bob")
    assert bobs.claims["sub"] != alices.claims["sub"]
    assert bobs.claims["sid"] != alices.claims["sid"]


def test_the_next_person_is_not_shown_the_recovery_codes_another_made_S13(app: Flask) -> None:
    """Alice makes new recovery codes and leaves the page without ticking "saved". Bob
    signs in with both his factors in the same browser: the codes page has nothing to
    show him, least of all her codes."""
    create_account(app, "alice")
    create_account(app, "bob")
    browser = app.test_client()
    sign_in(browser, "alice")
    pass_second_factor(app, browser, "alice")
    made = browser.post("/2fa/recovery-codes/new",
                        data={"csrf_token": csrf(browser, "/2fa/recovery-codes/new")})
    assert made.status_code == 303
    alices_codes = shown_recovery_codes(browser.get("/2fa/recovery-codes"))
    assert alices_codes

    assert sign_in(browser, "bob").status_code == 303
    pass_second_factor(app, browser, "bob")
    shown = browser.get("/2fa/recovery-codes")
    assert shown.status_code == 303
    assert not set(shown_recovery_codes(shown)) & set(alices_codes)


def test_a_portal_request_that_asked_to_sign_in_again_is_answered_for_the_next_person_S37(
        app: Flask, portal) -> None:  # noqa: F811
    """What the replacement keeps: the portal request the sign-in answers. Alice is signed
    in; the portal asks to sign in again (``prompt=login``); Bob signs in instead. He goes
    back to that request (``next``), which takes his sign-in as the one it asked for (its
    marker), and the portal gets a code for Bob, not a second trip round the screens."""
    create_account(app, "alice")
    create_account(app, "bob")
    alices = full_flow(portal, username="alice")
    bobs = full_flow(portal, alices.browser, username="bob", prompt="login")
    assert bobs.claims["sub"] != alices.claims["sub"]
    assert bobs.claims["sid"] != alices.claims["sid"]
