"""The sample portal's own security checks, below the browser: the logout token it
accepts from Clef (OpenID Connect Back-Channel Logout 1.0 §2.6) and the sessions a
logout ends. The full journey is in tests/browser/test_portal.py."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization, RSAKey

from examples.employer_portal import create_app
from examples.employer_portal.logout_token import (
    EVENT,
    InvalidLogoutToken,
    validate_logout_token,
)
from examples.employer_portal.sessions import SessionStore

ISSUER = "http://127.0.0.1:5000"
CLIENT = "portal-client-id"
LEEWAY = 10


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256"}, private=True)


SIGNER = _key("k1")
ROTATED = _key("k2")


def _published(*keys: RSAKey) -> KeySetSerialization:
    return KeySet(list(keys)).as_dict(private=False)


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": CLIENT, "iat": now, "exp": now + 120,
                              "jti": f"jti-{time.monotonic_ns()}", "events": {EVENT: {}},
                              "sub": "pairwise-sub", "sid": "session-1"}
    for name, value in changes.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return claims


def _token(claims: dict[str, Any], key: RSAKey = SIGNER, typ: str | None = "logout+jwt") -> str:
    header = {"alg": "RS256", "kid": key.kid}
    if typ:
        header["typ"] = typ
    return jwt.encode(header, claims, key)


def _validate(token: str, keys: list[KeySetSerialization] | None = None) -> dict[str, Any]:
    """Against Clef's published keys; ``keys`` are what successive fetches return."""
    fetches = list(keys or [_published(SIGNER)])

    def fetch(force: bool) -> KeySetSerialization:
        if force and len(fetches) > 1:
            fetches.pop(0)  # fetched again: what Clef publishes now
        return fetches[0]

    return validate_logout_token(token, fetch, issuer=ISSUER, client_id=CLIENT,
                                 algorithms=["RS256", "ES256"], leeway=LEEWAY)


def test_a_logout_token_from_clef_is_accepted() -> None:
    claims = _validate(_token(_claims()))
    assert claims["sid"] == "session-1" and claims["sub"] == "pairwise-sub"
    assert _validate(_token(_claims(sid=None)))["sub"] == "pairwise-sub"  # sub alone will do


def test_a_key_rotated_in_since_the_last_fetch_is_fetched_again_S42() -> None:
    token = _token(_claims(), key=ROTATED)
    claims = _validate(token, keys=[_published(SIGNER), _published(SIGNER, ROTATED)])
    assert claims["jti"]


@pytest.mark.parametrize("changes", [
    {"iss": "http://127.0.0.1:6666"},
    {"aud": "another-portal"},
    {"iss": None}, {"aud": None}, {"iat": None}, {"exp": None}, {"jti": None},
    {"events": None},
    {"events": {"http://schemas.openid.net/event/other": {}}},
    {"events": {EVENT: "not an object"}},
    {"sub": None, "sid": None},
    {"nonce": "n-0S6_WzA2Mj"},  # §2.4: a logout token never has a nonce (not an ID token)
    # Times are seconds from now, resolved when the test runs (not when it is collected,
    # which may be minutes earlier in a long suite).
    {"exp": ("now", -LEEWAY - 5)},
    {"iat": ("now", LEEWAY + 60)},
    {"iat": ("now", -3600), "exp": ("now", 60)},  # old, whatever exp says
], ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_a_logout_token_with_wrong_claims_is_refused(changes: dict[str, Any]) -> None:
    now = int(time.time())
    resolved = {k: now + v[1] if isinstance(v, tuple) and v[0] == "now" else v
                for k, v in changes.items()}
    with pytest.raises(InvalidLogoutToken):
        _validate(_token(_claims(**resolved)))


def test_a_token_signed_by_another_key_or_unsigned_or_of_another_type_is_refused() -> None:
    with pytest.raises(InvalidLogoutToken):  # a key Clef never published, even refetched
        _validate(_token(_claims(), key=_key("k1")))
    header, payload, _ = _token(_claims()).split(".")
    with pytest.raises(InvalidLogoutToken):  # signature stripped
        _validate(f"{header}.{payload}.")
    with pytest.raises(InvalidLogoutToken):  # an ID token is not a logout token
        _validate(_token(_claims(), typ="JWT"))
    with pytest.raises(InvalidLogoutToken):
        _validate("not a token")


def test_back_channel_logout_ends_the_sessions_of_that_sid_or_of_that_sub(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions.sqlite3", lifetime_seconds=3600)

    def start(sid: str | None, sub: str) -> str:
        return store.start("id.token.here", {"sub": sub, "sid": sid}, {"sub": sub})

    first, second = start("sid-1", "alice"), start("sid-2", "alice")
    other = start("sid-3", "bob")
    assert store.end_for("sid-1", "alice") == 1
    assert store.get(first) is None and store.get(second) is not None
    assert store.end_for(None, "alice") == 1  # no sid: every session of that person
    assert store.get(second) is None
    found = store.get(other)
    assert found is not None and found.sub == "bob" and found.claims["sid"] == "sid-3"


def test_a_logout_token_is_used_once_and_sessions_expire(tmp_path: Path) -> None:
    store = SessionStore(tmp_path / "sessions.sqlite3", lifetime_seconds=0)
    assert store.first_use_of("jti-1", time.time() + 60)
    assert not store.first_use_of("jti-1", time.time() + 60)
    assert store.get(store.start("t", {"sub": "s"}, {"sub": "s"})) is None  # lifetime 0


def test_when_clef_cannot_be_reached_the_portal_says_so_in_its_language(tmp_path: Path) -> None:
    """J5 for a portal: no stack trace, a page in the person's language."""
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    client_file = tmp_path / "client.json"
    client_file.write_text(json.dumps({"client_id": "c", "client_secret": "s"}), encoding="utf-8")
    app = create_app({"ISSUER": f"http://127.0.0.1:{closed}", "URL": "http://127.0.0.1:5001",
                      "CLIENT_FILE": str(client_file), "STORE": str(tmp_path / "s.sqlite3")})
    client = app.test_client()
    client.get("/language/fr?next=/")
    answer = client.get("/signin")
    assert answer.status_code == 503
    page = answer.get_data(as_text=True)
    assert '<html lang="fr">' in page
    assert "<h1>La connexion n&#39;a pas fonctionné</h1>" in page
    assert "Traceback" not in page
