"""Portals registered by an administrator (``clef clients ...``): their redirect URIs,
secret, subject type and logout addresses.

A secret is 256 random bits, printed once and kept as a keyed hash (like the codes of
``idp.email_codes``): it is high-entropy, so a keyed hash is as safe as argon2 here and
costs nothing on the token endpoint's hot path. Checks are constant-time.

The token endpoint reads a client from this process's copies (:meth:`Clients.cached`);
every change of a client's row bumps its ``revision`` (the ORM's version counter), which
each code or refresh claim checks in SQL, so a copy never outlives a change.
"""

from __future__ import annotations

import ipaddress
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from idp.keys import KeyRing
from idp.oidc.keys import ALGORITHMS
from idp.oidc.models import PAIRWISE, PUBLIC, OAuthClient

_TABLE: Table = OAuthClient.__table__  # type: ignore[assignment]
_BY_CLIENT_ID = select(_TABLE).where(_TABLE.c.client_id == bindparam("client"))
SECRET_PURPOSE = "oidc.client_secret"  # noqa: S105 - a key purpose, not a secret
CACHED_CLIENTS = 256  # portals a process keeps copies of (the least recently used go)


class ClientRefused(ValueError):
    """A registration that cannot be accepted; the message says why."""


def _is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return bool(host) and ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def verify_uri(uri: str, what: str) -> str:
    """RFC 9700 §2.1, S31: absolute https URIs (http only on a loopback host), no
    fragment, compared later as exact strings."""
    parts = urlsplit(uri)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise ClientRefused(f"{what} must be an absolute https URL: {uri}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ClientRefused(f"{what} may use http only on a loopback host: {uri}")
    if parts.fragment or uri.endswith("#"):
        raise ClientRefused(f"{what} must not have a fragment: {uri}")
    return uri


@dataclass(frozen=True)
class NewClient:
    client: OAuthClient
    secret: str | None  # shown once


class Clients:
    def __init__(self, keys: KeyRing) -> None:
        self._keys = keys
        self._copies: OrderedDict[str, OAuthClient] = OrderedDict()
        self._copies_lock = threading.Lock()

    def _hash(self, client_id: str, secret: str) -> str:
        return self._keys.keyed_hash(SECRET_PURPOSE, f"{client_id}:{secret}")

    def add(
        self, db: Session, now: datetime, *, name: str, redirect_uris: list[str],
        post_logout_redirect_uris: list[str] | None = None, public: bool = False,
        trusted: bool = False, subject_type: str = PAIRWISE, sector: str | None = None,
        backchannel_logout_uri: str | None = None, id_token_alg: str = ALGORITHMS[0],
        pkce_required: bool = True,
    ) -> NewClient:
        if not name.strip():
            raise ClientRefused("a client needs a name")
        if not redirect_uris:
            raise ClientRefused("a client needs at least one redirect URI")
        redirects = [verify_uri(u, "redirect URI") for u in redirect_uris]
        logouts = [verify_uri(u, "post-logout redirect URI") for u in post_logout_redirect_uris or []]
        backchannel = verify_uri(backchannel_logout_uri, "back-channel logout URI") \
            if backchannel_logout_uri else None
        if public and not pkce_required:
            raise ClientRefused("a public client must use PKCE (D8): --pkce optional is for "
                                "legacy confidential portals only")
        if subject_type not in (PAIRWISE, PUBLIC):
            raise ClientRefused("subject type must be pairwise or public")
        if id_token_alg not in ALGORITHMS:
            raise ClientRefused(f"ID token algorithm must be one of {', '.join(ALGORITHMS)}")
        hosts = {urlsplit(u).hostname for u in redirects}
        if sector is None:
            if len(hosts) > 1:
                raise ClientRefused("redirect URIs on several hosts need --sector (S45)")
            sector = hosts.pop() or ""
        # Hex: a client id may be typed as a CLI argument, where a leading "-" would read
        # as an option. Not a secret; unique and unguessable enough at 96 bits.
        client_id = secrets.token_hex(12)
        secret = None if public else secrets.token_urlsafe(32)
        client = OAuthClient(
            client_id=client_id, name=name.strip(), redirect_uris=redirects,
            post_logout_redirect_uris=logouts, backchannel_logout_uri=backchannel,
            public=public, trusted=trusted, pkce_required=pkce_required,
            subject_type=subject_type, sector=sector,
            id_token_alg=id_token_alg, created_at=now,
            secret_hash=self._hash(client_id, secret) if secret else None,
        )
        db.add(client)
        return NewClient(client, secret)

    def get(self, db: Session, client_id: str | None) -> OAuthClient | None:
        if not client_id or len(client_id) > 64:
            return None
        return db.scalars(select(OAuthClient).where(OAuthClient.client_id == client_id)).first()

    def get_copy(self, db: Session, client_id: str | None) -> OAuthClient | None:
        """The client as a read-only copy, not attached to the session: one prebuilt
        Core SELECT and no ORM loading (issue 11: the ORM load was a fifth of a
        refresh's CPU). For the token endpoint's client authentication, which only
        reads it; change a client through :meth:`get`."""
        if not client_id or len(client_id) > 64:
            return None
        row = db.connection().execute(_BY_CLIENT_ID, {"client": client_id}).first()
        return OAuthClient(**row._mapping) if row is not None else None

    def cached(self, db: Session, client_id: str | None) -> OAuthClient | None:
        """The client from this process's copies, read (:meth:`get_copy`) only when it
        has none (issue 11: a token request then reads no client row).

        Only for the token endpoint, whose every claim checks in SQL that the row
        still has the copy's ``revision`` (``idp.oidc.tokens``), so a stale copy never
        issues anything; a failed request forgets the copy (:meth:`forget`). Unknown
        ids are not kept: made-up ids cannot push real portals out."""
        found = self.held(client_id)
        if found is not None or not client_id:
            return found
        found = self.get_copy(db, client_id)
        if found is not None:
            with self._copies_lock:
                self._copies[client_id] = found
                while len(self._copies) > CACHED_CLIENTS:
                    self._copies.popitem(last=False)
        return found

    def held(self, client_id: str | None) -> OAuthClient | None:
        """This process's copy of the client, or None when it has none (nothing is
        read): the refresh answered in front of Flask (idp.oidc.token_endpoint) leaves
        a client it holds no copy of to the token view, which reads it."""
        if not client_id:
            return None
        with self._copies_lock:
            found = self._copies.get(client_id)
            if found is not None:
                self._copies.move_to_end(client_id)
            return found

    def forget(self, client_id: str) -> None:
        """Drop this process's copy: the next token request reads the row again."""
        with self._copies_lock:
            self._copies.pop(client_id, None)

    def is_current(self, db: Session, copy: OAuthClient) -> bool:
        """True when the client's row still has ``copy``'s revision; else the copy is
        forgotten. Read fresh, for a claim that failed: was it the copy's fault?"""
        fresh = self.get_copy(db, copy.client_id)
        if fresh is not None and fresh.revision == copy.revision:
            return True
        self.forget(copy.client_id)
        return False

    def all(self, db: Session) -> list[OAuthClient]:
        return list(db.scalars(select(OAuthClient).order_by(OAuthClient.id)))

    def secret_matches(self, client: OAuthClient, secret: str | None) -> bool:
        if client.secret_hash is None or not secret:
            return False
        return self._keys.matches(SECRET_PURPOSE, f"{client.client_id}:{secret}", client.secret_hash)

    def rotate_secret(self, client: OAuthClient) -> str:
        """A new secret; the old one stops working at once. The caller commits."""
        if client.public:
            raise ClientRefused("a public client has no secret")
        secret = secrets.token_urlsafe(32)
        client.secret_hash = self._hash(client.client_id, secret)
        self.forget(client.client_id)  # here at once; other processes by its revision
        return secret

    def remove(self, db: Session, client: OAuthClient) -> None:
        db.delete(client)
        self.forget(client.client_id)
