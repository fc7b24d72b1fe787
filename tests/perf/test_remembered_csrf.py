"""The signed form token remembered per session (``idp.forms.signed_form_token``, issue
11): the same signature is served again, and it is still worth nothing to another
session, nor once the session's token is renewed."""

from __future__ import annotations

import pytest
from flask import Flask

import idp.forms
from tests.helpers import create_account
from tests.support.accounts import GOOD_PASSWORD
from tests.support.screens import csrf, csrf_from


def test_a_remembered_token_is_served_again_and_still_signs_in(app: Flask) -> None:
    create_account(app, "alice")
    browser = app.test_client()
    first = csrf(browser, "/signin")
    again = csrf(browser, "/signin")
    assert again == first, "signed once for this session"
    signed = browser.post("/signin", data={"csrf_token": again, "username": "alice",
                                           "password": GOOD_PASSWORD})
    assert signed.status_code == 303


def test_another_sessions_remembered_token_is_refused(app: Flask) -> None:
    create_account(app, "alice")
    victim, attacker = app.test_client(), app.test_client()
    token = csrf(victim, "/signin")
    csrf(victim, "/signin")  # now remembered
    csrf(attacker, "/signin")  # the attacker's own session, with its own token
    forged = attacker.post("/signin", data={"csrf_token": token, "username": "alice",
                                            "password": GOOD_PASSWORD})
    assert forged.status_code == 400
    # And without a session of its own at all:
    bare = app.test_client().post("/signin", data={"csrf_token": token, "username": "alice",
                                                   "password": GOOD_PASSWORD})
    assert bare.status_code == 400


def test_the_token_from_before_sign_in_is_not_served_after_it(app: Flask) -> None:
    """S20: the session renewed at the second step gets a new raw token; the page after
    it carries that one's signature, not the remembered one of before."""
    create_account(app, "alice")
    browser = app.test_client()
    before = csrf(browser, "/signin")
    browser.post("/signin", data={"csrf_token": before, "username": "alice",
                                  "password": GOOD_PASSWORD})
    from tests.support.accounts import fresh_totp
    challenge = browser.get("/2fa/challenge")
    done = browser.post("/2fa/challenge", data={"code": fresh_totp(app, "alice"),
                                                "csrf_token": csrf_from(challenge)})
    assert done.status_code == 303
    after = csrf(browser, "/account/")
    assert after != before
    stale = browser.post("/signout", data={"csrf_token": before})
    assert stale.status_code == 400
    assert browser.post("/signout", data={"csrf_token": after}).status_code == 303


def test_with_a_time_limit_each_page_signs_afresh(app: Flask) -> None:
    """A remembered signature would carry its first timestamp and expire early."""
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    idp.forms._signed_tokens.clear()
    browser = app.test_client()
    csrf(browser, "/signin")
    csrf(browser, "/signin")
    assert idp.forms._signed_tokens == {}


def test_a_pages_form_token_is_the_html_of_a_form_without_fields(app: Flask) -> None:
    """``FORM_TOKEN`` (the buttons' forms of a page) shows what ``PostOnlyForm`` shows,
    under every setting Flask-WTF reads; and nothing when CSRF is off, as that form."""
    from flask import render_template_string

    page = "{{ form.csrf_token }}"
    settings = [{}, {"WTF_CSRF_SECRET_KEY": "k" * 40},
                {"WTF_CSRF_TIME_LIMIT": 3600}, {"WTF_CSRF_ENABLED": False}]
    for extra in settings:
        saved = dict(app.config)
        app.config.update(extra)
        try:
            with app.test_request_context("/"):
                ours = render_template_string(page, form=idp.forms.FORM_TOKEN)
                theirs = render_template_string(page, form=idp.forms.PostOnlyForm())
                again = render_template_string(page, form=idp.forms.FORM_TOKEN)
        finally:
            app.config.clear()
            app.config.update(saved)
        assert ours == theirs == again, extra
        assert ("value=" in ours) != (extra == {"WTF_CSRF_ENABLED": False})


def test_a_full_memory_starts_again_instead_of_stopping(app: Flask,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions come and go: once the memory is full it is emptied, so the sessions
    after the first few thousand are remembered too, and tokens still check."""
    monkeypatch.setattr(idp.forms, "MAX_SIGNED_TOKENS", 2)
    idp.forms._signed_tokens.clear()
    create_account(app, "alice")
    browsers = [app.test_client() for _ in range(3)]
    tokens = [csrf(browser, "/signin") for browser in browsers]
    assert len(idp.forms._signed_tokens) == 1  # the third one, after emptying
    assert tokens[2] in idp.forms._signed_tokens.values()
    for browser, token in zip(browsers, tokens, strict=True):
        assert browser.post("/signin", data={"csrf_token": token, "username": "alice",
                                             "password": GOOD_PASSWORD}).status_code == 303


# The POST's check (idp.app's check_csrf with idp.forms.is_remembered_signature): a
# token this process signed for the session is accepted without Flask-WTF opening it
# again (issue 11); everything else is still Flask-WTF's to refuse or accept.

def _flask_wtf_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the requests Flask-WTF's own check (``CSRFProtect.protect``) ran for."""
    from flask_wtf.csrf import CSRFProtect

    ran: list[int] = []
    real = CSRFProtect.protect

    def counting(self: CSRFProtect, *args: object, **kwargs: object) -> None:
        ran.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(CSRFProtect, "protect", counting)
    return ran


def test_a_remembered_token_skips_the_signature_check_and_nothing_else(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    create_account(app, "alice")
    ran = _flask_wtf_checks(monkeypatch)
    browser = app.test_client()
    token = csrf(browser, "/signin")
    signed = browser.post("/signin", data={"csrf_token": token, "username": "alice",
                                           "password": GOOD_PASSWORD})
    assert signed.status_code == 303 and ran == []
    # Tampered, missing, or another session's: Flask-WTF decides, and refuses.
    other = csrf(app.test_client(), "/signin")
    bad_tokens = (token[:-1] + ("A" if token[-1] != "A" else "B"), "", other, token + "x",
                  token[:-1] + "é", "١٢٣\x00")
    for bad in bad_tokens:
        again = app.test_client()
        csrf(again, "/signin")
        refused = again.post("/signin", data={"csrf_token": bad, "username": "alice",
                                              "password": GOOD_PASSWORD})
        assert refused.status_code == 400, bad
    assert len(ran) == len(bad_tokens)


def test_a_token_another_process_signed_is_still_accepted(app: Flask) -> None:
    """Several workers: the page came from one, the POST lands on another, which never
    signed this token; Flask-WTF's check accepts it."""
    create_account(app, "alice")
    browser = app.test_client()
    token = csrf(browser, "/signin")
    idp.forms._signed_tokens.clear()  # this process never saw it
    assert browser.post("/signin", data={"csrf_token": token, "username": "alice",
                                         "password": GOOD_PASSWORD}).status_code == 303


def test_with_the_referrer_checked_every_post_goes_to_flask_wtf(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """WTF_CSRF_SSL_STRICT (or a time limit) asks more than the signature: no shortcut."""
    app.config["WTF_CSRF_SSL_STRICT"] = True
    create_account(app, "alice")
    ran = _flask_wtf_checks(monkeypatch)
    browser = app.test_client()
    token = csrf(browser, "/signin")
    assert browser.post("/signin", data={"csrf_token": token, "username": "alice",
                                         "password": GOOD_PASSWORD}).status_code == 303
    assert ran == [1]
