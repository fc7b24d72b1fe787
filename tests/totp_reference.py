"""RFC 6238 written out from the RFC with the standard library only: the independent
implementation the tests compute codes with, so a bug in pyotp or in mfa.totp cannot
agree with itself. Checked against the RFC's appendix B vectors in tests/mfa/test_totp.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct


def hotp(key: bytes, counter: int, digits: int = 6, digest: str = "sha1") -> str:
    """RFC 4226 §5.3: HMAC, dynamic truncation, modulo 10^digits."""
    mac = hmac.new(key, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def totp(key: bytes, unix_time: int, digits: int = 6, period: int = 30,
         digest: str = "sha1") -> str:
    """RFC 6238 §4.2: T = floor((time - T0) / X), T0 = 0."""
    return hotp(key, unix_time // period, digits, digest)


def key_of(base32_secret: str) -> bytes:
    cleaned = base32_secret.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
