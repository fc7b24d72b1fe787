"""Time-based one-time passwords (RFC 6238) with the rules of S11.

pyotp does the HOTP arithmetic; this module owns what it leaves to us: which steps are
accepted (the server's clock, one step of drift either side), and *which* step matched,
so the caller can refuse that step and every earlier one next time (RFC 6238 §5.2:
a code is never accepted twice). Codes are compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import pyotp
import segno

# S11: at least 160 bits from a CSPRNG. 32 base32 characters carry 160 bits.
SECRET_BASE32_LENGTH = 32


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (pyotp draws it from ``secrets``)."""
    return pyotp.random_base32(length=SECRET_BASE32_LENGTH)


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing into an app by hand."""
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


ASCII_DIGITS = frozenset("0123456789")


def clean_code(typed: str) -> str:
    """ASCII digits only: people paste codes with spaces or a dash in the middle. Other
    scripts' digits are dropped, never compared (``hmac.compare_digest`` refuses
    non-ASCII text), so such a code is simply wrong."""
    return "".join(ch for ch in typed if ch in ASCII_DIGITS)


@dataclass(frozen=True)
class Totp:
    """One secret's codes under the configured digits, period and drift."""

    secret: str
    digits: int = 6
    period: int = 30
    drift: int = 1

    @cached_property
    def _otp(self) -> pyotp.TOTP:
        """pyotp's generator for this secret, made once per :class:`Totp` (a check
        computes three steps' codes, issue 11)."""
        return pyotp.TOTP(self.secret, digits=self.digits, interval=self.period)

    def step_at(self, when: datetime) -> int:
        """The RFC 6238 time step T for ``when`` (server time only)."""
        return int(when.timestamp()) // self.period

    def code_for_step(self, step: int) -> str:
        return self._otp.generate_otp(step)

    def matching_step(self, typed: str, when: datetime, after: int | None = None) -> int | None:
        """The step whose code is ``typed``, within ±drift of ``when`` and later than
        ``after`` (the last step already accepted), or None.

        Every candidate step is computed and compared, whatever matches first, so the
        time taken does not say which step (or whether one) matched.
        """
        code = clean_code(typed)
        if len(code) != self.digits:
            return None
        now_step = self.step_at(when)
        found: int | None = None
        for step in range(now_step - self.drift, now_step + self.drift + 1):
            same = hmac.compare_digest(self.code_for_step(step), code)
            fresh = after is None or step > after
            if same and fresh and found is None:
                found = step
        return found

    def provisioning_uri(self, account_name: str, issuer: str) -> str:
        """The otpauth:// URI an authenticator app reads from the QR code."""
        return self._otp.provisioning_uri(name=account_name, issuer_name=issuer)

    def qr_svg(self, account_name: str, issuer: str) -> str:
        """The provisioning URI as an inline SVG QR code (no script, no external
        request, so the page keeps its strict CSP)."""
        qr = segno.make(self.provisioning_uri(account_name, issuer), error="m")
        svg: str = qr.svg_inline(scale=4, border=4, dark="#000", light="#fff",
                                 title=None, svgclass="qr", lineclass=None)
        return svg
