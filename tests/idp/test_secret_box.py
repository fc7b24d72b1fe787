"""Secrets the service reads back are encrypted at rest with a key from config, and the
key can be rotated (S11): a new key first, old ones still open, ``clef encryption reseal``
re-encrypts, after which the old key can go."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from idp.keys import KeyRing
from idp.secret_box import SecretBox, SecretUnreadable, new_key
from mfa.models import SecondFactor
from tests.helpers import (
    TEST_TOTP_SECRET,
    create_account,
    csrf,
    current_totp,
    run_cli,
    sign_in,
)

SERVICE_SECRET = "s" * 40


def test_sealed_secret_opens_and_does_not_contain_the_secret():
    box = SecretBox([], KeyRing(SERVICE_SECRET))
    sealed = box.seal(TEST_TOTP_SECRET)
    assert TEST_TOTP_SECRET not in sealed
    assert box.open(sealed) == TEST_TOTP_SECRET
    assert box.seal(TEST_TOTP_SECRET) != sealed  # a fresh IV each time


def test_rotation_new_key_first_old_keys_still_open_S11():
    old, new = new_key(), new_key()
    before = SecretBox([old], KeyRing(SERVICE_SECRET))
    sealed = before.seal(TEST_TOTP_SECRET)
    during = SecretBox([new, old], KeyRing(SERVICE_SECRET))
    assert during.open(sealed) == TEST_TOTP_SECRET
    resealed = during.reseal(sealed)
    after = SecretBox([new], KeyRing(SERVICE_SECRET))
    assert after.open(resealed) == TEST_TOTP_SECRET
    with pytest.raises(SecretUnreadable):
        after.open(sealed)  # the old key is gone: only the resealed value opens


def test_a_different_service_secret_cannot_open_the_derived_seal():
    sealed = SecretBox([], KeyRing(SERVICE_SECRET)).seal(TEST_TOTP_SECRET)
    with pytest.raises(SecretUnreadable):
        SecretBox([], KeyRing("t" * 40)).open(sealed)


def _stored_secret(app) -> str:
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        return db.scalars(select(SecondFactor.totp_secret)).one()
    finally:
        db.close()


def test_clef_secrets_reseal_re_encrypts_every_secret_and_sign_in_still_works(make_app):
    """The whole rotation as an operator runs it, on the configured database."""
    first = make_app()
    create_account(first, "alice")  # sealed under the key derived from the service secret
    sealed_before = _stored_secret(first)
    new = run_cli(first, "encryption", "new-key").output.strip()
    rotated = make_app(service={"encryption_keys": [new]})
    result = run_cli(rotated, "encryption", "reseal")
    assert result.exit_code == 0, result.output
    assert "TOTP secrets: 1 re-encrypted under the first key" in result.output
    sealed_after = _stored_secret(rotated)
    assert sealed_after != sealed_before
    only_new = SecretBox([new], KeyRing(SERVICE_SECRET))  # no derived key involved
    assert only_new.open(sealed_after) == TEST_TOTP_SECRET

    client = rotated.test_client()
    sign_in(client, "alice")
    code = current_totp(rotated)
    response = client.post("/2fa/challenge", data={"csrf_token": csrf(client, "/2fa/challenge"),
                                                   "code": code})
    assert response.status_code == 303


def test_reseal_changes_nothing_when_a_secret_cannot_be_opened(make_app):
    first = make_app(service={"encryption_keys": [new_key()]})
    create_account(first, "alice")
    sealed_before = _stored_secret(first)
    stranger = make_app(service={"encryption_keys": [new_key()], "secret_key": "u" * 40})
    result = run_cli(stranger, "encryption", "reseal")
    assert result.exit_code != 0
    assert "nothing was changed" in result.output
    assert _stored_secret(first) == sealed_before
