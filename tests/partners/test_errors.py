"""J14's error paths: each lands on the bilingual error page ("try again", "use another
way to sign in"), is audited, signs nobody in, and never shows a stack trace."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from idp.models import Account
from idp.runtime import db
from partners.runtime import partner_services
from partners.upstream import BAD_TOKEN, PartnerError
from tests.partners.conftest import Partner, at_partner, path_of, start_trip
from tests.support.accounts import create_account
from tests.support.records import audit_events


def with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    params = {k: v[0] for k, v in parse_qs(parts.query).items()}
    params.update(changes)
    return parts._replace(query=urlencode(params)).geturl()


def assert_refused(app: Flask, response, reason: str, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:500]
    assert "Try again" in body and "Use another way to sign in" in body
    assert "Traceback" not in body
    events = audit_events(app, "partner:login:failure")
    assert events and events[-1].details["reason"] == reason
    with app.extensions["clef"].session_factory() as db:
        assert db.scalar(select(func.count()).select_from(Account)) == 0


def trip_back(app: Flask, bank: Partner, **tamper: str) -> tuple[FlaskClient, str]:
    create_account(bank.app, "bob")
    browser = app.test_client()
    authorize = start_trip(browser, bank)
    if tamper.get("nonce"):
        authorize = with_params(authorize, nonce=tamper.pop("nonce"))
    back = at_partner(bank, authorize, "bob")
    return browser, with_params(back, **tamper) if tamper else back


def test_j14_wrong_state_is_refused(app: Flask, bank: Partner) -> None:
    browser, back = trip_back(app, bank, state="forged")
    assert_refused(app, browser.get(path_of(back)), "bad_response")


def test_j14_a_response_in_another_browser_is_refused(app: Flask, bank: Partner) -> None:
    """The trip is bound to the browser session that started it (login CSRF)."""
    _, back = trip_back(app, bank)
    assert_refused(app, app.test_client().get(path_of(back)), "bad_response")


def test_j14_a_replayed_response_is_refused(app: Flask, bank: Partner) -> None:
    browser, back = trip_back(app, bank)
    assert browser.get(path_of(back)).status_code == 303
    second = browser.get(path_of(back))  # the same browser: the trip was used once
    assert second.status_code == 400
    assert "Try again" in second.get_data(as_text=True)


def test_j14_wrong_iss_is_refused(app: Flask, bank: Partner) -> None:
    """RFC 9207: a response naming another issuer is a mix-up."""
    browser, back = trip_back(app, bank, iss="https://evil.example")
    assert_refused(app, browser.get(path_of(back)), "bad_response")


def test_j14_wrong_nonce_is_refused(app: Flask, bank: Partner) -> None:
    browser, back = trip_back(app, bank, nonce="injected-nonce")
    assert_refused(app, browser.get(path_of(back)), BAD_TOKEN)


def test_j14_expired_id_token_is_refused(app: Flask, slow_bank: Partner) -> None:
    browser, back = trip_back(app, slow_bank)
    assert_refused(app, browser.get(path_of(back)), BAD_TOKEN)


def test_j14_partner_down_is_refused(app: Flask, bank: Partner) -> None:
    browser, back = trip_back(app, bank)
    bank.stop()
    assert_refused(app, browser.get(path_of(back)), "unreachable", status=502)


def test_j14_the_error_page_speaks_french(app: Flask, bank: Partner) -> None:
    browser, back = trip_back(app, bank, state="forged")
    browser.get("/language/fr")
    body = browser.get(path_of(back)).get_data(as_text=True)
    assert "Réessayer" in body and "Utiliser une autre façon de se connecter" in body


def test_j14_badly_signed_id_token_is_refused(app: Flask, bank: Partner) -> None:
    """A token signed by a stranger's key under the partner's real kid fails the
    signature check; one under an unknown kid makes the broker fetch the key set again
    (a rotation), then fails too."""
    browser, back = trip_back(app, bank)
    assert browser.get(path_of(back)).status_code == 303  # discovery and keys now cached
    real_kid = bank.app.test_client().get("/jwks").get_json()["keys"][0]["kid"]
    with app.app_context():
        svc = partner_services()
        config = svc.partners.config(svc.partners.enabled(db())[0])
        now = int(app.extensions["clef"].clock.now().timestamp())
        claims = {"iss": bank.issuer, "aud": config.client_id, "sub": "x", "nonce": "n",
                  "iat": now, "exp": now + 300}
        for kid in (real_kid, "unknown-kid"):
            stranger = RSAKey.generate_key(2048, parameters={"kid": kid})
            forged = jwt.encode({"alg": "RS256", "kid": kid}, claims, stranger)
            with pytest.raises(PartnerError) as refused:
                svc.upstream.validate_id_token(config, forged, "n", now)
            assert refused.value.kind == BAD_TOKEN
