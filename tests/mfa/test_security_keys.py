# ruff: noqa: E501 - the test vectors are long base64url strings, kept whole to compare
"""Security keys (D3) at the service level, with the ``webauthn`` library's own test
vectors (py_webauthn's tests: a "none" attestation and an EC2 assertion, both made for
rp id ``localhost`` at origin ``http://localhost:5000``)."""

from __future__ import annotations

import json

import pytest

from idp.oidc import acr
from mfa.models import SecurityKey
from mfa.runtime import EXTENSION_KEY
from mfa.security_keys import (
    REGISTER,
    SIGN_IN,
    CounterWentBack,
    DuplicateKey,
    KeyRefused,
    Pending,
)
from tests.helpers import create_account

ORIGIN = "http://localhost:5000"
BINDING = "attempt-1"

REGISTRATION = json.dumps({
    "id": "9y1xA8Tmg1FEmT-c7_fvWZ_uoTuoih3OvR45_oAK-cwHWhAbXrl2q62iLVTjiyEZ7O7n-CROOY494k7Q3xrs_w",
    "rawId": "9y1xA8Tmg1FEmT-c7_fvWZ_uoTuoih3OvR45_oAK-cwHWhAbXrl2q62iLVTjiyEZ7O7n-CROOY494k7Q3xrs_w",
    "response": {
        "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVjESZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAFwAAAAAAAAAAAAAAAAAAAAAAQPctcQPE5oNRRJk_nO_371mf7qE7qIodzr0eOf6ACvnMB1oQG165dqutoi1U44shGezu5_gkTjmOPeJO0N8a7P-lAQIDJiABIVggSFbUJF-42Ug3pdM8rDRFu_N5oiVEysPDB6n66r_7dZAiWCDUVnB39FlGypL-qAoIO9xWHtJygo2jfDmHl-_eKFRLDA",
        "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiVHdON240V1R5R0tMYzRaWS1xR3NGcUtuSE00bmdscXN5VjBJQ0psTjJUTzlYaVJ5RnRya2FEd1V2c3FsLWdrTEpYUDZmbkYxTWxyWjUzTW00UjdDdnciLCJvcmlnaW4iOiJodHRwOi8vbG9jYWxob3N0OjUwMDAiLCJjcm9zc09yaWdpbiI6ZmFsc2V9",
    },
    "type": "public-key", "clientExtensionResults": {}, "transports": ["nfc", "usb"],
})
REGISTRATION_CHALLENGE = "TwN7n4WTyGKLc4ZY-qGsFqKnHM4nglqsyV0ICJlN2TO9XiRyFtrkaDwUvsql-gkLJXP6fnF1MlrZ53Mm4R7Cvw"

ASSERTION_ID = "EDx9FfAbp4obx6oll2oC4-CZuDidRVV4gZhxC529ytlnqHyqCStDUwfNdm1SNHAe3X5KvueWQdAX3x9R1a2b9Q"
ASSERTION = json.dumps({
    "id": ASSERTION_ID, "rawId": ASSERTION_ID,
    "response": {
        "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MBAAAATg",
        "clientDataJSON": "eyJjaGFsbGVuZ2UiOiJ4aTMwR1BHQUZZUnhWRHBZMXNNMTBEYUx6VlFHNjZudi1fN1JVYXpIMHZJMll2RzhMWWdERW52TjVmWlpOVnV2RUR1TWk5dGUzVkxxYjQyTjBma0xHQSIsImNsaWVudEV4dGVuc2lvbnMiOnt9LCJoYXNoQWxnb3JpdGhtIjoiU0hBLTI1NiIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6NTAwMCIsInR5cGUiOiJ3ZWJhdXRobi5nZXQifQ",
        "signature": "MEUCIGisVZOBapCWbnJJvjelIzwpixxIwkjCCb5aCHafQu68AiEA88v-2pJNNApPFwAKFiNuf82-2hBxYW5kGwVweeoxCwo",
    },
    "type": "public-key", "clientExtensionResults": {},
})
ASSERTION_CHALLENGE = "xi30GPGAFYRxVDpY1sM10DaLzVQG66nv-_7RUazH0vI2YvG8LYgDEnvN5fZZNVuvEDuMi9te3VLqb42N0fkLGA"
ASSERTION_PUBLIC_KEY = "pQECAyYgASFYIIeDTe-gN8A-zQclHoRnGFWN8ehM1b7yAsa8I8KIvmplIlgg4nFGT5px8o6gpPZZhO01wdy9crDSA_Ngtkx0vGpvPHI"


@pytest.fixture
def keys_app(make_app):
    return make_app(service={"base_url": ORIGIN})


def _with_db(app, work):
    svc = app.extensions["clef"]
    db = svc.session_factory()
    try:
        result = work(db, app.extensions[EXTENSION_KEY].security_keys, svc.clock.now())
        db.commit()
        return result
    finally:
        db.close()


def _pending(purpose, challenge, app, seconds=60):
    now = app.extensions["clef"].clock.now().timestamp()
    return Pending(purpose, challenge, BINDING, now + seconds)


def _register(app, account_id, pending=None, response=REGISTRATION):
    pending = pending or _pending(REGISTER, REGISTRATION_CHALLENGE, app)
    return _with_db(app, lambda db, keys, now: keys.verify_registration(
        db, account_id, pending, response, "YubiKey bleue", BINDING, now).credential_id)


def _stored_key(app, account_id, sign_count):
    from webauthn.helpers import base64url_to_bytes

    def add(db, _keys, now):
        db.add(SecurityKey(account_id=account_id, credential_id=ASSERTION_ID,
                           public_key=base64url_to_bytes(ASSERTION_PUBLIC_KEY),
                           sign_count=sign_count, name="clé", synced=False, transports="usb",
                           created_at=now, last_used_at=None))
    _with_db(app, add)


def _assert(app, account_id, pending=None):
    pending = pending if pending is not None else _pending(SIGN_IN, ASSERTION_CHALLENGE, app)
    return _with_db(app, lambda db, keys, now: keys.verify_assertion(
        db, account_id, pending, ASSERTION, BINDING, now).sign_count)


def test_d3_registration_vector_is_kept_with_its_name_and_public_key_only(keys_app):
    account = create_account(keys_app, "alice")
    assert _register(keys_app, account.id) == json.loads(REGISTRATION)["id"]
    key = _with_db(keys_app, lambda db, keys, now: keys.find_for(db, account.id)[0])
    assert (key.name, key.sign_count, key.transports, key.synced) == ("YubiKey bleue", 23, "nfc usb", False)
    assert key.public_key.startswith(b"\xa5")  # a COSE key map, public only


def test_d3_rp_id_and_origin_come_from_base_url(make_app):
    keys = make_app(service={"base_url": "https://id.example.org"}).extensions[EXTENSION_KEY].security_keys
    assert (keys.rp_id, keys.origin) == ("id.example.org", "https://id.example.org")


def test_d3_registration_for_another_origin_is_refused(make_app):
    app = make_app(service={"base_url": "http://localhost:5001"})
    account = create_account(app, "alice")
    with pytest.raises(KeyRefused):
        _register(app, account.id)
    assert _with_db(app, lambda db, keys, now: keys.count(db, account.id)) == 0


def test_d3_credential_ids_are_unique_across_accounts(keys_app):
    alice, bob = create_account(keys_app, "alice"), create_account(keys_app, "bob")
    _register(keys_app, alice.id)
    with pytest.raises(DuplicateKey):
        _register(keys_app, bob.id)


@pytest.mark.parametrize("change", ["none", "purpose", "binding", "expired", "challenge"])
def test_d3_challenge_must_be_live_bound_and_for_this_ceremony(keys_app, change):
    account = create_account(keys_app, "alice")
    good = _pending(REGISTER, REGISTRATION_CHALLENGE, keys_app)
    pending = {
        "none": None,
        "purpose": Pending(SIGN_IN, good.challenge, good.binding, good.expires),
        "binding": Pending(REGISTER, good.challenge, "attempt-2", good.expires),
        "expired": _pending(REGISTER, REGISTRATION_CHALLENGE, keys_app, seconds=0),
        "challenge": Pending(REGISTER, ASSERTION_CHALLENGE, good.binding, good.expires),
    }[change]
    with pytest.raises(KeyRefused):
        _with_db(keys_app, lambda db, keys, now: keys.verify_registration(
            db, account.id, pending, REGISTRATION, "k", BINDING, now))


def test_d3_assertion_vector_signs_in_and_moves_the_counter(keys_app):
    account = create_account(keys_app, "alice")
    _stored_key(keys_app, account.id, 77)
    assert _assert(keys_app, account.id) == 78
    key = _with_db(keys_app, lambda db, keys, now: keys.find_for(db, account.id)[0])
    assert key.last_used_at is not None and key.sign_count == 78


def test_d3_counter_going_back_is_refused_as_a_clone(keys_app):
    account = create_account(keys_app, "alice")
    _stored_key(keys_app, account.id, 78)
    with pytest.raises(CounterWentBack) as refused:
        _assert(keys_app, account.id)
    assert refused.value.got == 78
    key = _with_db(keys_app, lambda db, keys, now: keys.find_for(db, account.id)[0])
    assert key.sign_count == 78 and key.last_used_at is None


def test_d3_another_accounts_key_does_not_sign_in(keys_app):
    alice, bob = create_account(keys_app, "alice"), create_account(keys_app, "bob")
    _stored_key(keys_app, alice.id, 77)
    with pytest.raises(KeyRefused):
        _assert(keys_app, bob.id)


def test_d3_assertion_made_for_another_origin_is_refused(make_app):
    app = make_app(service={"base_url": "http://localhost:5001"})
    account = create_account(app, "alice")
    _stored_key(app, account.id, 77)
    with pytest.raises(KeyRefused):
        _assert(app, account.id)


def test_d3_options_carry_the_rp_the_settings_and_the_accounts_keys(keys_app):
    account = create_account(keys_app, "alice")
    _stored_key(keys_app, account.id, 0)
    raw, pending = _with_db(keys_app, lambda db, keys, now: keys.assertion_options(
        db, account.id, BINDING, now))
    options = json.loads(raw)
    assert options["rpId"] == "localhost" and options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [ASSERTION_ID]
    assert options["challenge"] == pending.challenge and len(pending.challenge) >= 43
    raw, _ = _with_db(keys_app, lambda db, keys, now: keys.registration_options(
        db, account.id, "alice", BINDING, now))
    created = json.loads(raw)
    assert created["attestation"] == "none" and created["rp"]["id"] == "localhost"
    assert [c["id"] for c in created["excludeCredentials"]] == [ASSERTION_ID]
    assert created["user"]["id"] != "alice"


def test_d3_pending_survives_the_session_as_json():
    pending = Pending(SIGN_IN, "abc", BINDING, 12.5)
    assert Pending.from_json(pending.to_json()) == pending
    assert Pending.from_json("not json") is None and Pending.from_json(None) is None


def test_d3_acr_phishing_resistant_is_above_the_app():
    assert acr.achieved("pwd hwk pop") == acr.ACR_PHISHING_RESISTANT
    assert acr.achieved("pwd swk pop") == acr.ACR_PHISHING_RESISTANT
    assert acr.satisfies(acr.ACR_PHISHING_RESISTANT, [acr.ACR_APP])
    assert not acr.satisfies(acr.ACR_APP, [acr.ACR_PHISHING_RESISTANT])


def test_d3_defaults_preferred_verification_and_no_attestation():
    from idp.settings import load_settings

    mfa = load_settings({}, environ={}).mfa
    assert (mfa.webauthn_user_verification, mfa.webauthn_attestation) == ("preferred", "none")
    assert mfa.webauthn_attestation_roots == () and mfa.webauthn_challenge_seconds <= 600


@pytest.mark.parametrize("values", [
    {"webauthn_user_verification": "sometimes"},
    {"webauthn_attestation": "indirect"},
    {"webauthn_attestation": "direct"},  # without a root it would accept nothing
    {"webauthn_challenge_seconds": 3600},
])
def test_d3_unsafe_webauthn_settings_are_refused(values):
    from idp.settings import ConfigError, load_settings

    with pytest.raises(ConfigError, match="webauthn"):
        load_settings({"mfa": values}, environ={})


def test_d3_direct_attestation_refuses_a_key_without_one(make_app, tmp_path):
    from webauthn.helpers.known_root_certs import apple_webauthn_root_ca

    root = tmp_path / "root.pem"
    root.write_bytes(apple_webauthn_root_ca)
    app = make_app(service={"base_url": ORIGIN},
                   mfa={"webauthn_attestation": "direct",
                        "webauthn_attestation_roots": [str(root)]})
    account = create_account(app, "alice")
    raw, _ = _with_db(app, lambda db, keys, now: keys.registration_options(
        db, account.id, "alice", BINDING, now))
    assert json.loads(raw)["attestation"] == "direct"
    with pytest.raises(KeyRefused):
        _register(app, account.id)
    assert _with_db(app, lambda db, keys, now: keys.count(db, account.id)) == 0


def test_d3_user_verification_required_refuses_a_key_that_did_not_verify(make_app):
    app = make_app(service={"base_url": ORIGIN}, mfa={"webauthn_user_verification": "required"})
    account = create_account(app, "alice")
    _stored_key(app, account.id, 77)
    # The vector's flags are 0x01: the user was present, not verified.
    with pytest.raises(KeyRefused):
        _assert(app, account.id)
