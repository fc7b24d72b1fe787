"""The ``[partners]`` settings: typed, with safe defaults, and bounds checked at start
(a ConfigError naming the setting) so a typo cannot switch a check off or hang sign-in."""

from __future__ import annotations

import pytest

from idp.settings import ConfigError, load_settings


def test_partner_settings_have_safe_defaults() -> None:
    partners = load_settings(environ={}).partners
    assert partners.leeway_seconds == 60
    assert partners.timeout_seconds == 5
    assert partners.discovery_lifetime_seconds == 3600
    assert partners.jwks_refetch_floor_seconds == 60
    assert partners.logout_iat_window_seconds == 300


@pytest.mark.parametrize(("name", "bad", "good"), [
    ("leeway_seconds", 301, 300),
    ("leeway_seconds", -1, 0),
    ("timeout_seconds", 0, 1),
    ("timeout_seconds", 31, 30),
    ("discovery_lifetime_seconds", 59, 60),
    ("discovery_lifetime_seconds", 86401, 86400),
    ("jwks_refetch_floor_seconds", 0, 1),
    ("jwks_refetch_floor_seconds", 3601, 3600),
    ("logout_iat_window_seconds", 29, 30),
    ("logout_iat_window_seconds", 3601, 3600),
])
def test_partner_settings_out_of_bounds_stop_clef_at_start(name: str, bad: int, good: int) -> None:
    with pytest.raises(ConfigError, match=rf"partners\.{name}"):
        load_settings({"partners": {name: bad}}, environ={})
    assert getattr(load_settings({"partners": {name: good}}, environ={}).partners, name) == good


def test_partner_settings_are_typed() -> None:
    with pytest.raises(ConfigError, match="timeout_seconds"):
        load_settings(environ={"IDP_PARTNERS__TIMEOUT_SECONDS": "soon"})
    assert load_settings(environ={"IDP_PARTNERS__LEEWAY_SECONDS": "30"}).partners.leeway_seconds == 30


def test_the_logout_iat_window_is_typed_and_read_from_the_environment() -> None:
    with pytest.raises(ConfigError, match="logout_iat_window_seconds"):
        load_settings(environ={"IDP_PARTNERS__LOGOUT_IAT_WINDOW_SECONDS": "5 minutes"})
    window = load_settings(environ={"IDP_PARTNERS__LOGOUT_IAT_WINDOW_SECONDS": "120"})
    assert window.partners.logout_iat_window_seconds == 120
