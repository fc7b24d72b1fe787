"""S31: a redirect_uri no URI could be gets an error page, never a 500 (found by the
fuzzer: Authlib echoes an unregistered redirect_uri in its error description, which may
hold printable ASCII only, RFC 6749 §5.2, and raised a ValueError instead)."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.helpers import create_account, sign_in_at
from tests.oidc.conftest import CALLBACK
from tests.oidc.rp import RelyingParty, Request

HOSTILE = [CALLBACK + "\x01", CALLBACK + "é", CALLBACK + '"', CALLBACK + "\\", CALLBACK + " x",
           "https://portal.example/\x7f", "\x00"]


@pytest.mark.parametrize("redirect_uri", HOSTILE)
@pytest.mark.parametrize("signed_in", [False, True])
def test_s31_unprintable_redirect_uri_gets_a_page_not_500(
        app: Flask, portal: RelyingParty, redirect_uri: str, signed_in: bool) -> None:
    browser = app.test_client()
    if signed_in:
        create_account(app, "alice")
        sign_in_at(browser, "/signin", "alice")
    response = browser.get(portal.authorize_url(Request(), redirect_uri=redirect_uri))
    assert response.status_code == 400
    assert "Location" not in response.headers
    if "\x00" not in redirect_uri:  # a NUL is the input guard's 400 page, before this one
        assert "invalid_request" in response.get_data(as_text=True)


def test_s31_the_registered_redirect_uri_still_works(app: Flask, portal: RelyingParty) -> None:
    response = app.test_client().get(portal.authorize_url(Request()))
    assert response.status_code == 303  # to the sign-in page


def test_the_views_check_answers_as_authlibs_for_every_character() -> None:
    """``ERROR_TEXT_OUTSIDE`` (one regular expression, issue 11) refuses exactly what
    Authlib's ``invalid_error_characters`` finds: every character up to U+3000, the
    surrogates, a sample of the rest, and strings mixing them."""
    import random

    from authlib.oauth2.base import invalid_error_characters

    from idp.oidc.views import ERROR_TEXT_OUTSIDE

    chars = [chr(c) for c in [*range(0x3000), *range(0xD800, 0xE000),
                              *range(0x3000, 0x110000, 97), 0x10FFFF]]
    for char in chars:
        assert (ERROR_TEXT_OUTSIDE.search(char) is not None) == bool(
            invalid_error_characters(char)), hex(ord(char))
    shuffle = random.Random(11)  # noqa: S311 - test data, not a secret
    printable = [c for c in chars if not invalid_error_characters(c)]
    for _ in range(2000):
        text = "".join(shuffle.choice(printable) for _ in range(shuffle.randrange(0, 40)))
        if shuffle.random() < 0.5:
            at = shuffle.randrange(0, len(text) + 1)
            text = text[:at] + shuffle.choice(chars) + text[at:]
        assert (ERROR_TEXT_OUTSIDE.search(text) is not None) == bool(
            invalid_error_characters(text)), repr(text)
