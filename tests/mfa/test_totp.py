"""The TOTP module against RFC 6238 (S11): the appendix B vectors, the accepted window,
replay of a step and of earlier steps, and the secret's strength."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from mfa.totp import SECRET_BASE32_LENGTH, Totp, clean_code, grouped, new_secret
from tests.totp_reference import key_of
from tests.totp_reference import totp as reference_totp

# RFC 6238 appendix B: the SHA-1 seed, 8 digits, X = 30.
RFC_SEED = b"12345678901234567890"
RFC_SHA1_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
    (20000000000, "65353130"),
]
RFC_SECRET = base64.b32encode(RFC_SEED).decode("ascii")


def at(unix_time: int) -> datetime:
    return datetime.fromtimestamp(unix_time, UTC)


@pytest.mark.parametrize(("unix_time", "expected"), RFC_SHA1_VECTORS)
def test_rfc6238_appendix_b_vectors_S11(unix_time, expected):
    """Both the module and the test's own implementation give the RFC's codes."""
    assert reference_totp(RFC_SEED, unix_time, digits=8) == expected
    module = Totp(RFC_SECRET, digits=8)
    step = unix_time // 30
    assert module.step_at(at(unix_time)) == step
    assert module.code_for_step(step) == expected
    assert module.matching_step(expected, at(unix_time)) == step


def test_one_step_of_drift_either_side_and_no_more_S11():
    module = Totp(RFC_SECRET)
    now = 1234567890
    step = now // 30
    for offset in (-1, 0, 1):
        code = reference_totp(RFC_SEED, now + 30 * offset)
        assert module.matching_step(code, at(now)) == step + offset
    for offset in (-2, 2):
        code = reference_totp(RFC_SEED, now + 30 * offset)
        assert module.matching_step(code, at(now)) is None


def test_a_used_step_and_every_earlier_one_are_refused_S11():
    module = Totp(RFC_SECRET)
    now = 1234567890
    step = now // 30
    current = reference_totp(RFC_SEED, now)
    previous = reference_totp(RFC_SEED, now - 30)
    assert module.matching_step(current, at(now), after=step) is None  # replay
    assert module.matching_step(previous, at(now), after=step) is None  # earlier step
    assert module.matching_step(previous, at(now), after=step - 2) == step - 1
    following = reference_totp(RFC_SEED, now + 30)
    assert module.matching_step(following, at(now), after=step) == step + 1


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef"])
def test_codes_of_the_wrong_shape_match_nothing(typed):
    assert Totp(RFC_SECRET).matching_step(typed, at(1234567890)) is None


def test_spaces_and_dashes_in_a_typed_code_do_not_matter():
    code = reference_totp(RFC_SEED, 1234567890)
    typed = f" {code[:3]} -{code[3:]} "
    assert clean_code(typed) == code
    assert Totp(RFC_SECRET).matching_step(typed, at(1234567890)) == 1234567890 // 30


def test_secrets_are_random_and_at_least_160_bits_S11():
    secrets_ = {new_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for secret in secrets_:
        assert len(secret) == SECRET_BASE32_LENGTH
        assert len(key_of(secret)) * 8 >= 160


def test_the_secret_is_shown_in_groups_of_four_that_read_back():
    secret = new_secret()
    shown = grouped(secret)
    assert all(len(group) == 4 for group in shown.split(" "))
    assert key_of(shown) == key_of(secret)


def test_the_qr_code_is_inline_svg_of_the_provisioning_uri():
    module = Totp(RFC_SECRET)
    uri = module.provisioning_uri("alice", "Clef")
    assert uri.startswith("otpauth://totp/Clef:alice?") and f"secret={RFC_SECRET}" in uri
    svg = module.qr_svg("alice", "Clef")
    assert svg.startswith("<svg") and "<script" not in svg
