"""A software security key for the flow tests (D3): it answers the server's WebAuthn
options as an authenticator and browser would (WebAuthn §6.1 authenticator data, a
"none" attestation, ES256 signatures), so flows run through the test client without a
browser. The browser tests use Chromium's own virtual authenticator instead."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
from html import unescape
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

OPTIONS_RE = re.compile(r'data-options="([^"]*)"')
UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def page_options(html: str) -> str:
    """The WebAuthn options a page hands its script (the form's data-options)."""
    found = OPTIONS_RE.search(html)
    assert found, "no WebAuthn options on the page"
    return unescape(found.group(1))


class SoftKey:
    def __init__(self, origin: str, synced: bool = False) -> None:
        self.origin = origin
        self.rp_id = origin.split("://", 1)[1].split(":")[0]
        self.private = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.sign_count = 0
        self.synced = synced

    def clone(self) -> SoftKey:
        """The same credential in another authenticator, with the counter it had then."""
        return copy.copy(self)

    def _flags(self, extra: int = 0) -> bytes:
        return bytes([UP | UV | extra | ((BE | BS) if self.synced else 0)])

    def cose(self) -> bytes:
        numbers = self.private.public_key().public_numbers()
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"),
                            -3: numbers.y.to_bytes(32, "big")})

    def _client_data(self, kind: str, options: dict[str, Any], origin: str | None) -> bytes:
        return json.dumps({"type": kind, "challenge": options["challenge"],
                           "origin": origin or self.origin, "crossOrigin": False}).encode()

    def create(self, options_json: str, origin: str | None = None) -> str:
        options = json.loads(options_json)
        client_data = self._client_data("webauthn.create", options, origin)
        rp_hash = hashlib.sha256(options["rp"]["id"].encode()).digest()
        auth_data = (rp_hash + self._flags(AT) + self.sign_count.to_bytes(4, "big")
                     + bytes(16) + len(self.credential_id).to_bytes(2, "big")
                     + self.credential_id + self.cose())
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return json.dumps({
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data),
                         "attestationObject": b64(attestation), "transports": ["usb"]},
            "clientExtensionResults": {},
        })

    def get(self, options_json: str, origin: str | None = None) -> str:
        options = json.loads(options_json)
        self.sign_count += 1
        client_data = self._client_data("webauthn.get", options, origin)
        auth_data = (hashlib.sha256(options["rpId"].encode()).digest() + self._flags()
                     + self.sign_count.to_bytes(4, "big"))
        signature = self.private.sign(auth_data + hashlib.sha256(client_data).digest(),
                                      ec.ECDSA(hashes.SHA256()))
        return json.dumps({
            "id": b64(self.credential_id), "rawId": b64(self.credential_id), "type": "public-key",
            "response": {"clientDataJSON": b64(client_data), "authenticatorData": b64(auth_data),
                         "signature": b64(signature)},
            "clientExtensionResults": {},
        })
