"""How often Clef asks a partner for its discovery document and key set: the document
is kept for ``partners.discovery_lifetime_seconds`` and then fetched again; the key set
is fetched again for an unknown ``kid`` (a rotation), but at most once per
``partners.jwks_refetch_floor_seconds``, so an attacker sending tokens with made-up
``kid`` values cannot make Clef fetch the partner's JWKS on every request."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey

import partners.upstream as upstream_module
from idp.clock import FrozenClock
from idp.runtime import db
from partners.runtime import partner_services
from partners.upstream import BAD_TOKEN, PartnerError
from tests.partners.conftest import Partner, at_partner, path_of, start_trip
from tests.support.accounts import create_account
from tests.support.app import run_cli


@pytest.fixture
def fetched(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The path of every URL the broker fetched from a partner."""
    seen: list[str] = []
    real: Callable[..., dict[str, Any]] = upstream_module._fetch_json

    def counting(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(url.rsplit("/", 1)[-1])
        return real(url, *args, **kwargs)

    monkeypatch.setattr(upstream_module, "_fetch_json", counting)
    return seen


def test_j14_discovery_is_fetched_again_after_its_lifetime(
        app: Flask, bank: Partner, clock: FrozenClock, fetched: list[str]) -> None:
    lifetime = app.extensions["clef"].settings.partners.discovery_lifetime_seconds
    with app.app_context():
        upstream = partner_services().upstream
        for _ in range(3):
            assert upstream.metadata(bank.issuer)["issuer"] == bank.issuer
        assert fetched == ["openid-configuration"]
        clock.advance(seconds=lifetime - 1)
        upstream.metadata(bank.issuer)
        assert fetched == ["openid-configuration"]
        clock.advance(seconds=1)
        upstream.metadata(bank.issuer)
        upstream.metadata(bank.issuer)
        assert fetched == ["openid-configuration"] * 2


def _random_kid_token(issuer: str, client_id: str, now: int) -> str:
    kid = secrets.token_hex(8)
    stranger = RSAKey.generate_key(2048, parameters={"kid": kid})
    claims = {"iss": issuer, "aud": client_id, "sub": "x", "nonce": "n", "iat": now,
              "exp": now + 300}
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, stranger)


def test_j14_random_kids_cannot_make_clef_fetch_the_jwks_on_every_request(
        app: Flask, bank: Partner, clock: FrozenClock, fetched: list[str]) -> None:
    floor = app.extensions["clef"].settings.partners.jwks_refetch_floor_seconds
    create_account(bank.app, "bob")  # a real sign-in first: the partner's keys are cached
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    assert fetched.count("jwks") == 1
    with app.app_context():
        svc = partner_services()
        config = svc.partners.config(svc.partners.enabled(db())[0])

        def attack(times: int) -> None:
            for _ in range(times):
                now = int(clock.now().timestamp())
                with pytest.raises(PartnerError) as refused:
                    svc.upstream.validate_id_token(
                        config, _random_kid_token(bank.issuer, config.client_id, now), "n", now)
                assert refused.value.kind == BAD_TOKEN

        attack(5)  # within the floor of the sign-in's fetch: no fetch at all
        assert fetched.count("jwks") == 1
        clock.advance(seconds=floor - 1)
        attack(3)
        assert fetched.count("jwks") == 1
        clock.advance(seconds=1)
        attack(5)  # past the floor: one more fetch (it might be a rotation), no more
        assert fetched.count("jwks") == 2


def test_j14_a_rotated_partner_key_is_picked_up(
        app: Flask, bank: Partner, clock: FrozenClock, fetched: list[str]) -> None:
    """The floor does not stop a real rotation: once the partner signs with its next
    key, the broker fetches the key set again and the sign-in goes through."""
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    assert fetched.count("jwks") == 1
    old_kids = {k["kid"] for k in bank.app.test_client().get("/jwks").get_json()["keys"]}
    assert run_cli(bank.app, "keys", "rotate").exit_code == 0
    lead = bank.app.extensions["clef"].settings.oidc.key_publish_lead_minutes
    clock.advance(minutes=lead + 1)
    again = app.test_client()
    landed = again.get(path_of(at_partner(bank, start_trip(again, bank), "bob")))
    assert landed.status_code == 303, landed.get_data(as_text=True)[:300]
    new_kids = {k["kid"] for k in bank.app.test_client().get("/jwks").get_json()["keys"]}
    assert new_kids - old_kids
    assert fetched.count("jwks") == 2


def test_j14_a_failing_refetch_also_waits_for_the_floor(
        app: Flask, bank: Partner, clock: FrozenClock, fetched: list[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The partner's key set cannot be fetched (down, or answering junk): tokens with
    made-up kids still make at most one attempt per floor, not one each."""
    create_account(bank.app, "bob")
    browser = app.test_client()
    assert browser.get(path_of(at_partner(bank, start_trip(browser, bank), "bob"))).status_code == 303
    floor = app.extensions["clef"].settings.partners.jwks_refetch_floor_seconds
    clock.advance(seconds=floor)
    counting = upstream_module._fetch_json

    def failing(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if url.endswith("jwks"):
            counting(url, *args, **kwargs)  # counted, then lost
            raise PartnerError(upstream_module.UNREACHABLE, "partner down")
        return counting(url, *args, **kwargs)

    monkeypatch.setattr(upstream_module, "_fetch_json", failing)
    with app.app_context():
        svc = partner_services()
        config = svc.partners.config(svc.partners.enabled(db())[0])
        for _ in range(5):
            now = int(clock.now().timestamp())
            with pytest.raises(PartnerError):
                svc.upstream.validate_id_token(
                    config, _random_kid_token(bank.issuer, config.client_id, now), "n", now)
    assert fetched.count("jwks") == 2  # the sign-in's, then one failed attempt
