"""Password hashing (S3), length and character rules end to end (S1), no default
accounts and no password-setting admin command (S5)."""

from __future__ import annotations

import re

import click
import pytest
from argon2 import extract_parameters
from sqlalchemy import func, select

from idp.models import Account
from idp.passwords import PasswordHasher
from idp.settings import load_settings
from tests.helpers import create_account, get_account, sign_in

OWASP_MIN = {"memory_kib": 19456, "time_cost": 2, "parallelism": 1}


def test_default_config_hashes_with_argon2id_at_or_above_owasp_S3():
    """S3: the shipped defaults (config/defaults.toml alone) meet OWASP's minimum."""
    settings = load_settings(environ={})
    params = settings.argon2
    assert params.memory_kib >= OWASP_MIN["memory_kib"]
    assert params.time_cost >= OWASP_MIN["time_cost"]
    assert params.parallelism >= OWASP_MIN["parallelism"]
    stored = PasswordHasher(params).hash("any password at all")
    assert stored.startswith("$argon2id$")
    made_with = extract_parameters(stored)
    assert made_with.memory_cost == params.memory_kib
    assert made_with.time_cost == params.time_cost
    assert made_with.parallelism == params.parallelism


def test_hasher_verifies_and_rejects_S3():
    """S3: a hash verifies its own password only; an unknown account never matches."""
    from idp.settings import Argon2Settings

    hasher = PasswordHasher(Argon2Settings(memory_kib=1024, time_cost=1, parallelism=1))
    stored = hasher.hash("a long enough password")
    assert hasher.verify(stored, "a long enough password").matches
    assert not hasher.verify(stored, "a long enough passworD").matches
    assert not hasher.verify(None, "clef-dummy-password-for-unknown-accounts").matches
    assert not hasher.verify("not a hash", "a long enough password").matches


def test_sign_in_rehashes_when_parameters_change_S3(make_app):
    """S3, ASVS 11.4.2: an account hashed with old parameters gets the new ones at its
    next successful sign-in, and only then."""
    old_app = make_app()
    create_account(old_app, "alice")
    before = get_account(old_app, "alice").password_hash
    assert extract_parameters(before).memory_cost == 1024

    new_app = make_app(argon2={"memory_kib": 2048, "time_cost": 2, "parallelism": 1})
    client = new_app.test_client()
    assert sign_in(client, "alice", "a wrong password here").status_code == 401
    assert get_account(new_app, "alice").password_hash == before  # no rehash on failure

    assert sign_in(client, "alice").status_code == 303
    after = get_account(new_app, "alice").password_hash
    assert after != before
    params = extract_parameters(after)
    assert (params.memory_cost, params.time_cost, params.parallelism) == (2048, 2, 1)
    assert after.startswith("$argon2id$")
    # The new hash still verifies the same password.
    assert sign_in(new_app.test_client(), "alice").status_code == 303


def _register(client, username, password, confirm=None):
    from tests.helpers import csrf

    token = csrf(client, "/register")
    return client.post("/register", data={
        "csrf_token": token, "username": username, "password": password,
        "confirm": password if confirm is None else confirm,
    })


@pytest.mark.parametrize("length", [8, 64, 100, 128])
def test_lengths_from_8_to_128_are_accepted_S1(app, length):
    """S1: 8 characters is enough and at least 64 (here up to the configured 128) are
    allowed, without composition rules."""
    password = ("qzmv" * 40)[:length]
    response = _register(app.test_client(), "alice", password)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert sign_in(app.test_client(), "alice", password).status_code == 303


def test_seven_characters_refused_with_reason_S1(app):
    response = _register(app.test_client(), "alice", "qzmvqzm")
    assert response.status_code == 400
    assert "Use at least 8 characters." in response.get_data(as_text=True)
    assert get_account(app, "alice") is None


def test_too_long_refused_with_reason_S1(app):
    response = _register(app.test_client(), "alice", "q" * 129)
    assert response.status_code == 400
    assert "Use at most 128 characters." in response.get_data(as_text=True)


def test_no_truncation_of_long_passwords_S1(app):
    """S1, ASVS 6.2.9: every character counts; no 72-byte (bcrypt) or other cut-off."""
    password = "".join(chr(ord("a") + (i * 7) % 26) for i in range(100))
    create_account(app, "alice", password)
    last_changed = password[:-1] + ("b" if password[-1] != "b" else "c")
    assert sign_in(app.test_client(), "alice", last_changed).status_code == 401
    assert sign_in(app.test_client(), "alice", password[:72]).status_code == 401
    assert sign_in(app.test_client(), "alice", password[:64]).status_code == 401
    assert sign_in(app.test_client(), "alice", password).status_code == 303


def test_no_case_folding_of_passwords_S1(app):
    password = "Tangerine Umbrella Voyage"
    create_account(app, "alice", password)
    for variant in (password.lower(), password.upper(), password.swapcase()):
        assert sign_in(app.test_client(), "alice", variant).status_code == 401
    assert sign_in(app.test_client(), "alice", password).status_code == 303


@pytest.mark.parametrize("password", [
    "  leading and trailing spaces  ",
    "mot de passe très sûr éàç",
    "пароль для входа",
    "暗号は長い方がよいです",
    "emoji 🔑🗝️ and a treble 𝄞",
    "tab\tand symbols !@#$%^&*()[]{}",
])
def test_any_characters_allowed_and_kept_exactly_S1(app, password):
    """S1, ASVS 6.2.8: any printable Unicode, spaces included, kept as typed: the
    registration form takes it and only the exact string signs in."""
    response = _register(app.test_client(), "alice", password)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert sign_in(app.test_client(), "alice", password).status_code == 303
    assert sign_in(app.test_client(), "alice", password.strip() + "x").status_code == 401


def test_no_default_accounts_after_migration_S5(app):
    """S5: a freshly migrated database holds no account at all."""
    db = app.extensions["clef"].session_factory()
    try:
        assert db.scalar(select(func.count()).select_from(Account)) == 0
    finally:
        db.close()


def _walk(command: click.Command, path: str = ""):
    yield path or command.name, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, f"{path} {name}".strip())


def test_admin_cli_cannot_set_a_password_S5(app):
    """S5, ASVS 6.4.6: no command, argument or option of the admin CLI takes or sets a
    password."""
    walked = list(_walk(app.cli))
    names = {path for path, _ in walked}
    assert {"users unlock", "users revoke", "sessions end"} <= names  # the tree was walked
    pattern = re.compile(r"pass|pwd|secret|credential", re.IGNORECASE)
    # Commands may *make* a portal's client secret (printed once, never taken as input);
    # none may name a password, and no option or argument may take any secret.
    command_pattern = re.compile(r"pass|pwd|credential", re.IGNORECASE)
    for path, command in walked:
        assert not command_pattern.search(path), path
        for param in command.params:
            spelled = [param.name or "", *getattr(param, "opts", []),
                       *getattr(param, "secondary_opts", [])]
            assert not any(pattern.search(s) for s in spelled), (path, spelled)


def test_password_is_nfkc_normalised_not_case_folded_S1():
    """NIST §3.1.1.2: a composed and a decomposed "é" are one password; case still counts."""
    hasher = PasswordHasher(load_settings({"argon2": {"memory_kib": 1024, "time_cost": 1}}).argon2)
    stored = hasher.hash("caf\u00e9 au lait du matin")
    assert hasher.verify(stored, "cafe\u0301 au lait du matin").matches
    assert not hasher.verify(stored, "CAF\u00c9 AU LAIT DU MATIN").matches
