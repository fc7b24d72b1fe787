"""Templates look their translations up once per request and locale (issue 11); the
language still follows the person's choice, a mail in another language in the middle
of the request (``force_locale``)."""

from __future__ import annotations

from flask import Flask, render_template_string
from flask_babel import force_locale

from idp.i18n import LANGUAGE_COOKIE

WORDS = "{{ _('Sign in') }}"


def test_a_page_in_french_stays_french_around_a_mail_in_english(app: Flask) -> None:
    with app.test_request_context("/", headers={"Cookie": f"{LANGUAGE_COOKIE}=fr"}):
        assert render_template_string(WORDS) == "Se connecter"
        with force_locale("en"):
            assert render_template_string(WORDS) == "Sign in"
        assert render_template_string(WORDS) == "Se connecter"
    with app.test_request_context("/", headers={"Cookie": f"{LANGUAGE_COOKIE}=en"}):
        assert render_template_string(WORDS) == "Sign in"
        with force_locale("fr"):
            assert render_template_string(WORDS) == "Se connecter"


def test_the_signin_page_follows_the_toggle(app: Flask) -> None:
    browser = app.test_client()
    assert "Sign in" in browser.get("/signin").get_data(as_text=True)
    browser.set_cookie(LANGUAGE_COOKIE, "fr")
    assert "Se connecter" in browser.get("/signin").get_data(as_text=True)
