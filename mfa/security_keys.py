"""Security keys and passkeys (D3, WebAuthn Level 2): register a credential, sign in
with it, list and remove an account's credentials.

The ceremonies' cryptography (CBOR, COSE keys, attestation statements, signatures) is
the ``webauthn`` library's (Duo Labs, the only home of that import); this module makes
the decisions around it:

- the relying party id and origin come from ``service.base_url`` (WebAuthn §5.1.3 and
  §7.2 step 9: an assertion made for another origin, a phishing page, is refused);
- a challenge is 32 random bytes, single use (the caller pops it from the session before
  checking), bound to the sign-in attempt that asked for it and short-lived;
- a sign counter that goes backwards (a cloned authenticator, §6.1.1) is refused with
  its own error so the caller can audit it;
- credential ids are unique across accounts (the table says so; a duplicate is refused).

It takes plain values, never ``request`` or the session: the views keep the pending
challenge in the server-side session and hand it back here.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_authenticator_data,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AttestationConveyancePreference,
    AttestationFormat,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from idp.models import Account
from idp.settings import MfaSettings
from mfa.models import SecondFactor, SecurityKey

# amr values (RFC 8176 §2): a hardware-bound key, a software (synced) passkey, and proof
# of possession of a key, which every WebAuthn sign-in is.
AMR_HARDWARE_KEY = "hwk"
AMR_SOFTWARE_KEY = "swk"
AMR_PROOF_OF_POSSESSION = "pop"
CHALLENGE_BYTES = 32
NAME_MAX_LENGTH = 64
REGISTER = "register"
SIGN_IN = "sign_in"
# Attestation formats whose statements chain to a root an operator can name (D3).
_ROOT_FORMATS = (AttestationFormat.PACKED, AttestationFormat.FIDO_U2F, AttestationFormat.TPM,
                 AttestationFormat.ANDROID_KEY, AttestationFormat.APPLE)


class KeyRefused(Exception):
    """The browser's answer does not prove the credential (wrong origin, challenge,
    signature, an unknown or foreign credential, an expired or reused challenge)."""


class CounterWentBack(KeyRefused):
    """The authenticator's sign counter is not above the stored one: the credential may
    have been cloned (WebAuthn §6.1.1). Refused, and the caller audits it."""

    def __init__(self, key: SecurityKey, got: int) -> None:
        super().__init__("sign counter went back")
        self.key, self.got = key, got


class DuplicateKey(KeyRefused):
    """The credential is already registered (to this account or another)."""


@dataclass(frozen=True)
class Pending:
    """A challenge handed to the browser, kept server-side until its one answer."""

    purpose: str
    challenge: str  # base64url
    binding: str  # the sign-in attempt (session record id) it was made for
    expires: float  # POSIX seconds

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: object) -> Pending | None:
        try:
            data = json.loads(raw) if isinstance(raw, str) else None
            return cls(**data) if isinstance(data, dict) else None
        except (TypeError, ValueError):
            return None


DEFAULT_PORTS = {"https": 443, "http": 80}


def browser_origin(base_url: str) -> str:
    """The origin a browser reports for pages under ``base_url`` (HTML's serialisation:
    the host in lower case, no port when it is the scheme's default, no user info), which
    the answers' ``clientDataJSON`` must name. With ``https://idp.example:443`` taken as
    it was written, every key was refused."""
    url = urlsplit(base_url)
    host = url.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = url.port
    if port is not None and port != DEFAULT_PORTS.get(url.scheme):
        host = f"{host}:{port}"
    return f"{url.scheme}://{host}"


# What a browser's answer that the library cannot read raises: refused as a key not
# accepted (a translated 4xx), never a 500. RecursionError: JSON nested too deep.
UNREADABLE = (WebAuthnException, ValueError, TypeError, KeyError, RecursionError)


class SecurityKeys:
    def __init__(self, settings: MfaSettings, base_url: str, service_name: str) -> None:
        url = urlsplit(base_url)
        self.rp_id = url.hostname or ""
        self.origin = browser_origin(base_url)
        self._rp_name = service_name
        self._settings = settings
        self._roots = [Path(p).read_bytes() for p in settings.webauthn_attestation_roots]

    # -- registration (WebAuthn §7.1) -------------------------------------------------

    def registration_options(self, db: Session, account_id: int, username: str,
                             binding: str, now: datetime) -> tuple[str, Pending]:
        """The options for ``navigator.credentials.create`` (JSON) and the pending
        challenge to keep. The account's keys are excluded, so one key is not added
        twice; the user handle is random, never the username (§14.6.1)."""
        s = self._settings
        options = generate_registration_options(
            rp_id=self.rp_id, rp_name=self._rp_name, user_name=username,
            user_id=secrets.token_bytes(16), challenge=secrets.token_bytes(CHALLENGE_BYTES),
            timeout=s.webauthn_challenge_seconds * 1000,
            attestation=AttestationConveyancePreference(s.webauthn_attestation),
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.DISCOURAGED,
                user_verification=UserVerificationRequirement(s.webauthn_user_verification)),
            exclude_credentials=self._descriptors(db, account_id),
        )
        return options_to_json(options), self._pending(REGISTER, options.challenge, binding, now)

    def verify_registration(self, db: Session, account_id: int, pending: Pending | None,
                            response: str, name: str, binding: str,
                            now: datetime) -> SecurityKey:
        """Check the browser's answer to :meth:`registration_options` and keep the
        credential. Raises :class:`KeyRefused` (:class:`DuplicateKey` when known).
        The caller commits."""
        challenge = self._live(pending, REGISTER, binding, now)
        try:
            verified = verify_registration_response(
                credential=response, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, require_user_verification=self._uv_required(),
                pem_root_certs_bytes_by_fmt=self._root_certs(),
            )
        except UNREADABLE as error:
            raise KeyRefused(str(error)) from None
        if self._settings.webauthn_attestation == "direct" and verified.fmt == AttestationFormat.NONE:
            raise KeyRefused("attestation required")
        credential_id = bytes_to_base64url(verified.credential_id)
        if db.scalar(select(SecurityKey.id).where(SecurityKey.credential_id == credential_id)):
            raise DuplicateKey("already registered")
        key = SecurityKey(
            account_id=account_id, credential_id=credential_id,
            public_key=verified.credential_public_key, sign_count=verified.sign_count,
            name=name.strip()[:NAME_MAX_LENGTH],
            synced=verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE,
            transports=" ".join(_transports(response)), created_at=now, last_used_at=None,
        )
        db.add(key)
        try:
            db.flush()
        except IntegrityError:  # registered by a concurrent request in between
            db.rollback()
            raise DuplicateKey("already registered") from None
        return key

    # -- authentication (WebAuthn §7.2) -----------------------------------------------

    def assertion_options(self, db: Session, account_id: int, binding: str,
                          now: datetime) -> tuple[str, Pending]:
        """The options for ``navigator.credentials.get`` with the account's credentials."""
        options = generate_authentication_options(
            rp_id=self.rp_id, challenge=secrets.token_bytes(CHALLENGE_BYTES),
            timeout=self._settings.webauthn_challenge_seconds * 1000,
            allow_credentials=self._descriptors(db, account_id),
            user_verification=UserVerificationRequirement(self._settings.webauthn_user_verification),
        )
        return options_to_json(options), self._pending(SIGN_IN, options.challenge, binding, now)

    def verify_assertion(self, db: Session, account_id: int, pending: Pending | None,
                         response: str, binding: str, now: datetime) -> SecurityKey:
        """Check a sign-in with one of the account's keys and record its new counter.
        Raises :class:`KeyRefused`, or :class:`CounterWentBack` for a cloned key. The
        counter is claimed by one conditional UPDATE, so of two answers raced with the
        same counter one passes. The caller commits."""
        challenge = self._live(pending, SIGN_IN, binding, now)
        try:
            parsed = parse_authentication_credential_json(response)
            counter = parse_authenticator_data(parsed.response.authenticator_data).sign_count
        except UNREADABLE as error:
            raise KeyRefused(str(error)) from None
        key = db.scalar(select(SecurityKey).where(
            SecurityKey.account_id == account_id,
            SecurityKey.credential_id == bytes_to_base64url(parsed.raw_id)))
        if key is None:
            raise KeyRefused("not one of this account's keys")
        try:
            verified = verify_authentication_response(
                credential=parsed, expected_challenge=challenge, expected_rp_id=self.rp_id,
                expected_origin=self.origin, credential_public_key=key.public_key,
                credential_current_sign_count=0, require_user_verification=self._uv_required(),
            )
        except UNREADABLE as error:
            raise KeyRefused(str(error)) from None
        if (counter or key.sign_count) and counter <= key.sign_count:
            raise CounterWentBack(key, counter)
        claimed = db.execute(
            update(SecurityKey)
            .where(SecurityKey.id == key.id, SecurityKey.sign_count == key.sign_count)
            .values(sign_count=verified.new_sign_count, last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            raise CounterWentBack(key, counter)
        key.sign_count, key.last_used_at = verified.new_sign_count, now
        return key

    # -- the account's keys -----------------------------------------------------------

    def find_for(self, db: Session, account_id: int) -> list[SecurityKey]:
        return list(db.scalars(select(SecurityKey).where(SecurityKey.account_id == account_id)
                               .order_by(SecurityKey.created_at, SecurityKey.id)))

    def count(self, db: Session, account_id: int) -> int:
        return db.scalar(select(func.count()).select_from(SecurityKey)
                         .where(SecurityKey.account_id == account_id)) or 0

    def remove_unless_last(self, db: Session, account_id: int, key_id: int) -> bool:
        """S10: delete the key unless it is the account's last second factor (no app or
        email codes, no other key); True when deleted. Two removals of an account's two
        keys raced must not both pass a count read before either deletes: the account's
        row is locked first (PostgreSQL; the statements after it see what the other
        removal committed), and the DELETE checks what remains in its own statement (one
        writer at a time on SQLite). The caller commits."""
        db.execute(select(Account.id).where(Account.id == account_id).with_for_update())
        other = aliased(SecurityKey)
        remains = or_(
            exists().where(SecondFactor.account_id == account_id),
            exists().where(other.account_id == account_id, other.id != key_id))
        result = db.execute(
            delete(SecurityKey)
            .where(SecurityKey.id == key_id, SecurityKey.account_id == account_id, remains)
            .execution_options(synchronize_session=False))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def get(self, db: Session, account_id: int, key_id: int) -> SecurityKey | None:
        key = db.get(SecurityKey, key_id)
        return key if key is not None and key.account_id == account_id else None

    @staticmethod
    def amr_of(key: SecurityKey) -> list[str]:
        """``swk`` for a passkey that may be synced, else ``hwk``; always ``pop``."""
        return [AMR_SOFTWARE_KEY if key.synced else AMR_HARDWARE_KEY, AMR_PROOF_OF_POSSESSION]

    # -- helpers ----------------------------------------------------------------------

    def _pending(self, purpose: str, challenge: bytes, binding: str, now: datetime) -> Pending:
        expires = now + timedelta(seconds=self._settings.webauthn_challenge_seconds)
        return Pending(purpose, bytes_to_base64url(challenge), binding, expires.timestamp())

    @staticmethod
    def _live(pending: Pending | None, purpose: str, binding: str, now: datetime) -> bytes:
        """The challenge, if it was made for this purpose and attempt and is still live."""
        if (pending is None or pending.purpose != purpose
                or not secrets.compare_digest(pending.binding, binding)
                or now.timestamp() >= pending.expires):
            raise KeyRefused("no live challenge")
        return base64url_to_bytes(pending.challenge)

    def _descriptors(self, db: Session, account_id: int) -> list[PublicKeyCredentialDescriptor]:
        return [PublicKeyCredentialDescriptor(
                    id=base64url_to_bytes(key.credential_id),
                    transports=[AuthenticatorTransport(t) for t in key.transports.split()
                                if t in _TRANSPORTS] or None)
                for key in self.find_for(db, account_id)]

    def _uv_required(self) -> bool:
        return self._settings.webauthn_user_verification == "required"

    def _root_certs(self) -> dict[AttestationFormat, list[bytes]] | None:
        if not self._roots:
            return None
        return dict.fromkeys(_ROOT_FORMATS, self._roots)


_TRANSPORTS = {t.value for t in AuthenticatorTransport}


def _transports(response: str) -> list[str]:
    """The transports the browser reported (hints for later sign-ins), known ones only;
    none when they are not a list (the library ignores them then too)."""
    try:
        data: Any = json.loads(response)
        listed = data.get("response", {}).get("transports") or data.get("transports") or []
    except (ValueError, AttributeError, RecursionError):
        return []
    if not isinstance(listed, list):
        return []
    return [t for t in listed if isinstance(t, str) and t in _TRANSPORTS][:6]
