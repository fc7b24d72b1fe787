"""A first visit writes nothing (D15): what a visitor's session holds before anything
else is stored, carried in its cookie, signed.

A page with a form gives an anonymous visitor a form token (Flask-WTF's raw CSRF token)
and, on the way to a portal, the sign-in page remembers ``next`` (S26). Both used to be
kept in a ``sessions`` row, inserted and committed by the first GET: any client that
sent no cookie, a bot included, made the database write a row per request, and every
sign-in flow paid that write (issue 11). Those two values are the visitor's own and
worth nothing to anyone else, and a stale copy of them grants nothing, so they travel in
the cookie instead, under an HMAC of a key of their own (the signed double-submit token
of OWASP's CSRF cheat sheet): the cookie cannot be forged or altered, a form token made
for one visitor's cookie is refused with another's, and a cookie older than the idle
timeout (D5) opens nothing, as an idle anonymous row would have expired.

Anything else a visitor's session comes to hold (a recovery step's token, a passkey
challenge, a portal's "sign in again" marker, a partner's state) is kept in a row as
before, the moment it is stored: state that a replayed older cookie could roll back
never travels here. Signing in always moves to a new server-side token (S20), so a
visitor cookie planted in someone's browser is worth no more than a row's token was.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from itsdangerous import BadData, URLSafeTimedSerializer

from idp.clock import Clock, timestamp_signer
from idp.keys import KeyRing

PREFIX = "v."  # never the start of a row's token (``secrets.token_urlsafe``: no ".")
KEY_PURPOSE = "session.visitor"
# A cookie's name and value stay well under the 4,096 bytes browsers keep; a longer
# ``next`` (a portal's request with a long query) gets a row, as before.
MAX_VALUE = 3000


class VisitorCookies:
    """Seals and opens the cookie of a visitor with no session row."""

    def __init__(self, keys: KeyRing, clock: Clock, idle: timedelta,
                 renew_after: timedelta) -> None:
        self._serializer = URLSafeTimedSerializer(
            keys.derive(KEY_PURPOSE), salt=KEY_PURPOSE, signer=timestamp_signer(clock),
            signer_kwargs={"digest_method": hashlib.sha256})
        self._clock = clock
        self._max_age = int(idle.total_seconds())
        self._renew_after = renew_after.total_seconds()

    def seal(self, data: dict[str, str]) -> str | None:
        """The cookie's value for ``data`` (text values; the caller decides which keys
        may travel), or None when it would be too long for a cookie."""
        value = PREFIX + self._serializer.dumps(data)
        return value if len(value) <= MAX_VALUE else None

    def open(self, value: str) -> tuple[dict[str, str], bool] | None:
        """What a live visitor cookie holds, and whether it is due to be sealed again
        (older than ``renew_after``: the idle clock restarts with activity, D5, as a
        row's ``last_seen_at`` does). None for a forged, altered, expired or otherwise
        unreadable value: then the request is a new visitor's."""
        if len(value) > MAX_VALUE:
            return None
        try:
            data, signed_at = self._serializer.loads(
                value[len(PREFIX):], max_age=self._max_age, return_timestamp=True)
        except BadData:  # forged, altered, expired (SignatureExpired) or not JSON
            return None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            return None
        age = (self._clock.now() - signed_at).total_seconds()
        return data, age >= self._renew_after
