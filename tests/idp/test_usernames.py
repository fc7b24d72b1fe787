"""Usernames (J2, D4): what may be registered, and one account per name whatever its
case or Unicode form, so the lookup, uniqueness and the throttle key agree."""

from __future__ import annotations

import html
import unicodedata

import pytest

from idp.usernames import UsernameProblem, normalise_username, username_key, username_problem
from tests.helpers import GOOD_PASSWORD, create_account, csrf, get_account, sign_in

COMPOSED = "\u00c9mile"  # É as one code point
DECOMPOSED = "E\u0301mile"  # E + combining acute


def fullwidth(text: str) -> str:
    """The full-width compatibility forms of ASCII letters (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def test_case_and_unicode_forms_share_one_key_J2():
    key = username_key(COMPOSED)
    variants = (DECOMPOSED, "\u00c9MILE", "\u00e9mile", "  Émile  ",
                fullwidth("e") + "\u0301mile")
    for variant in variants:
        assert username_key(variant) == key, variant
    assert username_key("Straße") == username_key("STRASSE")
    assert username_key("emile") != key


def test_display_form_is_nfkc_and_trimmed_J2():
    assert normalise_username(f"  {DECOMPOSED}\t") == COMPOSED
    assert unicodedata.is_normalized("NFKC", normalise_username(fullwidth("fullwidth")))
    assert normalise_username(fullwidth("fullwidth")) == "fullwidth"


@pytest.mark.parametrize("name", ["abc", "alice", "a.b-c_d", "Émile", "用户名", "user42", "x" * 64])
def test_allowed_usernames_J2(name):
    assert username_problem(name, 3, 64) is None


@pytest.mark.parametrize(("name", "problem"), [
    ("ab", UsernameProblem.TOO_SHORT),
    ("x" * 65, UsernameProblem.TOO_LONG),
    (".alice", UsernameProblem.CHARACTERS),
    ("alice-", UsernameProblem.CHARACTERS),
    ("_alice", UsernameProblem.CHARACTERS),
    ("al ice", UsernameProblem.CHARACTERS),
    ("alice@example.org", UsernameProblem.CHARACTERS),
    ("<script>", UsernameProblem.CHARACTERS),
    ("ali\u200bce", UsernameProblem.CHARACTERS),
])
def test_refused_usernames_J2(name, problem):
    assert username_problem(name, 3, 64) is problem


def _register(client, username: str, password: str = GOOD_PASSWORD):
    token = csrf(client, "/register")
    return client.post("/register", data={"csrf_token": token, "username": username,
                                          "password": password, "confirm": password})


def test_same_name_in_another_case_or_form_is_taken_J2(app):
    assert _register(app.test_client(), COMPOSED).status_code == 303
    for variant in (DECOMPOSED, "ÉMILE", " émile "):
        response = _register(app.test_client(), variant)
        assert response.status_code == 400, variant
        assert "This username is not available." in html.unescape(response.get_data(as_text=True))


def test_refused_username_shows_reason_J2(app):
    response = _register(app.test_client(), "a b")
    assert response.status_code == 400
    assert "Use letters and digits" in response.get_data(as_text=True)
    assert get_account(app, "a b") is None


def test_sign_in_with_any_case_or_form_J1(app):
    create_account(app, COMPOSED)
    for variant in (DECOMPOSED, "ÉMILE", "  émile "):
        assert sign_in(app.test_client(), variant).status_code == 303, variant
    assert sign_in(app.test_client(), "Emile").status_code == 401


def test_display_name_kept_as_typed_J2(app):
    create_account(app, "MixedCase.User")
    account = get_account(app, "mixedcase.user")
    assert account is not None
    assert account.username == "MixedCase.User"
    assert account.username_key == "mixedcase.user"


def test_s28_a_name_whose_case_folded_key_outgrows_the_column_is_refused():
    """"ß" folds to "ss": 40 of them fit the 64-character limit on screen but not the
    stored key, which PostgreSQL would refuse with an error."""
    from idp.usernames import COLUMN_LENGTH

    assert len(username_key("ß" * 40)) > COLUMN_LENGTH
    assert username_problem("ß" * 40, 3, 64) is UsernameProblem.TOO_LONG_FOLDED
    assert username_problem("ß" * 32, 3, 64) is None
