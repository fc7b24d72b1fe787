"""``partners.leeway_seconds`` is the leeway the ID token checks use (OIDC Core
3.1.3.7): here 10 s, so a token 5 s past its ``exp`` (or 5 s ahead on ``iat``) passes
and one 15 s off is refused; the default 60 s would pass both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt

from idp.oidc.runtime import oidc
from idp.runtime import db
from partners.runtime import partner_services
from partners.upstream import BAD_TOKEN, PartnerError
from tests.partners.conftest import Partner, at_partner, path_of, start_trip
from tests.support.accounts import create_account

LEEWAY = 10


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(partners={"leeway_seconds": LEEWAY})


def _signed_by(partner: Partner, claims: dict[str, Any]) -> str:
    with partner.app.app_context():
        key = oidc().signing_keys.current(db(), "RS256", partner.app.extensions["clef"].clock.now())
        return jwt.encode({"alg": key.alg, "kid": key.kid}, claims, key.key, [key.alg])


@pytest.mark.parametrize(("exp_off", "iat_off", "accepted"), [
    (-5, 0, True), (-15, 0, False), (300, 5, True), (300, 15, False),
])
def test_j14_the_id_token_leeway_is_the_setting(app: Flask, bank: Partner, exp_off: int,
                                                iat_off: int, accepted: bool) -> None:
    create_account(bank.app, "bob")
    browser = app.test_client()  # a real round trip first: the partner's keys exist
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    now = int(app.extensions["clef"].clock.now().timestamp())
    with app.app_context():
        svc = partner_services()
        config = svc.partners.config(svc.partners.enabled(db())[0])
        token = _signed_by(bank, {"iss": bank.issuer, "aud": config.client_id, "sub": "s",
                                  "nonce": "n", "iat": now + iat_off, "exp": now + exp_off})
        if accepted:
            assert svc.upstream.validate_id_token(config, token, "n", now)["sub"] == "s"
        else:
            with pytest.raises(PartnerError) as refused:
                svc.upstream.validate_id_token(config, token, "n", now)
            assert refused.value.kind == BAD_TOKEN
