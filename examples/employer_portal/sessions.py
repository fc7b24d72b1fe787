"""The portal's own sessions, kept on the server (SQLite) and keyed by a random id in
the portal's cookie, so that a back-channel logout from Clef can end them: the store
finds a person's sessions by Clef's ``sid`` (or ``sub``) and deletes them, and the next
request with that cookie finds nothing.

A real portal keeps these in its own database; one SQLite file is enough here, and is
shared by every worker process that serves the portal.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS portal_session (
    id TEXT PRIMARY KEY,
    sid TEXT,
    sub TEXT NOT NULL,
    id_token TEXT NOT NULL,
    claims TEXT NOT NULL,
    userinfo TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS portal_session_sid ON portal_session (sid);
CREATE INDEX IF NOT EXISTS portal_session_sub ON portal_session (sub);
CREATE TABLE IF NOT EXISTS seen_logout_token (
    jti TEXT PRIMARY KEY,
    expires_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class SignedIn:
    """One person signed in to the portal: what Clef said at sign-in."""

    id: str
    sid: str | None
    sub: str
    id_token: str
    claims: dict[str, Any]
    userinfo: dict[str, Any]


class SessionStore:
    def __init__(self, path: Path, lifetime_seconds: float) -> None:
        self.path = path
        self.lifetime = lifetime_seconds
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Its sessions hold ID tokens: readable by the portal's user only.
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=10)
        try:
            with connection:  # one transaction, committed on success
                yield connection
        finally:
            connection.close()

    def start(self, id_token: str, claims: dict[str, Any], userinfo: dict[str, Any]) -> str:
        """A new session after a completed sign-in; returns its id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        with self._db() as db:
            db.execute(
                "INSERT INTO portal_session VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, claims.get("sid"), claims["sub"], id_token, json.dumps(claims),
                 json.dumps(userinfo), time.time() + self.lifetime),
            )
        return session_id

    def get(self, session_id: str | None) -> SignedIn | None:
        """The live session with this id, or None (never started, ended or expired)."""
        if not session_id:
            return None
        with self._db() as db:
            db.execute("DELETE FROM portal_session WHERE expires_at <= ?", (time.time(),))
            row = db.execute(
                "SELECT id, sid, sub, id_token, claims, userinfo FROM portal_session WHERE id = ?",
                (session_id,),
            ).fetchone()
        if row is None:
            return None
        return SignedIn(row[0], row[1], row[2], row[3], json.loads(row[4]), json.loads(row[5]))

    def end(self, session_id: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM portal_session WHERE id = ?", (session_id,))

    def end_for(self, sid: str | None, sub: str | None) -> int:
        """Back-channel logout (OpenID Connect Back-Channel Logout 1.0 §2.7): with a
        ``sid``, the sessions of that Clef session; with only a ``sub``, every session of
        that person. Returns how many ended."""
        with self._db() as db:
            if sid:
                cursor = db.execute("DELETE FROM portal_session WHERE sid = ?", (sid,))
            else:
                cursor = db.execute("DELETE FROM portal_session WHERE sub = ?", (sub,))
            return int(cursor.rowcount)

    def first_use_of(self, jti: str, expires_at: float) -> bool:
        """True the first time a logout token's ``jti`` is seen (replays are refused);
        it is remembered until the token would have expired anyway."""
        with self._db() as db:
            db.execute("DELETE FROM seen_logout_token WHERE expires_at <= ?", (time.time(),))
            cursor = db.execute(
                "INSERT OR IGNORE INTO seen_logout_token VALUES (?, ?)", (jti, expires_at))
            return bool(cursor.rowcount)
