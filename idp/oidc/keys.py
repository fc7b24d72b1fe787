"""Token signing keys (S36, S42): RS256 by default and ES256 per client, a ``kid`` on
every token, private halves sealed at rest, rotation with overlap.

``clef keys rotate`` publishes the next key of each algorithm at once and lets it sign
only ``key_publish_lead_minutes`` later, so portals that cache the JWKS already hold it;
the key it replaces stays published until every token it signed has expired. joserfc
makes and serialises the keys.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, KeyParameters, RSAKey
from sqlalchemy import Connection, or_, select
from sqlalchemy.orm import Session

from idp.oidc.models import SigningKey
from idp.secret_box import SecretBox

ALGORITHMS = ("RS256", "ES256")
RSA_BITS = 2048
# The JWKS is served from memory (issue 11), by default for this long
# (`oidc.jwks_memory_seconds`). Another process (``clef keys rotate``) may publish new
# keys; they sign only ``key_publish_lead_minutes`` later, so a document at most this old
# never lacks a key that signs (S42). This process's own changes, and the removal time of
# a retiring key, refresh it at once.
JWKS_MEMORY = timedelta(seconds=60)


def _generate(alg: str, kid: str) -> RSAKey | ECKey:
    parameters: KeyParameters = {"kid": kid, "alg": alg, "use": "sig"}
    if alg == "RS256":
        return RSAKey.generate_key(RSA_BITS, parameters=parameters, private=True)
    if alg == "ES256":
        return ECKey.generate_key("P-256", parameters=parameters, private=True)
    raise ValueError(f"unsupported signing algorithm {alg}")


@dataclass(frozen=True)
class ActiveKey:
    kid: str
    alg: str
    key: RSAKey | ECKey


class SigningKeys:
    def __init__(self, box: SecretBox, publish_lead: timedelta, token_lifetime: timedelta,
                 memory: timedelta = JWKS_MEMORY) -> None:
        self._box = box
        self._memory = memory
        self._lead = publish_lead
        self._lifetime = token_lifetime
        # kid -> opened private key. A kid's key never changes, so each worker opens
        # (decrypts and parses) it once, not on every token it signs.
        self._opened: dict[str, RSAKey | ECKey] = {}
        # (JSON bytes, ETag, valid until): the published keys, see JWKS_MEMORY.
        self._published: tuple[bytes, str, datetime] | None = None
        # (live keys' (kid, alg, active_from, remove_after, created_at), valid until): which
        # key signs, known without a query per code exchange (issue 11) for as long as the
        # published document is (JWKS_MEMORY): a key published elsewhere signs only
        # ``key_publish_lead_minutes`` later, so it is seen here before it may sign (S42).
        self._timeline: tuple[list[tuple[str, str, datetime, datetime | None, datetime]],
                              datetime] | None = None

    def _add(self, db: Session, alg: str, now: datetime, active_from: datetime) -> SigningKey:
        kid = f"{alg.lower()}-{now:%Y%m%d}-{secrets.token_hex(4)}"
        key = _generate(alg, kid)
        row = SigningKey(
            kid=kid, alg=alg, created_at=now, active_from=active_from, remove_after=None,
            private_jwk=self._box.seal(json.dumps(key.as_dict(private=True))),
            public_jwk=key.as_dict(private=False),
        )
        db.add(row)
        self._published = None
        self._timeline = None
        return row

    def ensure(self, db: Session, now: datetime) -> list[SigningKey]:
        """A signing key for every algorithm, made now where one is missing (first
        start). The caller commits."""
        made = []
        for alg in ALGORITHMS:
            if self._current_row(db, alg, now) is None:
                made.append(self._add(db, alg, now, now))
        return made

    def rotate(self, db: Session, now: datetime) -> list[SigningKey]:
        """Publish the next key of each algorithm now; it signs from now + lead. The
        keys it replaces stay published until their last token has expired."""
        starts = now + self._lead
        made = []
        for alg in ALGORITHMS:
            for old in self._live_rows(db, alg, now):
                if old.remove_after is None:
                    old.remove_after = starts + self._lifetime
            made.append(self._add(db, alg, now, starts))
        return made

    def _live_rows(self, db: Session, alg: str, now: datetime) -> list[SigningKey]:
        return list(db.scalars(select(SigningKey).where(
            SigningKey.alg == alg,
            or_(SigningKey.remove_after.is_(None), SigningKey.remove_after > now),
        )))

    def _current_row(self, db: Session, alg: str, now: datetime) -> SigningKey | None:
        """The newest key of ``alg`` that may sign now."""
        return db.scalars(
            select(SigningKey)
            .where(SigningKey.alg == alg, SigningKey.active_from <= now,
                   or_(SigningKey.remove_after.is_(None), SigningKey.remove_after > now))
            .order_by(SigningKey.active_from.desc(), SigningKey.created_at.desc())
            .limit(1)
        ).first()

    def _current_kid(self, db: Session | Connection, alg: str, now: datetime) -> str | None:
        """The kid of :meth:`_current_row`, from the live keys' times kept in memory
        (``_timeline``): the sealed private key is only fetched for a kid this worker has
        not opened yet, and the times only once per JWKS_MEMORY (issue 11)."""
        cached = self._timeline
        if cached is None or not now < cached[1]:
            rows = db.execute(
                select(SigningKey.kid, SigningKey.alg, SigningKey.active_from,
                       SigningKey.remove_after, SigningKey.created_at)
                .where(or_(SigningKey.remove_after.is_(None), SigningKey.remove_after > now))
            ).all()
            cached = ([tuple(row) for row in rows], now + self._memory)  # type: ignore[misc]
            self._timeline = cached
        signing = [row for row in cached[0] if row[1] == alg and row[2] <= now
                   and (row[3] is None or row[3] > now)]
        if not signing:
            self._timeline = None  # none yet: the caller makes one, read again after
            return None
        return max(signing, key=lambda row: (row[2], row[4]))[0]

    def current(self, db: Session, alg: str, now: datetime) -> ActiveKey:
        kid = self._current_kid(db, alg, now)
        if kid is None:  # the first token ever: make the keys (and keep them)
            self.ensure(db, now)
            db.commit()
            kid = self._current_kid(db, alg, now)
        if kid is None:
            raise RuntimeError(f"no signing key for {alg}")
        key = self._opened.get(kid)
        if key is None:
            row = db.get(SigningKey, kid)
            if row is None:
                raise RuntimeError(f"signing key {kid} vanished")
            data = json.loads(self._box.open(row.private_jwk))
            key = RSAKey.import_key(data) if row.alg == "RS256" else ECKey.import_key(data)
            self._opened[kid] = key
        return ActiveKey(kid, alg, key)

    def held(self, conn: Connection, alg: str, now: datetime) -> ActiveKey | None:
        """The key :meth:`current` would sign with now, when this worker has it open;
        None when it has not (or there is none yet), so nothing is made or fetched here:
        the code exchange answered in front of Flask (idp.oidc.code_endpoint) leaves that
        to the token view. Reads the live keys' times on ``conn`` as :meth:`current` does
        (once per JWKS_MEMORY)."""
        kid = self._current_kid(conn, alg, now)
        key = self._opened.get(kid) if kid is not None else None
        return ActiveKey(kid, alg, key) if kid is not None and key is not None else None

    def jwks(self, db: Session, now: datetime) -> dict[str, Any]:
        """Every published public key (S42: the next one early, old ones until their
        tokens have expired)."""
        rows = db.scalars(select(SigningKey).where(
            or_(SigningKey.remove_after.is_(None), SigningKey.remove_after > now)
        ).order_by(SigningKey.created_at))
        return {"keys": [dict(row.public_jwk) for row in rows]}

    def published(self, db: Session, now: datetime) -> tuple[bytes, str]:
        """The JWKS document as bytes and its ETag, from memory while it is valid. Read
        only: keys are made by ``clef db upgrade``, ``clef keys rotate`` or the first
        token signed, never by a GET anyone can send."""
        cached = self._published
        if cached is not None and now < cached[2]:
            return cached[0], cached[1]
        rows = list(db.scalars(select(SigningKey).where(
            or_(SigningKey.remove_after.is_(None), SigningKey.remove_after > now)
        ).order_by(SigningKey.created_at)))
        body = json.dumps({"keys": [dict(row.public_jwk) for row in rows]},
                          separators=(",", ":")).encode()
        until = min([now + self._memory] + [row.remove_after for row in rows if row.remove_after])
        etag = hashlib.sha256(body).hexdigest()[:32]
        self._published = (body, etag, until)
        return body, etag

    def fresh(self, now: datetime) -> tuple[bytes, str] | None:
        """The JWKS bytes and ETag while the copy in memory is valid, else None (the
        caller then asks :meth:`published`, which reads the keys). Never reads the
        database: the WSGI layer in front of Flask serves from it (idp.oidc.published)."""
        cached = self._published
        if cached is not None and now < cached[2]:
            return cached[0], cached[1]
        return None

    def reseal_all(self, db: Session, box: SecretBox) -> int:
        count = 0
        for row in db.scalars(select(SigningKey)):
            row.private_jwk = box.reseal(row.private_jwk)
            count += 1
        return count
