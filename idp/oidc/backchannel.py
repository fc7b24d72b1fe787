"""Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a sign-in session
ends, by logout, idle or absolute timeout, revocation, an administrator or a password
reset, every portal it was used with is told, server to server.

The session store tells :func:`on_sessions_ended` in the transaction that ends the
sessions: the portals' tokens of those sessions are revoked and one delivery per portal
is queued in the database. :func:`deliver_due` sends what is due (``clef oidc worker``
runs it every few seconds); a portal that is down gets it later, after the waits of
``oidc.backchannel_retry_seconds``; each outcome is in the audit log.
"""

from __future__ import annotations

import http.client
import logging
import secrets
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta

from joserfc import jwt
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from idp import audit
from idp.clock import Clock
from idp.keys import KeyRing
from idp.oidc.clients import Clients
from idp.oidc.keys import SigningKeys
from idp.oidc.liveness import SID_KEY
from idp.oidc.models import LogoutDelivery, OAuthClient, PortalSession
from idp.oidc.subjects import session_id_for, subject_for
from idp.oidc.tokens import Tokens
from idp.sessions import ACCOUNT, EndedSession
from idp.settings import OidcSettings

log = logging.getLogger("clef.oidc.backchannel")
EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TOKEN_LIFETIME = timedelta(minutes=2)

# (uri, form body, timeout) -> None, raising OSError on any failure
Post = Callable[[str, bytes, float], None]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other that is not 2xx: a failure. urllib would
    follow it as a GET without the logout token, to wherever ``Location`` names (inside
    the operator's network too), and report that address's 200 as the delivery."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)
# What a portal's answer may raise besides OSError (urllib's errors among them): one
# that is not HTTP at all (http.client.HTTPException: a wrong port, a broken portal),
# or a malformed header value (ValueError). A failed delivery, retried on schedule.
DELIVERY_ERRORS = (OSError, http.client.HTTPException, ValueError)


def http_post(uri: str, body: bytes, timeout: float) -> None:
    """POST the form; a 2xx answer is success (§2.8), anything else raises."""
    request = urllib.request.Request(  # noqa: S310 - registered https (or loopback) URIs only
        uri, data=body, method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "Cache-Control": "no-store"},
    )
    with _OPENER.open(request, timeout=timeout) as response:
        if not 200 <= response.status < 300:
            raise OSError(f"HTTP {response.status}")


class Backchannel:
    """Given what it uses, not the app's whole container (issue 10)."""

    def __init__(self, *, issuer: str, settings: OidcSettings, clock: Clock, keys: KeyRing,
                 clients: Clients, tokens: Tokens, signing_keys: SigningKeys,
                 post: Post = http_post) -> None:
        self._issuer = issuer
        self._clock = clock
        self._keys = keys
        self._clients = clients
        self._tokens = tokens
        self._signing_keys = signing_keys
        self.post = post
        self._timeout = settings.backchannel_timeout_seconds
        self._retries = [timedelta(seconds=s) for s in settings.backchannel_retry_seconds]

    def on_sessions_ended(self, db: Session, ended: list[EndedSession], reason: str) -> None:
        """Listener of the session store (idp.sessions)."""
        now = self._clock.now()
        sids = [str(e.data[SID_KEY]) for e in ended if e.data.get(SID_KEY)]
        tokens = self._tokens
        tokens.revoke_for_sessions(db, sids, now)
        tokens.drop_codes_for_sessions(db, sids)  # D10: unexchanged codes die too
        if reason == ACCOUNT:
            for account_id in {e.account_id for e in ended if e.account_id is not None}:
                tokens.revoke_for_account(db, account_id, now)
                tokens.drop_codes_for_account(db, account_id)
        if not sids:
            return
        used = list(db.scalars(select(PortalSession).where(PortalSession.sid.in_(sids))))
        for portal in used:
            client = self._clients.get(db, portal.client_id)
            if client is None or not client.backchannel_logout_uri:
                continue
            db.add(LogoutDelivery(
                client_id=client.client_id, uri=client.backchannel_logout_uri,
                sub=subject_for(self._keys, client, portal.account_id),
                sid=session_id_for(self._keys, client, portal.sid),
                account_id=portal.account_id, reason=reason, created_at=now, attempts=0,
                next_attempt_at=now,
            ))
        db.execute(delete(PortalSession).where(PortalSession.sid.in_(sids)))

    def logout_token(self, db: Session, delivery: LogoutDelivery, client: OAuthClient,
                     now: datetime) -> str:
        """§2.4: iss, aud, iat, exp, jti, events, sub and sid; never a nonce."""
        key = self._signing_keys.current(db, client.id_token_alg, now)
        claims = {
            "iss": self._issuer, "aud": client.client_id,
            "iat": int(now.timestamp()),
            "exp": int((now + LOGOUT_TOKEN_LIFETIME).timestamp()),
            "jti": secrets.token_urlsafe(16), "events": {EVENT: {}},
            "sub": delivery.sub, "sid": delivery.sid,
        }
        header = {"alg": key.alg, "kid": key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, key.key, [key.alg])

    def deliver_due(self, db: Session, limit: int = 50) -> int:
        """Send every delivery that is due; returns how many reached their portal."""
        now = self._clock.now()
        due = list(db.scalars(
            select(LogoutDelivery)
            .where(LogoutDelivery.delivered_at.is_(None), LogoutDelivery.given_up_at.is_(None),
                   LogoutDelivery.next_attempt_at <= now)
            .order_by(LogoutDelivery.id).limit(limit)
        ))
        delivered = 0
        timeout = self._timeout
        for delivery in due:
            client = self._clients.get(db, delivery.client_id)
            if client is None:  # the portal was removed meanwhile
                delivery.given_up_at = now
                continue
            body = urllib.parse.urlencode(
                {"logout_token": self.logout_token(db, delivery, client, now)}).encode("ascii")
            delivery.attempts += 1
            try:
                self.post(delivery.uri, body, timeout)
            except DELIVERY_ERRORS as error:
                self._failed(db, delivery, now, error)
            else:
                delivery.delivered_at = now
                delivered += 1
                audit.record(db, now, audit.BACKCHANNEL_DELIVERED, actor=delivery.client_id,
                             account_id=delivery.account_id, reason=delivery.reason,
                             attempts=delivery.attempts)
            db.commit()
        return delivered

    def _failed(self, db: Session, delivery: LogoutDelivery, now: datetime,
                error: BaseException) -> None:
        delivery.last_error = str(error)[:255]
        details: dict[str, str | int | None] = {
            "reason": delivery.reason, "attempts": delivery.attempts, "error": delivery.last_error}
        if delivery.attempts > len(self._retries):
            delivery.given_up_at = now
            audit.record(db, now, audit.BACKCHANNEL_GIVEN_UP, actor=delivery.client_id,
                         account_id=delivery.account_id, outcome=details)
            log.warning("back-channel logout to %s given up after %d attempts",
                        delivery.client_id, delivery.attempts)
            return
        delivery.next_attempt_at = now + self._retries[delivery.attempts - 1]
        audit.record(db, now, audit.BACKCHANNEL_FAILED, actor=delivery.client_id,
                     account_id=delivery.account_id, outcome=details)
