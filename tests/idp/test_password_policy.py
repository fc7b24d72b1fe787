"""The password policy (S1, S2): length only, common passwords, the username and the
service's name refused, each with its reason on the registration page."""

from __future__ import annotations

import html

import pytest
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from idp.password_policy import PasswordPolicy, PasswordProblem
from tests.helpers import csrf, csrf_from, french, get_account

COMMON_SIZE = 10_000
TOP = FREQUENCY_LISTS["passwords"][:COMMON_SIZE]
# Common passwords long enough that only the common-list rule can refuse them.
LONG_COMMON = [p for p in TOP if len(p) >= 8 and "clef" not in p]
BEYOND = [p for p in FREQUENCY_LISTS["passwords"][COMMON_SIZE:] if len(p) >= 10 and "clef" not in p]


def policy(**changes) -> PasswordPolicy:
    values = {"min_length": 8, "max_length": 128, "common_list_size": COMMON_SIZE,
              "service_name": "Clef"}
    values.update(changes)
    return PasswordPolicy(**values)


def _register(client, username, password, confirm=None):
    token = csrf(client, "/register")
    return client.post("/register", data={
        "csrf_token": token, "username": username, "password": password,
        "confirm": password if confirm is None else confirm,
    })


def _text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_length_bounds_S1():
    p = policy()
    assert p.problems("a" * 3 + "zqx" + "kw") == []  # 8
    assert p.problems("azqxkwv") == [PasswordProblem.TOO_SHORT]  # 7
    assert p.problems("zqxkwv" * 11) == []  # 66
    assert p.problems("q" * 128) == []
    assert p.problems("q" * 129) == [PasswordProblem.TOO_LONG]


def test_length_counts_code_points_not_bytes_S1():
    """S1, NIST §3.1.1.2: eight characters of any script are eight, whatever their
    UTF-8 length; fewer than eight are refused even when they take many bytes."""
    p = policy()
    assert p.problems("ключ доп") == []  # 8 code points, 15 bytes
    assert p.problems("🔑🔑🔑🔑🔑🔑🔑") == [PasswordProblem.TOO_SHORT]  # 7 code points, 28 bytes


def test_no_composition_rules_S1():
    """S1, ASVS 6.2.5: no demand for digits, capitals or symbols."""
    p = policy()
    for password in ("zqxwvkjhgf", "ZQXWVKJHGF", "82746193057", "%&*(){}[]!?"):
        assert p.problems(password) == [], password


def test_every_long_entry_of_the_top_list_is_refused_S2():
    """S2, ASVS 6.2.11: the 10,000 most common (zxcvbn's list), in any case."""
    p = policy()
    assert len(LONG_COMMON) > 100
    for password in LONG_COMMON:
        assert PasswordProblem.COMMON in p.problems(password), password
    sample = LONG_COMMON[0]
    assert PasswordProblem.COMMON in p.problems(sample.upper())
    assert PasswordProblem.COMMON in p.problems(sample.title())


def test_list_size_is_the_configured_one_S2():
    assert BEYOND, "zxcvbn's list is longer than 10,000"
    beyond = BEYOND[0]
    assert PasswordProblem.COMMON not in policy().problems(beyond)
    assert PasswordProblem.COMMON in policy(common_list_size=30_000).problems(beyond)


def test_username_and_service_name_inside_refused_S2():
    p = policy()
    assert PasswordProblem.CONTAINS_USERNAME in p.problems(
        "my name is ALICE ok", context_words=["alice"])
    assert PasswordProblem.CONTAINS_SERVICE_NAME in p.problems("unlock my cLeF please")
    assert p.problems("unlock my door please", context_words=["alice"]) == []
    # Very short names are not looked for (they would refuse too much).
    assert p.problems("a long passphrase xy", context_words=["xy"]) == []


def test_service_name_follows_configuration_S2():
    p = policy(service_name="Portail")
    assert PasswordProblem.CONTAINS_SERVICE_NAME in p.problems("mon portail préféré")
    assert PasswordProblem.CONTAINS_SERVICE_NAME not in p.problems("unlock my clef please")


def test_common_password_refused_on_page_with_reason_S2_J2(app):
    password = LONG_COMMON[0]
    response = _register(app.test_client(), "alice", password)
    assert response.status_code == 400
    assert "one of the most common passwords" in _text(response)
    assert get_account(app, "alice") is None


def test_password_containing_username_refused_on_page_S2_J2(app):
    response = _register(app.test_client(), "Marguerite", "i am marguerite today")
    assert response.status_code == 400
    assert "The password must not contain your username." in _text(response)
    assert get_account(app, "Marguerite") is None


def test_password_containing_service_name_refused_on_page_S2_J2(app):
    response = _register(app.test_client(), "alice", "my favourite CLEF password")
    assert response.status_code == 400
    assert "The password must not contain the name of this service." in _text(response)
    assert get_account(app, "alice") is None


def test_several_reasons_shown_at_once_S2(app):
    response = _register(app.test_client(), "alice", "clef of alice forever")
    body = _text(response)
    assert response.status_code == 400
    assert "The password must not contain your username." in body
    assert "The password must not contain the name of this service." in body


def test_mismatched_confirmation_refused_J2(app):
    response = _register(app.test_client(), "alice", "quiet meadow lantern",
                         confirm="quiet meadow lanterns")
    assert response.status_code == 400
    assert "The two passwords are not the same." in _text(response)
    assert get_account(app, "alice") is None


def test_reason_is_translated_S2_J5(app):
    """J5: the reason comes in the person's language."""
    message = "The password must not contain your username."
    client = app.test_client()
    headers = {"Accept-Language": "fr"}
    token = csrf_from(client.get("/register", headers=headers))
    response = client.post("/register", headers=headers, data={
        "csrf_token": token, "username": "alice", "password": "alice in wonderland",
        "confirm": "alice in wonderland"})
    body = _text(response)
    assert response.status_code == 400
    assert 'lang="fr"' in body
    translated = french(message)
    if translated is None:
        pytest.skip("the French catalogue has no translation of this reason yet")
    assert translated in body
    assert message not in body
