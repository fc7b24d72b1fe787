"""Every recovery mail, rendered in English and in French (J5): subject and body, links
on the configured base URL (S17), no code or placeholder left behind."""

from __future__ import annotations

import pytest

from idp.mail_render import render_mail
from recovery.mail import CONFIRM_ADDRESS, MESSAGES, links
from tests.helpers import body_of, create_account, decoded_header, outbox
from tests.recovery.flows import start

CONTEXT = {
    "username": "alice",
    "usernames": [("alice", False), ("alice-old", True)],
    "code": "493027",
    "minutes": 10,
    "new_address": "new@example.org",
}
# A word each language's version must hold, so an untranslated mail fails.
MARKERS = {"en": "Hello", "fr": "Bonjour"}


@pytest.mark.parametrize("message", [*MESSAGES, CONFIRM_ADDRESS])
@pytest.mark.parametrize("locale", ["en", "fr"])
def test_every_recovery_mail_renders_in_both_languages_J5_S17(make_app, message, locale):
    app = make_app(service={"base_url": "https://signin.example.ca"})
    with app.test_request_context(headers={"Host": "evil.example"}):
        mail = render_mail(message, locale, "alice@example.org", **links(), **CONTEXT)
        english = render_mail(message, "en", "alice@example.org", **links(), **CONTEXT)
    assert mail.subject and "\n" not in mail.subject
    assert MARKERS[locale] in mail.text
    assert "%(" not in mail.text and "%(" not in mail.subject
    assert "evil.example" not in mail.text
    assert "https://signin.example.ca" in mail.text
    if locale == "fr":
        assert mail.subject != english.subject
        assert mail.text != english.text


def test_the_reset_code_mail_follows_the_account_language_not_the_page(app):
    create_account(app, "alice", email_address="alice@example.org", confirmed=True, locale="fr")
    start(app.test_client(), "alice")
    (mail,) = outbox(app)
    assert "réinitialiser votre mot de passe" in decoded_header(mail, "Subject")
    assert "Votre code de confirmation est" in body_of(mail)
